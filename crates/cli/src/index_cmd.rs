//! `neonhub index ...`: the managed vector indexes of an organization's embedding spaces.

use clap::{Args, Subcommand, ValueEnum};
use neonhub_identity::{IdentityError, Organization};
use neonhub_rag::{
    BuildProgress, Distance, EmbeddingSpace, IndexManager, IndexMethod, IndexSpec, IndexStorage,
    RagError, VectorTable,
};
use neonhub_schema::ids::EmbeddingSpaceId;
use neonhub_schema::{DatabaseUrl, TenantScope};

use crate::CliError;

/// `neonhub index` subcommands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// List the managed vector indexes (INVALID leftovers included).
    List {
        /// Organization slug.
        #[arg(long, default_value = "primary")]
        org: String,
        /// Only this space (id or name).
        #[arg(long)]
        space: Option<String>,
    },
    /// Build an index (no-op when a valid one exists; an INVALID leftover is rebuilt).
    Create(Target),
    /// Drop an index.
    Drop(Target),
    /// Rebuild an index (REINDEX CONCURRENTLY), or build it when missing or INVALID.
    Rebuild(Target),
}

/// Which index.
#[derive(Debug, Args)]
pub struct Target {
    /// Organization slug.
    #[arg(long, default_value = "primary")]
    pub org: String,
    /// The embedding space (id or name).
    #[arg(long)]
    pub space: String,
    /// The vector table.
    #[arg(long, value_enum, default_value = "chunks")]
    pub table: TableArg,
    /// The distance the index serves.
    #[arg(long, value_enum, default_value = "cosine")]
    pub distance: DistanceArg,
    /// HNSW (default) or IVFFlat.
    #[arg(long, value_enum, default_value = "hnsw")]
    pub method: MethodArg,
    /// HNSW: connections per layer.
    #[arg(long, default_value_t = 16)]
    pub m: u32,
    /// HNSW: candidate list size while building.
    #[arg(long, default_value_t = 128)]
    pub ef_construction: u32,
    /// IVFFlat: lists (default: from the row count).
    #[arg(long)]
    pub lists: Option<u32>,
    /// How the index stores vectors: full precision, halfvec (half the element size), or
    /// binary (one bit per dimension; searches re-rank on the full vectors).
    #[arg(long, value_enum, default_value = "full")]
    pub storage: StorageArg,
    /// maintenance_work_mem for the build.
    #[arg(long, default_value = "1GB")]
    pub maintenance_work_mem: String,
}

/// A vector table.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TableArg {
    /// chunks
    Chunks,
    /// messages
    Messages,
    /// brand_voices
    BrandVoices,
    /// mem_embeddings
    MemEmbeddings,
}

/// A distance.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DistanceArg {
    /// cosine distance
    Cosine,
    /// Euclidean distance
    L2,
    /// inner product
    Ip,
}

/// An index method.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// HNSW
    Hnsw,
    /// IVFFlat
    Ivfflat,
}

/// An index storage.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StorageArg {
    /// vector (halfvec from 2001 to 4000 dimensions)
    Full,
    /// halfvec, up to 4000 dimensions
    Half,
    /// binary quantization, any dimension
    Binary,
}

impl Target {
    fn spec(&self) -> IndexSpec {
        IndexSpec {
            table: match self.table {
                TableArg::Chunks => VectorTable::Chunks,
                TableArg::Messages => VectorTable::Messages,
                TableArg::BrandVoices => VectorTable::BrandVoices,
                TableArg::MemEmbeddings => VectorTable::MemEmbeddings,
            },
            distance: match self.distance {
                DistanceArg::Cosine => Distance::Cosine,
                DistanceArg::L2 => Distance::L2,
                DistanceArg::Ip => Distance::InnerProduct,
            },
            method: match self.method {
                MethodArg::Hnsw => IndexMethod::Hnsw {
                    m: self.m,
                    ef_construction: self.ef_construction,
                },
                MethodArg::Ivfflat => IndexMethod::IvfFlat { lists: self.lists },
            },
            storage: match self.storage {
                StorageArg::Full => IndexStorage::Full,
                StorageArg::Half => IndexStorage::Half,
                StorageArg::Binary => IndexStorage::Binary,
            },
        }
    }
}

/// The scope of the organization with `slug` (the CLI is trusted system code).
async fn scope_of(url: &DatabaseUrl, slug: &str) -> Result<TenantScope, CliError> {
    let mut conn = url.connect().await?;
    match Organization::id_for_slug(&mut conn, slug).await {
        Ok(id) => Ok(TenantScope::trusted_system(id)),
        Err(IdentityError::NotFound { .. }) => Err(CliError::Usage(format!(
            "no organization with slug {slug:?}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A space given by id or by name.
async fn space_of(
    url: &DatabaseUrl,
    scope: &TenantScope,
    given: &str,
) -> Result<EmbeddingSpaceId, CliError> {
    let mut conn = url.connect().await?;
    let id = EmbeddingSpaceId::from_string(given);
    match EmbeddingSpace::get(&mut conn, scope, &id).await {
        Ok(space) => return Ok(space.id),
        Err(RagError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    EmbeddingSpace::by_name(&mut conn, scope, given)
        .await?
        .map(|space| space.id)
        .ok_or_else(|| {
            CliError::Usage(format!("no embedding space {given:?} in this organization"))
        })
}

fn report(name: &str) -> impl FnMut(BuildProgress) + '_ {
    move |p| {
        crate::err!(
            "building {name}: {} (blocks {}/{}, tuples {}/{})",
            p.phase,
            p.blocks_done,
            p.blocks_total,
            p.tuples_done,
            p.tuples_total
        )
    }
}

/// Runs an index subcommand against the direct URL.
pub async fn run(direct: &DatabaseUrl, command: &IndexCommand) -> Result<(), CliError> {
    match command {
        IndexCommand::List { org, space } => {
            let scope = scope_of(direct, org).await?;
            let space = match space {
                Some(s) => Some(space_of(direct, &scope, s).await?),
                None => None,
            };
            let indexes = IndexManager::new(direct.clone())
                .list(&scope, space.as_ref())
                .await?;
            for i in &indexes {
                let state = if i.valid {
                    "valid"
                } else {
                    "INVALID (run `neonhub index rebuild`)"
                };
                crate::out!(
                    "{}  {}  space {}  {} bytes  {state}",
                    i.name,
                    i.table.name(),
                    i.space_id,
                    i.size_bytes
                );
            }
            crate::out!("{} managed vector index(es)", indexes.len());
        }
        IndexCommand::Create(target)
        | IndexCommand::Rebuild(target)
        | IndexCommand::Drop(target) => {
            let scope = scope_of(direct, &target.org).await?;
            let space = space_of(direct, &scope, &target.space).await?;
            let spec = target.spec();
            let name = IndexManager::index_name(&space, &spec);
            let manager = IndexManager::new(direct.clone())
                .with_maintenance_work_mem(&target.maintenance_work_mem);
            match command {
                IndexCommand::Create(_) => {
                    let outcome = manager.create(&scope, &space, &spec, report(&name)).await?;
                    crate::out!(
                        "{name}: {}",
                        serde_json::to_value(outcome)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or_default()
                    );
                }
                IndexCommand::Rebuild(_) => {
                    manager
                        .rebuild(&scope, &space, &spec, report(&name))
                        .await?;
                    crate::out!("{name}: rebuilt");
                }
                _ => {
                    let existed = manager.drop(&scope, &space, &spec).await?;
                    crate::out!(
                        "{name}: {}",
                        if existed { "dropped" } else { "did not exist" }
                    );
                }
            }
        }
    }
    Ok(())
}
