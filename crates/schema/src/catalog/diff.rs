//! Item-by-item comparison of two catalogs.

use std::collections::BTreeMap;
use std::fmt;

use super::{
    Catalog, Column, EnumType, Extension, ForeignKey, Index, NamedDefinition, Table, UniqueIndex,
};

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    /// In the expected catalog, not in the actual one.
    Missing,
    /// In the actual catalog, not in the expected one.
    Extra,
    /// In both, but not equal.
    Changed,
}

/// One difference, naming the object (`column chunks.embedding`, `index chunks_embeddingSpaceId_idx`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// Missing, extra or changed.
    pub kind: DiffKind,
    /// The object, e.g. `column chunks.idx`.
    pub object: String,
    /// For a change: what was expected and what was found.
    pub detail: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Changed => "changed",
        };
        write!(f, "{kind} {}", self.object)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// What a comparison ignores.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Compare extensions by name only (versions are not part of the contract).
    pub ignore_extension_versions: bool,
    /// Index names starting with this prefix are left out on both sides (managed indexes).
    pub ignore_index_prefix: Option<String>,
    /// Index names left out on both sides: optional indexes a command creates when the data
    /// allows it (the leads' unique email key after `neonhub leads dedupe --apply`).
    pub ignore_indexes: Vec<String>,
}

/// Every difference between `expected` and `actual`; empty when they are equal.
pub fn diff(expected: &Catalog, actual: &Catalog, options: &DiffOptions) -> Vec<Difference> {
    let mut out = Differences(Vec::new());

    out.keyed(
        |n| format!("extension {n}"),
        &by_name(&expected.extensions),
        &by_name(&actual.extensions),
        |e, a| {
            if e.schema != a.schema {
                return Some(format!("schema {}, expected {}", a.schema, e.schema));
            }
            if !options.ignore_extension_versions && e.version != a.version {
                return Some(format!("version {}, expected {}", a.version, e.version));
            }
            None
        },
    );

    out.keyed(
        |n| format!("enum type {n}"),
        &by_name(&expected.enums),
        &by_name(&actual.enums),
        |e, a| {
            (e.labels != a.labels)
                .then(|| format!("labels {:?}, expected {:?}", a.labels, e.labels))
        },
    );

    out.keyed(
        |n| format!("view {n}"),
        &by_name(&expected.views),
        &by_name(&actual.views),
        |_, _| None,
    );

    out.keyed(
        |n| format!("table {n}"),
        &expected.tables,
        &actual.tables,
        |_, _| None,
    );
    for (name, e) in &expected.tables {
        if let Some(a) = actual.tables.get(name) {
            diff_table(name, e, a, options, &mut out);
        }
    }
    out.0
}

fn diff_table(table: &str, e: &Table, a: &Table, options: &DiffOptions, out: &mut Differences) {
    out.keyed(
        |n| format!("column {table}.{n}"),
        &by_name(&e.columns),
        &by_name(&a.columns),
        |e, a| {
            let mut changes = Vec::new();
            if e.sql_type != a.sql_type {
                changes.push(format!("type {}, expected {}", a.sql_type, e.sql_type));
            }
            if e.not_null != a.not_null {
                changes.push(format!(
                    "{}, expected {}",
                    null_word(a.not_null),
                    null_word(e.not_null)
                ));
            }
            if e.default != a.default {
                changes.push(format!(
                    "default {}, expected {}",
                    show(&a.default),
                    show(&e.default)
                ));
            }
            if e.identity != a.identity || e.generated != a.generated {
                changes.push("identity/generated differs".to_owned());
            }
            (!changes.is_empty()).then(|| changes.join("; "))
        },
    );
    // Order only matters once the columns agree; a missing column already explains a shift.
    let names = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let (en, an) = (names(e), names(a));
    let common_e: Vec<_> = en.iter().filter(|n| an.contains(n)).collect();
    let common_a: Vec<_> = an.iter().filter(|n| en.contains(n)).collect();
    if common_e != common_a {
        out.push(
            DiffKind::Changed,
            format!("column order of {table}"),
            Some(format!("{an:?}, expected {en:?}")),
        );
    }

    match (&e.primary_key, &a.primary_key) {
        (Some(pe), Some(pa)) if pe != pa => out.push(
            DiffKind::Changed,
            format!("primary key {}", pe.name),
            Some(format!(
                "{} ({:?}), expected {} ({:?})",
                pa.name, pa.columns, pe.name, pe.columns
            )),
        ),
        (Some(pe), None) => out.push(
            DiffKind::Missing,
            format!("primary key {} on {table}", pe.name),
            None,
        ),
        (None, Some(pa)) => out.push(
            DiffKind::Extra,
            format!("primary key {} on {table}", pa.name),
            None,
        ),
        _ => {}
    }

    out.keyed(
        |n| format!("unique index {n} on {table}"),
        &unmanaged(by_name(&e.unique), options),
        &unmanaged(by_name(&a.unique), options),
        |e, a| (e != a).then(|| format!("{}, expected {}", a.definition, e.definition)),
    );
    out.keyed(
        |n| format!("index {n} on {table}"),
        &unmanaged(by_name(&e.indexes), options),
        &unmanaged(by_name(&a.indexes), options),
        |e, a| (e != a).then(|| format!("{}, expected {}", a.definition, e.definition)),
    );
    out.keyed(|n| format!("foreign key {n} on {table}"), &by_name(&e.foreign_keys), &by_name(&a.foreign_keys), |e, a| {
        (e != a).then(|| {
            format!(
                "({:?}) -> {}({:?}) ON DELETE {} ON UPDATE {}, expected ({:?}) -> {}({:?}) ON DELETE {} ON UPDATE {}",
                a.columns, a.ref_table, a.ref_columns, a.on_delete, a.on_update,
                e.columns, e.ref_table, e.ref_columns, e.on_delete, e.on_update
            )
        })
    });
    out.keyed(
        |n| format!("check {n} on {table}"),
        &by_name(&e.checks),
        &by_name(&a.checks),
        |e, a| (e != a).then(|| format!("{}, expected {}", a.definition, e.definition)),
    );
    out.keyed(
        |n| format!("trigger {n} on {table}"),
        &by_name(&e.triggers),
        &by_name(&a.triggers),
        |e, a| (e != a).then(|| format!("{}, expected {}", a.definition, e.definition)),
    );
}

fn null_word(not_null: bool) -> &'static str {
    if not_null { "NOT NULL" } else { "nullable" }
}

fn show(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

/// Items compared by name.
trait Named {
    fn name(&self) -> &str;
}

impl Named for Extension {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for EnumType {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Column {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for UniqueIndex {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for Index {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for ForeignKey {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for NamedDefinition {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for String {
    fn name(&self) -> &str {
        self
    }
}

fn by_name<T: Named>(items: &[T]) -> BTreeMap<String, &T> {
    items.iter().map(|i| (i.name().to_owned(), i)).collect()
}

/// Leaves out indexes under the managed prefix, which are not part of the comparison.
fn unmanaged<'a, T>(
    mut map: BTreeMap<String, &'a T>,
    options: &DiffOptions,
) -> BTreeMap<String, &'a T> {
    if let Some(prefix) = options.ignore_index_prefix.as_deref() {
        map.retain(|name, _| !name.starts_with(prefix));
    }
    map.retain(|name, _| !options.ignore_indexes.contains(name));
    map
}

struct Differences(Vec<Difference>);

impl Differences {
    fn push(&mut self, kind: DiffKind, object: String, detail: Option<String>) {
        self.0.push(Difference {
            kind,
            object,
            detail,
        });
    }

    /// Compares two keyed collections: missing, extra, and changed per `changed`.
    fn keyed<K: AsRef<str> + Ord, T>(
        &mut self,
        object: impl Fn(&str) -> String,
        expected: &BTreeMap<K, T>,
        actual: &BTreeMap<K, T>,
        changed: impl Fn(&T, &T) -> Option<String>,
    ) {
        for (name, e) in expected {
            match actual.get(name) {
                None => self.push(DiffKind::Missing, object(name.as_ref()), None),
                Some(a) => {
                    if let Some(detail) = changed(e, a) {
                        self.push(DiffKind::Changed, object(name.as_ref()), Some(detail));
                    }
                }
            }
        }
        for name in actual.keys().filter(|n| !expected.contains_key(*n)) {
            self.push(DiffKind::Extra, object(name.as_ref()), None);
        }
    }
}
