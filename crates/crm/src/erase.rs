//! The work of [`crate::Person::export`] and [`crate::Person::erase`]: plans derived from
//! the database's own catalog (its foreign keys and column types), so a table a later
//! migration adds with a foreign key to people (or to anything a person owns) is exported
//! and erased without a change here.
//!
//! A plan walks the foreign keys down from a root (the person; the organization's marketing
//! leads with the person's email). A key whose action is `CASCADE` means the child row is
//! the parent's (the person's events, their memories): it is exported, and erased, its own
//! children first. `SET NULL` (or `SET DEFAULT`) means the row outlives the parent (a
//! budget ledger entry): it loses the link, and its text and JSON columns lose every
//! mention of the person. `NO ACTION` / `RESTRICT` would block the deletion: the erasure is
//! refused naming the table, before anything is written.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::QueryableByName;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Integer, Jsonb, Text, Untyped};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::PersonId;

use crate::CrmError;

/// The root of the people tree: the person, `$1`.
pub(crate) const PERSON_ROOT: &str = "id = $1";
/// The root of the leads tree: the organization's (`$4`) leads with one of the person's
/// emails (`$3`), compared trimmed and case-insensitively (an index serves it).
pub(crate) const LEADS_ROOT: &str = r#""organizationId" = $4 AND lower(btrim(email)) = ANY($3)"#;

/// One single- or multi-column foreign key, from `pg_constraint`.
#[derive(Debug, Clone, QueryableByName)]
pub(crate) struct ForeignKey {
    /// The referencing table, schema-qualified and quoted.
    #[diesel(sql_type = Text)]
    pub child: String,
    /// Its bare name (for reports).
    #[diesel(sql_type = Text)]
    pub child_name: String,
    /// The referencing column, quoted.
    #[diesel(sql_type = Text)]
    pub column: String,
    /// The referenced table, schema-qualified and quoted.
    #[diesel(sql_type = Text)]
    pub parent: String,
    /// The referenced column, quoted.
    #[diesel(sql_type = Text)]
    pub parent_column: String,
    /// `confdeltype`: `c` cascade, `n` set null, `d` set default, `a` no action, `r` restrict.
    #[diesel(sql_type = Text)]
    pub action: String,
    /// How many columns the key has.
    #[diesel(sql_type = Integer)]
    pub width: i32,
}

#[derive(QueryableByName)]
struct TextColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

/// Every foreign key of the database (single-column ones are walked; wider ones refuse).
const FOREIGN_KEYS: &str = r#"SELECT format('%I.%I', cn.nspname, cr.relname) AS child,
       cr.relname::text AS child_name,
       quote_ident(ca.attname) AS "column",
       format('%I.%I', pn.nspname, pr.relname) AS parent,
       quote_ident(pa.attname) AS parent_column,
       c.confdeltype::text AS action,
       cardinality(c.conkey) AS width
FROM pg_constraint c
JOIN pg_class cr ON cr.oid = c.conrelid
JOIN pg_namespace cn ON cn.oid = cr.relnamespace
JOIN pg_class pr ON pr.oid = c.confrelid
JOIN pg_namespace pn ON pn.oid = pr.relnamespace
JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = c.conkey[1]
JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
WHERE c.contype = 'f'
ORDER BY 1, 3"#;

/// The text, varchar, citext, JSON and text-array columns of some tables (qualified names),
/// keys excluded: a detached row keeps its identity and links.
struct TextColumns<'a> {
    tables: &'a [String],
}

impl QueryId for TextColumns<'_> {
    type QueryId = TextColumns<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for TextColumns<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for TextColumns<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        out.push_sql(
            r#"SELECT format('%I.%I', n.nspname, r.relname) AS table_name,
                      quote_ident(a.attname) AS column_name,
                      CASE WHEN t.typcategory = 'A' THEN 'array'
                           WHEN t.typname IN ('json', 'jsonb') THEN t.typname::text
                           ELSE 'text' END AS kind
               FROM pg_attribute a
               JOIN pg_class r ON r.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = r.relnamespace
               JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
               WHERE a.attrelid = ANY (CAST("#,
        );
        out.push_bind_param::<Array<Text>, _>(self.tables)?;
        out.push_sql(
            r#" AS regclass[])) AND a.attnum > 0 AND NOT a.attisdropped
                 AND a.attgenerated = ''
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                                 WHERE k.conrelid = a.attrelid AND k.contype IN ('p', 'f', 'u')
                                   AND a.attnum = ANY (k.conkey))
                 AND (t.typname IN ('text', 'varchar', 'citext', 'json', 'jsonb')
                      OR e.typname IN ('text', 'varchar', 'citext'))
               ORDER BY 1, a.attnum"#,
        );
        Ok(())
    }
}

/// A statement whose text is fixed for a given catalog (a plan's step), with `$1` to `$4`
/// standing for the [`Binds`] (each occurrence bound anew, so a statement may use any of
/// them, in any order, any number of times). Not a static id: diesel-async caches it by
/// its text, so a step is planned once per connection, not once per erasure.
struct Cached<'a> {
    sql: &'a str,
    binds: Option<&'a Binds<'a>>,
}

impl QueryId for Cached<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Cached<'_> {
    type SqlType = Untyped;
}

impl QueryFragment<Pg> for Cached<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            let (before, after) = rest.split_at(at);
            out.push_sql(before);
            let which = after.as_bytes().get(1).copied();
            match (which, self.binds) {
                (Some(d @ b'1'..=b'4'), Some(b)) => {
                    match d {
                        b'1' => out.push_bind_param::<Text, _>(b.person)?,
                        b'2' => out.push_bind_param::<Text, _>(b.pattern)?,
                        b'3' => out.push_bind_param::<Array<Text>, _>(b.emails)?,
                        _ => out.push_bind_param::<Text, _>(b.org)?,
                    }
                    rest = &after[2..];
                }
                _ => {
                    out.push_sql("$");
                    rest = &after[1..];
                }
            }
        }
        out.push_sql(rest);
        Ok(())
    }
}

/// The database's foreign keys and the text-like columns of every table.
pub(crate) struct Catalog {
    pub foreign_keys: Vec<ForeignKey>,
    /// Table (qualified, quoted) → its text, citext, varchar, JSON and text-array columns.
    texts: HashMap<String, Vec<(String, String)>>,
}

impl Catalog {
    /// Reads the catalog (inside the caller's transaction: what it sees is what it walks):
    /// every foreign key, then the text-like columns of the tables a plan from `roots`
    /// would detach (only those are scrubbed). Both statements stay prepared.
    pub(crate) async fn load(
        tx: &mut AsyncPgConnection,
        roots: &[(&str, &str)],
    ) -> Result<Self, CrmError> {
        let foreign_keys: Vec<ForeignKey> = Cached {
            sql: FOREIGN_KEYS,
            binds: None,
        }
        .load(tx)
        .await?;
        let mut catalog = Self {
            foreign_keys,
            texts: HashMap::new(),
        };
        let mut detached = BTreeSet::new();
        for (root, _) in roots {
            catalog.detach_targets(root, 0, &mut detached);
        }
        if detached.is_empty() {
            return Ok(catalog);
        }
        let tables: Vec<String> = detached.into_iter().collect();
        let columns: Vec<TextColumn> = TextColumns { tables: &tables }.load(tx).await?;
        for c in columns {
            catalog
                .texts
                .entry(c.table_name)
                .or_default()
                .push((c.column_name, c.kind));
        }
        Ok(catalog)
    }

    /// The tables of the tree under `parent` that a `SET NULL` / `SET DEFAULT` key detaches.
    fn detach_targets(&self, parent: &str, depth: usize, out: &mut BTreeSet<String>) {
        for fk in self.foreign_keys.iter().filter(|fk| fk.parent == parent) {
            match fk.action.as_str() {
                "c" if depth < MAX_DEPTH && fk.child != parent => {
                    self.detach_targets(&fk.child, depth + 1, out)
                }
                "n" | "d" => {
                    out.insert(fk.child.clone());
                }
                _ => {}
            }
        }
    }

    /// The keys referencing `parent`, leaves first (a child nobody references is erased
    /// before one whose own children would otherwise be detached and then deleted anyway).
    fn children(&self, parent: &str) -> Vec<&ForeignKey> {
        let referenced = |table: &str| {
            self.foreign_keys
                .iter()
                .filter(|fk| fk.parent == table)
                .count()
        };
        let mut children: Vec<&ForeignKey> = self
            .foreign_keys
            .iter()
            .filter(|fk| fk.parent == parent)
            .collect();
        children.sort_by_key(|fk| (referenced(&fk.child), &fk.child, &fk.column));
        children
    }

    /// `SET column = NULL` (or `DEFAULT`), and every other text-like column of `table`
    /// with each mention of the person (the pattern, `$2`) replaced by `[erased]`.
    fn detach(&self, fk: &ForeignKey) -> String {
        let to = if fk.action == "d" { "DEFAULT" } else { "NULL" };
        let mut set = vec![format!("{} = {to}", fk.column)];
        for (column, kind) in self.texts.get(&fk.child).into_iter().flatten() {
            if *column == fk.column {
                continue;
            }
            let replaced = format!("regexp_replace({column}::text, $2, '[erased]', 'gi')");
            set.push(match kind.as_str() {
                "json" | "jsonb" => format!("{column} = ({replaced})::{kind}"),
                "array" => format!("{column} = ({replaced})::text[]"),
                _ => format!("{column} = {replaced}"),
            });
        }
        set.join(", ")
    }
}

/// What one statement of an erasure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Delete,
    Detach,
    /// A key that would block the deletion: counted; any row refuses the erasure.
    Refuse,
}

/// One statement of an erasure plan.
#[derive(Debug)]
struct Step {
    table: String,
    column: String,
    effect: Effect,
    sql: String,
}

/// The greatest depth of foreign keys followed (the NeonHub schema needs 3).
const MAX_DEPTH: usize = 8;

/// The erasure statements of the tree under `root` (`root_where` selects its rows), its
/// leaves first, ending with the root's own deletion.
fn erase_plan(catalog: &Catalog, root: &str, root_where: &str) -> Result<Vec<Step>, CrmError> {
    fn walk(
        catalog: &Catalog,
        parent: &str,
        parent_where: &str,
        path: &mut Vec<String>,
        steps: &mut Vec<Step>,
    ) -> Result<(), CrmError> {
        for fk in catalog.children(parent) {
            if fk.width != 1 {
                return Err(CrmError::ErasurePlan(format!(
                    "{} references {} with a multi-column key",
                    fk.child_name, parent
                )));
            }
            let rows = format!(
                "{} IN (SELECT {} FROM {} WHERE {})",
                fk.column, fk.parent_column, parent, parent_where
            );
            let (effect, sql) = match fk.action.as_str() {
                "c" => {
                    if path.contains(&fk.child) || path.len() >= MAX_DEPTH {
                        return Err(CrmError::ErasurePlan(format!(
                            "the foreign keys from {} loop or nest deeper than {MAX_DEPTH}",
                            fk.child_name
                        )));
                    }
                    path.push(fk.child.clone());
                    walk(catalog, &fk.child, &rows, path, steps)?;
                    path.pop();
                    (
                        Effect::Delete,
                        format!("DELETE FROM {} WHERE {rows}", fk.child),
                    )
                }
                "n" | "d" => (
                    Effect::Detach,
                    format!(
                        "UPDATE {} SET {} WHERE {rows}",
                        fk.child,
                        catalog.detach(fk)
                    ),
                ),
                _ => (
                    Effect::Refuse,
                    format!("SELECT count(*) AS n FROM {} WHERE {rows}", fk.child),
                ),
            };
            steps.push(Step {
                table: fk.child_name.clone(),
                column: fk.column.trim_matches('"').to_owned(),
                effect,
                sql,
            });
        }
        Ok(())
    }
    let mut steps = Vec::new();
    walk(
        catalog,
        root,
        root_where,
        &mut vec![root.to_owned()],
        &mut steps,
    )?;
    steps.push(Step {
        table: root
            .rsplit('.')
            .next()
            .unwrap_or(root)
            .trim_matches('"')
            .to_owned(),
        column: String::new(),
        effect: Effect::Delete,
        sql: format!("DELETE FROM {root} WHERE {root_where}"),
    });
    Ok(steps)
}

/// The tables whose rows are about the root's rows: the root itself, what it owns
/// (`CASCADE`, to any depth) and what names the root itself with a `SET NULL` key (a
/// ledger entry naming the person). A row that merely points at an owned row is someone
/// else's (another person's memory citing this person's event; an allocation citing their
/// objective): not theirs to see. Each table's rows are selected by the `OR` of its paths.
fn export_plan(catalog: &Catalog, root: &str, root_where: &str) -> BTreeMap<String, Vec<String>> {
    fn walk(
        catalog: &Catalog,
        parent: &str,
        parent_where: &str,
        depth: usize,
        out: &mut BTreeMap<String, Vec<String>>,
    ) {
        for fk in catalog.children(parent) {
            if fk.width != 1 {
                continue;
            }
            let rows = format!(
                "{} IN (SELECT {} FROM {} WHERE {})",
                fk.column, fk.parent_column, parent, parent_where
            );
            match fk.action.as_str() {
                "c" if depth < MAX_DEPTH && fk.child != parent => {
                    walk(catalog, &fk.child, &rows, depth + 1, out);
                    out.entry(fk.child.clone()).or_default().push(rows);
                }
                "n" | "d" if depth == 0 => out.entry(fk.child.clone()).or_default().push(rows),
                _ => {}
            }
        }
    }
    let mut out = BTreeMap::from([(root.to_owned(), vec![root_where.to_owned()])]);
    walk(catalog, root, root_where, 0, &mut out);
    out
}

/// What a step's statement needs bound: the person, the pattern of their mentions, their
/// emails, the organization. Every statement gets all four (typed, so unused ones are
/// harmless).
pub(crate) struct Binds<'a> {
    pub person: &'a PersonId,
    pub pattern: &'a str,
    pub emails: &'a [String],
    pub org: &'a str,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Rows {
    #[diesel(sql_type = Jsonb)]
    rows: serde_json::Value,
}

/// Rows deleted and detached per table.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub deleted: BTreeMap<String, usize>,
    pub detached: BTreeMap<String, usize>,
}

/// Runs the erasure of the trees under each `(root, where)`, in order, inside the
/// caller's transaction. Any blocking row refuses the whole erasure before a write.
pub(crate) async fn erase(
    tx: &mut AsyncPgConnection,
    catalog: &Catalog,
    roots: &[(&str, &str)],
    binds: &Binds<'_>,
) -> Result<Counts, CrmError> {
    let mut steps = Vec::new();
    for (root, root_where) in roots {
        steps.extend(erase_plan(catalog, root, root_where)?);
    }
    // Every plan's refusals first: a blocked erasure writes nothing at all.
    steps.sort_by_key(|s| s.effect != Effect::Refuse);
    let mut counts = Counts::default();
    for step in &steps {
        let query = Cached {
            sql: &step.sql,
            binds: Some(binds),
        };
        match step.effect {
            Effect::Refuse => {
                let blocking = query.get_result::<Count>(tx).await?.n;
                if blocking > 0 {
                    return Err(CrmError::ErasureBlocked {
                        table: step.table.clone(),
                        column: step.column.clone(),
                        rows: blocking as usize,
                    });
                }
            }
            effect => {
                let n = query.execute(tx).await?;
                let map = if effect == Effect::Delete {
                    &mut counts.deleted
                } else {
                    &mut counts.detached
                };
                if n > 0 {
                    *map.entry(step.table.clone()).or_insert(0) += n;
                }
            }
        }
    }
    Ok(counts)
}

/// Every row about the roots' rows, as `{table: [row, ...]}` (each row its `to_jsonb`,
/// every table of the plans present, empty ones as `[]`).
pub(crate) async fn export(
    tx: &mut AsyncPgConnection,
    catalog: &Catalog,
    roots: &[(&str, &str)],
    binds: &Binds<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, CrmError> {
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (root, root_where) in roots {
        for (table, paths) in export_plan(catalog, root, root_where) {
            tables.entry(table).or_default().extend(paths);
        }
    }
    let names: BTreeMap<&str, &str> = catalog
        .foreign_keys
        .iter()
        .flat_map(|fk| [(fk.child.as_str(), fk.child_name.as_str())])
        .collect();
    // One statement, so every table is read from one snapshot (a concurrent write lands
    // in the export whole or not at all). jsonb_build_object takes at most 50 pairs.
    let pairs: Vec<String> = tables
        .iter()
        .map(|(table, paths)| {
            let name = names
                .get(table.as_str())
                .map(|n| n.to_string())
                .unwrap_or_else(|| table.rsplit('.').next().unwrap_or(table).replace('"', ""));
            format!(
                "'{}', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM {table} t WHERE ({}))",
                name.replace('\'', "''"),
                paths.join(") OR (")
            )
        })
        .collect();
    let objects: Vec<String> = pairs
        .chunks(40)
        .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
        .collect();
    let sql = format!("SELECT {} AS rows", objects.join(" || "));
    let rows = Cached {
        sql: &sql,
        binds: Some(binds),
    }
    .get_result::<Rows>(tx)
    .await?
    .rows;
    match rows {
        serde_json::Value::Object(map) => Ok(map),
        _ => Ok(serde_json::Map::new()),
    }
}

/// A PostgreSQL regular expression matching any of `values` literally (case is the
/// caller's flag): ASCII punctuation escaped, longer values first so a value that contains
/// another is replaced whole.
pub(crate) fn mentions_pattern(values: &BTreeSet<String>) -> String {
    let mut values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let escaped: Vec<String> = values
        .into_iter()
        .map(|v| {
            let mut out = String::with_capacity(v.len() * 2);
            for c in v.chars() {
                if c.is_ascii_punctuation() || c == ' ' {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        })
        .collect();
    format!("({})", escaped.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_matched_literally_longest_first() {
        let values = BTreeSet::from([
            "a.b@x.io".to_owned(),
            "+44 (20)".to_owned(),
            "a.b".to_owned(),
        ]);
        assert_eq!(
            mentions_pattern(&values),
            r"(\+44\ \(20\)|a\.b\@x\.io|a\.b)"
        );
    }
}
