//! `neonhub drift`: the live database against the catalog the migrations build.

use neonhub_schema::catalog::{
    Catalog, CatalogError, DiffOptions, Difference, MANAGED_INDEX_PREFIX, diff,
};

/// Every difference, and the managed vector indexes listed apart (they are not drift).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DriftReport {
    /// Differences from the expected catalog.
    pub differences: Vec<Difference>,
    /// Managed vector indexes (`nh_vec_` prefix) present, as `table.index`.
    pub managed_indexes: Vec<String>,
}

/// Compares `live` with the expected catalog (extension versions are not compared).
pub fn drift(live: &Catalog) -> DriftReport {
    let options = DiffOptions {
        ignore_extension_versions: true,
        ignore_index_prefix: Some(MANAGED_INDEX_PREFIX.to_owned()),
        ignore_indexes: vec![neonhub_campaigns::LEADS_EMAIL_KEY.to_owned()],
    };
    let managed_indexes = live
        .tables
        .iter()
        .flat_map(|(table, t)| {
            let unique = t.unique.iter().map(|i| &i.name);
            t.indexes
                .iter()
                .map(|i| &i.name)
                .chain(unique)
                .filter(|n| n.starts_with(MANAGED_INDEX_PREFIX))
                .map(move |n| format!("{table}.{n}"))
        })
        .collect();
    DriftReport {
        differences: diff(&Catalog::expected(), live, &options),
        managed_indexes,
    }
}

/// Reads the live catalog and compares it.
pub async fn drift_of(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Result<DriftReport, CatalogError> {
    Ok(drift(&Catalog::read(conn).await?))
}

impl std::fmt::Display for DriftReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.differences {
            writeln!(f, "{d}")?;
        }
        if !self.managed_indexes.is_empty() {
            writeln!(
                f,
                "managed vector indexes (not drift): {}",
                self.managed_indexes.join(", ")
            )?;
        }
        if self.differences.is_empty() {
            write!(f, "drift: none")
        } else {
            write!(f, "drift: {} difference(s)", self.differences.len())
        }
    }
}
