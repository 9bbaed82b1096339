//! The database catalog read back from `pg_catalog`, the reference it must match, and the
//! item-by-item difference between two catalogs.

mod diff;

use std::collections::BTreeMap;

use diesel::sql_types::{Array, Jsonb, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

pub use diff::{DiffKind, DiffOptions, Difference, diff};

/// Tables that belong to migration tooling, not to the schema.
pub const BOOKKEEPING_TABLES: &[&str] = &["__diesel_schema_migrations", "_prisma_migrations"];

/// NeonHub's reference catalog, as shipped in `reference/neonhub_catalog.json`.
pub const REFERENCE_JSON: &str = include_str!("../../reference/neonhub_catalog.json");

/// The catalog of the `public` schema: what the parity test, `verify` and `drift` compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// `server_version` of the server it was read from.
    pub server_version: String,
    /// Non-system schemas.
    pub schemas: Vec<String>,
    /// Installed extensions.
    pub extensions: Vec<Extension>,
    /// Enum types of `public`.
    pub enums: Vec<EnumType>,
    /// Views of `public` (the reference has none).
    #[serde(default)]
    pub views: Vec<String>,
    /// Tables of `public`, by name, bookkeeping tables left out.
    pub tables: BTreeMap<String, Table>,
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Extension name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Schema it lives in.
    pub schema: String,
}

/// An enum type and its labels in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumType {
    /// Schema of the type.
    pub schema: String,
    /// Type name.
    pub name: String,
    /// Labels in sort order.
    pub labels: Vec<String>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Columns in attribute order.
    pub columns: Vec<Column>,
    /// The primary key, if any.
    pub primary_key: Option<PrimaryKey>,
    /// Unique indexes other than the primary key.
    pub unique: Vec<UniqueIndex>,
    /// Non-unique indexes.
    pub indexes: Vec<Index>,
    /// Foreign keys.
    pub foreign_keys: Vec<ForeignKey>,
    /// Check constraints.
    #[serde(default)]
    pub checks: Vec<NamedDefinition>,
    /// User triggers.
    #[serde(default)]
    pub triggers: Vec<NamedDefinition>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as `format_type` prints it.
    #[serde(rename = "type")]
    pub sql_type: String,
    /// NOT NULL.
    pub not_null: bool,
    /// Default expression.
    pub default: Option<String>,
    /// Identity kind (`a`/`d`), if an identity column.
    pub identity: Option<String>,
    /// Generated kind (`s`), if generated.
    pub generated: Option<String>,
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryKey {
    /// Constraint name.
    pub name: String,
    /// Key columns in order.
    pub columns: Vec<String>,
}

/// A unique index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueIndex {
    /// Index name.
    pub name: String,
    /// Key columns (or expressions) in order.
    pub columns: Vec<String>,
    /// Whether a UNIQUE constraint owns it.
    pub is_constraint: bool,
    /// Access method.
    pub method: String,
    /// INCLUDE columns.
    pub include: Vec<String>,
    /// Partial-index predicate.
    pub predicate: Option<String>,
    /// ASC/DESC per key column.
    pub sort: Vec<String>,
    /// Non-default operator classes per key column.
    pub opclasses: Vec<Option<String>>,
    /// `pg_get_indexdef`.
    pub definition: String,
}

/// A non-unique index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Key columns (or expressions) in order.
    pub columns: Vec<String>,
    /// Access method.
    pub method: String,
    /// INCLUDE columns.
    pub include: Vec<String>,
    /// Partial-index predicate.
    pub predicate: Option<String>,
    /// ASC/DESC per key column.
    pub sort: Vec<String>,
    /// Non-default operator classes per key column.
    pub opclasses: Vec<Option<String>>,
    /// Whether it backs an exclusion constraint.
    pub exclusion_constraint: bool,
    /// `pg_get_indexdef`.
    pub definition: String,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Schema of the referenced table.
    pub ref_schema: String,
    /// Referenced table.
    pub ref_table: String,
    /// Referenced columns.
    pub ref_columns: Vec<String>,
    /// ON DELETE action.
    pub on_delete: String,
    /// ON UPDATE action.
    pub on_update: String,
    /// MATCH type.
    #[serde(rename = "match")]
    pub match_type: String,
    /// DEFERRABLE.
    pub deferrable: bool,
    /// INITIALLY DEFERRED.
    pub initially_deferred: bool,
}

/// A check constraint or trigger: its name and definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedDefinition {
    /// Name.
    pub name: String,
    /// Definition as PostgreSQL prints it.
    pub definition: String,
}

/// Errors reading or parsing a catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog query failed.
    #[error("reading the catalog failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// The JSON did not have the catalog's shape.
    #[error("the catalog JSON is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(QueryableByName)]
struct CatalogRow {
    #[diesel(sql_type = Jsonb)]
    catalog: serde_json::Value,
}

impl Catalog {
    /// NeonHub's reference catalog, exactly as shipped.
    pub fn reference() -> Self {
        Self::from_json(REFERENCE_JSON)
            .expect("the embedded reference catalog parses (checked by tests)")
    }

    /// What the baseline migration builds: the reference plus its one documented
    /// addition, the `uuid-ossp` extension.
    pub fn baseline() -> Self {
        let mut catalog = Self::reference();
        catalog.extensions.push(Extension {
            name: "uuid-ossp".to_owned(),
            version: "1.1".to_owned(),
            schema: "public".to_owned(),
        });
        catalog.extensions.sort_by(|a, b| a.name.cmp(&b.name));
        catalog
    }

    /// Parses a catalog from its JSON form.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Reads the live catalog of the connected database's `public` schema.
    pub async fn read(conn: &mut AsyncPgConnection) -> Result<Self, CatalogError> {
        let row: CatalogRow = sql_query(include_str!("read_catalog.sql"))
            .bind::<Array<Text>, _>(BOOKKEEPING_TABLES)
            .get_result(conn)
            .await?;
        Ok(serde_json::from_value(row.catalog)?)
    }

    /// The installed version of an extension.
    pub fn extension_version(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.version.as_str())
    }
}
