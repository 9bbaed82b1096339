//! Bulk ingest of chunks: thousands per call, all or nothing.
//!
//! [`Chunk::insert_many`] is the main path: one `INSERT ... SELECT FROM unnest(...)` in
//! the scope's transaction. [`Chunk::copy_in`] streams binary COPY for the largest loads
//! on a tokio-postgres client the caller owns (diesel-async does not expose COPY), in a
//! transaction of its own that checks tenant, parents and vectors inside it. Every row is validated before anything is written, and an error names the row's
//! position in the batch.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::{ExpressionMethods, QueryDsl};
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Text, Timestamp};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use neonhub_schema::Vector;
use neonhub_schema::ids::{ChunkId, DatasetId, DocumentId, EmbeddingSpaceId};
use neonhub_schema::keys;
use neonhub_schema::schema::documents;
use neonhub_schema::{InvalidData, TenantScope, time};
use serde_json::Value;

use crate::{Chunk, Dataset, EmbeddingSpace, RagError, validate_vector};

/// One chunk of a bulk ingest (its dataset and space are the batch's).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRow {
    /// Its document (in the organization and in the batch's dataset).
    pub document_id: DocumentId,
    /// Position in the dataset (unique there); `None` appends: the batch's unnumbered rows
    /// get consecutive positions after every chunk of the dataset and every position the
    /// batch names, allocated under the dataset's row lock.
    pub idx: Option<i32>,
    /// The chunk's text.
    pub text: String,
    /// Embedding, checked against the space.
    pub embedding: Option<Vector>,
    /// Free-form JSON the application keeps with the row.
    pub metadata: Option<Value>,
}

/// Where a batch goes: a dataset and the space its vectors live in.
#[derive(Debug, Clone, Copy)]
pub struct IngestTarget<'a> {
    /// The dataset.
    pub dataset: &'a DatasetId,
    /// The embedding space.
    pub space: &'a EmbeddingSpaceId,
}

#[derive(QueryableByName)]
struct Idx {
    #[diesel(sql_type = Integer)]
    idx: i32,
}

/// The columns `copy_in` writes, in the binary COPY's order.
const CHUNK_COLUMNS: &str = r#"id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, metadata, "createdAt""#;

/// One `INSERT ... SELECT FROM unnest(...)` of `rows` into `target`.
async fn unnest_insert(
    tx: &mut AsyncPgConnection,
    target: IngestTarget<'_>,
    rows: &[ChunkRow],
    idxs: &[i32],
) -> diesel::QueryResult<usize> {
    let ids: Vec<String> = rows
        .iter()
        .map(|_| ChunkId::generate().into_string())
        .collect();
    let docs: Vec<&str> = rows.iter().map(|r| r.document_id.as_str()).collect();
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let vectors: Vec<Option<&Vector>> = rows.iter().map(|r| r.embedding.as_ref()).collect();
    let metadata: Vec<Option<&Value>> = rows.iter().map(|r| r.metadata.as_ref()).collect();
    sql_query(
        r#"INSERT INTO chunks (id, "datasetId", "documentId", "embeddingSpaceId", idx, text, embedding, metadata, "createdAt")
           SELECT u.id, $7, u.doc, $8, u.idx, u.text, u.embedding, u.metadata, $9
           FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::vector[], $6::jsonb[])
                AS u(id, doc, idx, text, embedding, metadata)"#,
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<Text>, _>(&docs)
    .bind::<Array<Integer>, _>(idxs)
    .bind::<Array<Text>, _>(&texts)
    .bind::<Array<Nullable<neonhub_schema::vector::sql_types::Vector>>, _>(&vectors)
    .bind::<Array<Nullable<Jsonb>>, _>(&metadata)
    .bind::<Text, _>(target.dataset.as_str())
    .bind::<Text, _>(target.space.as_str())
    .bind::<Timestamp, _>(time::now())
    .execute(tx)
    .await
}

/// The server refused the batch without saying which row (an UNNEST insert is one
/// statement): halves the batch, inserting each half in a savepoint that is always rolled
/// back, until one row is left; the error then names it. Only on the error path, in about
/// log2(rows) statements.
async fn locate_refused_row(
    tx: &mut AsyncPgConnection,
    target: IngestTarget<'_>,
    rows: &[ChunkRow],
    idxs: &[i32],
    refused: diesel::result::Error,
) -> RagError {
    let (mut lo, mut hi) = (0, rows.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let probe: Result<(), Option<diesel::result::Error>> = tx
            .transaction(async |sp| {
                match unnest_insert(sp, target, &rows[lo..mid], &idxs[lo..mid]).await {
                    // Roll the probe back whatever happened.
                    Ok(_) => Err(None),
                    Err(e) => Err(Some(e)),
                }
            })
            .await;
        match probe {
            Err(Some(diesel::result::Error::DatabaseError(..))) => hi = mid,
            Err(None) => lo = mid,
            // The connection failed while probing: report the original refusal.
            _ => return refused.into(),
        }
    }
    at(lo, refused.into())
}

/// The COPY connection's failure with the server's own message, and, when the server says
/// which line of the COPY it refused (`COPY chunks, line 999, ...`), the batch position.
fn copy_failed(e: tokio_postgres::Error) -> RagError {
    let Some(db) = e.as_db_error() else {
        return RagError::Copy(e);
    };
    let mut message = db.message().to_owned();
    if let Some(detail) = db.detail() {
        message = format!("{message} ({detail})");
    }
    // The COPY's own context line (`COPY chunks, line 501, ...`), not a trigger function's
    // (`PL/pgSQL function ... line 3 at assignment`) listed before it.
    let line = db.where_().and_then(|context| {
        let copy = context.lines().find(|l| l.starts_with("COPY "))?;
        let after = copy.split(", line ").nth(1)?;
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<usize>().ok()
    });
    let refused = RagError::CopyRefused { message };
    match line {
        // COPY counts lines from 1; the batch from 0.
        Some(line) if line > 0 => at(line - 1, refused),
        _ => refused,
    }
}

fn at(position: usize, error: RagError) -> RagError {
    RagError::BatchRow {
        position,
        source: Box::new(error),
    }
}

/// Everything about a batch that needs no database: vectors, NUL bytes (which the server
/// would refuse without naming the row), and indexes repeated in it.
fn check_rows(rows: &[ChunkRow], dataset: &DatasetId, dimension: i32) -> Result<(), RagError> {
    let mut seen = HashSet::with_capacity(rows.len());
    for (position, row) in rows.iter().enumerate() {
        if let Some(v) = &row.embedding {
            validate_vector(v, dimension).map_err(|e| at(position, e))?;
        }
        InvalidData::check_text("text", &row.text).map_err(|e| at(position, e.into()))?;
        if let Some(metadata) = &row.metadata {
            InvalidData::check_json("metadata", metadata).map_err(|e| at(position, e.into()))?;
        }
        if let Some(idx) = row.idx
            && !seen.insert(idx)
        {
            return Err(at(
                position,
                RagError::DuplicateChunkIndex {
                    dataset: dataset.to_string(),
                    idx,
                },
            ));
        }
    }
    Ok(())
}

/// The parents: dataset and space in the scope and agreeing; returns the space's dimension.
async fn check_target(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    target: IngestTarget<'_>,
) -> Result<i32, RagError> {
    let dataset = Dataset::parent(tx, scope, target.dataset).await?;
    let space = EmbeddingSpace::parent(tx, scope, target.space).await?;
    if let Some(dataset_space) = dataset
        .embedding_space_id
        .as_ref()
        .filter(|s| *s != target.space)
    {
        return Err(RagError::SpaceMismatch {
            space: space.id.to_string(),
            dataset: dataset.id.to_string(),
            dataset_space: dataset_space.to_string(),
        });
    }
    Ok(space.dimension)
}

/// Documents and indexes against the database, in the writing transaction.
async fn check_against_database(
    tx: &mut AsyncPgConnection,
    scope: &TenantScope,
    target: IngestTarget<'_>,
    rows: &[ChunkRow],
) -> Result<(), RagError> {
    let wanted: Vec<&DocumentId> = rows
        .iter()
        .map(|r| &r.document_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let found: HashMap<DocumentId, Option<DatasetId>> = documents::table
        .filter(documents::id.eq_any(&wanted))
        .filter(documents::organizationId.eq(scope.organization_id()))
        .select((documents::id, documents::datasetId))
        .load::<(DocumentId, Option<DatasetId>)>(tx)
        .await?
        .into_iter()
        .collect();
    for (position, row) in rows.iter().enumerate() {
        match found.get(&row.document_id) {
            None => {
                return Err(at(
                    position,
                    RagError::ForeignParent {
                        entity: "document",
                        id: row.document_id.to_string(),
                    },
                ));
            }
            Some(Some(other)) if other != target.dataset => {
                return Err(at(
                    position,
                    RagError::DocumentNotInDataset {
                        document: row.document_id.to_string(),
                        document_dataset: other.to_string(),
                        dataset: target.dataset.to_string(),
                    },
                ));
            }
            Some(_) => {}
        }
    }
    let idxs: Vec<i32> = rows.iter().filter_map(|r| r.idx).collect();
    let taken: Vec<Idx> =
        sql_query(r#"SELECT idx FROM chunks WHERE "datasetId" = $1 AND idx = ANY($2)"#)
            .bind::<Text, _>(target.dataset.as_str())
            .bind::<Array<Integer>, _>(&idxs)
            .load(tx)
            .await?;
    if let Some(taken) = <[Idx]>::first(&taken) {
        let position = rows
            .iter()
            .position(|r| r.idx == Some(taken.idx))
            .unwrap_or_default();
        return Err(at(
            position,
            RagError::DuplicateChunkIndex {
                dataset: target.dataset.to_string(),
                idx: taken.idx,
            },
        ));
    }
    Ok(())
}

/// Locks the dataset's row and returns the first position after every chunk in it.
///
/// `FOR NO KEY UPDATE` serializes appenders of one dataset until they commit, and leaves
/// chunk inserts' foreign-key checks (`FOR KEY SHARE`) unblocked. The maximum is read by a
/// second statement, after the lock is held: in READ COMMITTED that statement's snapshot
/// sees every chunk a previous holder committed (one statement would not).
pub(crate) async fn next_idx(
    tx: &mut AsyncPgConnection,
    dataset: &DatasetId,
) -> Result<i32, RagError> {
    use neonhub_schema::schema::{chunks, datasets};
    datasets::table
        .find(dataset)
        .select(datasets::id)
        .for_no_key_update()
        .get_result::<DatasetId>(tx)
        .await?;
    let max: Option<i32> = chunks::table
        .filter(chunks::datasetId.eq(dataset))
        .select(diesel::dsl::max(chunks::idx))
        .get_result(tx)
        .await?;
    position_after(max, dataset)
}

/// The first position after `max` (the dataset's largest, `None` when it has no chunk).
fn position_after(max: Option<i32>, dataset: &DatasetId) -> Result<i32, RagError> {
    max.map_or(Ok(0), |m| {
        m.checked_add(1).ok_or_else(|| {
            InvalidData::OutOfRange(format!("dataset {dataset} has no chunk position after {m}"))
                .into()
        })
    })
}

/// Every row's position: its own, or for unnumbered rows consecutive ones from `next`
/// (the dataset's first free position), past every position the batch names itself.
fn resolve_idxs(rows: &[ChunkRow], next: Option<i32>) -> Result<Vec<i32>, RagError> {
    let Some(next) = next else {
        return Ok(rows.iter().map(|r| r.idx.unwrap_or_default()).collect());
    };
    let named = rows.iter().filter_map(|r| r.idx).max();
    let mut free = i64::from(named.map_or(next, |m| next.max(m.saturating_add(1))));
    rows.iter()
        .map(|r| match r.idx {
            Some(idx) => Ok(idx),
            None => {
                let idx = i32::try_from(free).map_err(|_| {
                    RagError::from(InvalidData::OutOfRange(
                        "the batch runs past the largest chunk position".to_owned(),
                    ))
                })?;
                free += 1;
                Ok(idx)
            }
        })
        .collect()
}

impl Chunk {
    /// Inserts `rows` into `target` in one statement (`INSERT ... SELECT FROM unnest`), in
    /// the scope's transaction (a savepoint inside the caller's). All or nothing; returns
    /// the number of rows written.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "insert_many"))]
    pub async fn insert_many(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        target: IngestTarget<'_>,
        rows: &[ChunkRow],
    ) -> Result<usize, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        if rows.is_empty() {
            return Ok(0);
        }
        scope
            .transaction(conn, async |tx| {
                let dimension = check_target(tx, scope, target).await?;
                check_rows(rows, target.dataset, dimension)?;
                check_against_database(tx, scope, target, rows).await?;
                let next = if rows.iter().any(|r| r.idx.is_none()) {
                    Some(next_idx(tx, target.dataset).await?)
                } else {
                    None
                };
                let idxs = resolve_idxs(rows, next)?;
                // In a savepoint of its own, so that when the server refuses a row the
                // transaction is still usable to find which one.
                let written = tx
                    .transaction(async |sp| unnest_insert(sp, target, rows, &idxs).await)
                    .await;
                let written = match written {
                    Err(e @ diesel::result::Error::DatabaseError(..)) => {
                        return Err(locate_refused_row(tx, target, rows, &idxs, e).await);
                    }
                    other => other?,
                };
                Ok(written)
            })
            .await
    }

    /// Streams `rows` into `target` with binary COPY on `client`, a tokio-postgres
    /// connection the caller owns (from its own pool, such as deadpool-postgres' or
    /// bb8-postgres', or opened with
    /// [`DatabaseUrl::connect_raw`](neonhub_schema::DatabaseUrl::connect_raw); diesel-async
    /// does not expose COPY), in a transaction of its own on it: tenant, parents, positions and
    /// vectors are checked inside that transaction before the first byte is copied, each
    /// parent locked `FOR KEY SHARE` as a foreign-key check would. All or nothing; returns
    /// the rows written. The client is left as it was found (no session setting outlives
    /// the transaction), ready for its pool. As the application role the rows go through a
    /// staging table (row-level security refuses COPY into `chunks`), so the policies still
    /// judge every row.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "chunk", op = "copy_in"))]
    pub async fn copy_in(
        client: &mut tokio_postgres::Client,
        scope: &TenantScope,
        target: IngestTarget<'_>,
        rows: &[ChunkRow],
    ) -> Result<u64, RagError> {
        scope.require(keys::KNOWLEDGE_WRITE)?;
        use tokio_postgres::binary_copy::BinaryCopyInWriter;
        use tokio_postgres::types::{ToSql, Type};

        if rows.is_empty() {
            return Ok(0);
        }
        let tx = client.transaction().await.map_err(copy_failed)?;
        tokio_postgres::Transaction::execute(
            &tx,
            "SELECT set_config('app.current_org', $1, true), set_config('app.current_user', $2, true)",
            &[
                &scope.organization_id().as_str(),
                &scope.actor().user_id().map_or("", |u| u.as_str()),
            ],
        )
        .await
        .map_err(copy_failed)?;
        let org = scope.organization_id().as_str();
        // The parents, each in the scope and locked as a foreign-key check would lock it: a
        // concurrent delete waits for this COPY and then cascades to its rows.
        let dataset = tx
            .query_opt(
                r#"SELECT "embeddingSpaceId" FROM datasets WHERE id = $1 AND "organizationId" = $2 FOR KEY SHARE"#,
                &[&target.dataset.as_str(), &org],
            )
            .await
            .map_err(copy_failed)?
            .ok_or_else(|| RagError::foreign_parent("dataset", target.dataset))?;
        let dimension: i32 = tx
            .query_opt(
                r#"SELECT dimension FROM embedding_spaces WHERE id = $1 AND "organizationId" = $2 FOR KEY SHARE"#,
                &[&target.space.as_str(), &org],
            )
            .await
            .map_err(copy_failed)?
            .ok_or_else(|| RagError::foreign_parent("embedding space", target.space))?
            .get(0);
        if let Some(dataset_space) = dataset
            .get::<_, Option<String>>(0)
            .filter(|s| s != target.space.as_str())
        {
            return Err(RagError::SpaceMismatch {
                space: target.space.to_string(),
                dataset: target.dataset.to_string(),
                dataset_space,
            });
        }
        check_rows(rows, target.dataset, dimension)?;
        let wanted: Vec<&str> = rows
            .iter()
            .map(|r| r.document_id.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let found: HashMap<String, Option<String>> = tx
            .query(
                r#"SELECT id, "datasetId" FROM documents WHERE id = ANY($1) AND "organizationId" = $2 FOR KEY SHARE"#,
                &[&wanted, &org],
            )
            .await
            .map_err(copy_failed)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        for (position, row) in rows.iter().enumerate() {
            match found.get(row.document_id.as_str()) {
                None => {
                    return Err(at(
                        position,
                        RagError::foreign_parent("document", &row.document_id),
                    ));
                }
                Some(Some(other)) if other != target.dataset.as_str() => {
                    return Err(at(
                        position,
                        RagError::DocumentNotInDataset {
                            document: row.document_id.to_string(),
                            document_dataset: other.clone(),
                            dataset: target.dataset.to_string(),
                        },
                    ));
                }
                Some(_) => {}
            }
        }
        let named: Vec<i32> = rows.iter().filter_map(|r| r.idx).collect();
        if let Some(taken) = tx
            .query_opt(
                r#"SELECT idx FROM chunks WHERE "datasetId" = $1 AND idx = ANY($2) LIMIT 1"#,
                &[&target.dataset.as_str(), &named],
            )
            .await
            .map_err(copy_failed)?
        {
            let idx: i32 = taken.get(0);
            let position = rows
                .iter()
                .position(|r| r.idx == Some(idx))
                .unwrap_or_default();
            return Err(at(
                position,
                RagError::DuplicateChunkIndex {
                    dataset: target.dataset.to_string(),
                    idx,
                },
            ));
        }
        // Unnumbered rows: the dataset's row lock, then its first free position, as
        // `next_idx` does (two statements, so the maximum is read after the lock).
        let next = if rows.iter().any(|r| r.idx.is_none()) {
            tx.query_one(
                r#"SELECT 1 FROM datasets WHERE id = $1 FOR NO KEY UPDATE"#,
                &[&target.dataset.as_str()],
            )
            .await
            .map_err(copy_failed)?;
            let max: Option<i32> = tx
                .query_one(
                    r#"SELECT max(idx) FROM chunks WHERE "datasetId" = $1"#,
                    &[&target.dataset.as_str()],
                )
                .await
                .map_err(copy_failed)?
                .get(0);
            Some(position_after(max, target.dataset)?)
        } else {
            None
        };
        let idxs = resolve_idxs(rows, next)?;
        // Every parent is now verified and locked: what chunks' three foreign-key triggers
        // would do again for each row (about half of the server's insert time). Where the
        // role may set session_replication_role (superusers; on PostgreSQL 15+ a role
        // granted SET on it) and chunks has no trigger of its own that "replica" would
        // also silence (an ENABLE ALWAYS trigger, such as the one filling "searchVector",
        // still fires; a disabled one fires for nobody), the COPY skips them; elsewhere
        // they run as usual.
        tokio_postgres::Transaction::execute(
            &tx,
            r#"SELECT set_config('session_replication_role', 'replica', true)
               WHERE (current_setting('is_superuser') = 'on'
                      OR has_parameter_privilege('session_replication_role', 'SET'))
                 AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'public.chunks'::regclass
                                 AND NOT tgisinternal AND tgenabled NOT IN ('A', 'D'))"#,
            &[],
        )
        .await
        .map_err(copy_failed)?;
        let vector_type = tx
            .prepare("SELECT $1::vector")
            .await
            .map_err(copy_failed)?
            .params()[0]
            .clone();
        // PostgreSQL refuses COPY FROM into a table whose row-level security applies to the
        // role (the application role): then the rows go to a temporary staging table and on
        // with one INSERT ... SELECT, so the policies' WITH CHECK still judges every row.
        let staged: bool = tx
            .query_one("SELECT row_security_active('public.chunks')", &[])
            .await
            .map_err(copy_failed)?
            .get(0);
        let into = if staged {
            tx.batch_execute(
                "CREATE TEMP TABLE nh_chunks_stage (LIKE public.chunks INCLUDING DEFAULTS) ON COMMIT DROP",
            )
            .await
            .map_err(copy_failed)?;
            "nh_chunks_stage"
        } else {
            "public.chunks"
        };
        let sink = tx
            .copy_in(&format!(
                r#"COPY {into} ({CHUNK_COLUMNS}) FROM STDIN (FORMAT binary)"#
            ))
            .await
            .map_err(copy_failed)?;
        let types = [
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT4,
            Type::TEXT,
            vector_type,
            Type::JSONB,
            Type::TIMESTAMP,
        ];
        let writer = BinaryCopyInWriter::new(sink, &types);
        tokio::pin!(writer);
        let now: NaiveDateTime = time::now();
        for (row, idx) in rows.iter().zip(&idxs) {
            let id = ChunkId::generate().into_string();
            let values: [&(dyn ToSql + Sync); 9] = [
                &id,
                &target.dataset.as_str(),
                &row.document_id.as_str(),
                &target.space.as_str(),
                idx,
                &row.text,
                &row.embedding,
                &row.metadata,
                &now,
            ];
            writer.as_mut().write(&values).await.map_err(copy_failed)?;
        }
        let mut written = writer.as_mut().finish().await.map_err(copy_failed)?;
        if staged {
            written = tokio_postgres::Transaction::execute(
                &tx,
                    &format!("INSERT INTO public.chunks ({CHUNK_COLUMNS}) SELECT {CHUNK_COLUMNS} FROM nh_chunks_stage"),
                    &[],
                )
                .await
                .map_err(copy_failed)?;
        }
        tx.commit().await.map_err(copy_failed)?;
        Ok(written)
    }
}
