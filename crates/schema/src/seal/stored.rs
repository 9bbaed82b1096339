//! The secrets as stored: which columns hold them, how they are held (`neonhub secrets
//! status`), and re-sealing them under the current key (`neonhub secrets rotate`). System
//! work across tenants, on the owner's direct connection.

/// The columns that hold secrets, by table: what is sealed, and what `neonhub secrets`
/// counts and re-seals.
pub const SEALED_COLUMNS: &[(&str, &[&str])] = &[
    ("accounts", &["access_token", "refresh_token", "id_token"]),
    (
        "connector_auths",
        &["accessToken", "refreshToken", "apiKey", "apiSecret"],
    ),
    (
        "credentials",
        &["accessToken", "refreshToken", "accessSecret"],
    ),
];

/// How the secrets stored in one column are held.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ColumnSecrets {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// Values still in plain text (from before sealing: a database adopted from NeonHub).
    pub plaintext: i64,
    /// Sealed values by the id of the key that sealed them.
    pub by_key: std::collections::BTreeMap<String, i64>,
}

/// What `neonhub secrets status` reports: every secret column's values by key id, and the
/// plain-text leftovers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SecretsStatus {
    /// Plain-text values in all the secret columns.
    pub plaintext: i64,
    /// Sealed values by key id, over all the secret columns.
    pub by_key: std::collections::BTreeMap<String, i64>,
    /// The same, column by column.
    pub columns: Vec<ColumnSecrets>,
}

/// Counts the values of every secret column by key id, and the plain-text ones (system work,
/// on the owner's direct connection: row-level security would hide other tenants' rows).
pub async fn secrets_status(
    conn: &mut diesel_async::AsyncPgConnection,
) -> diesel::QueryResult<SecretsStatus> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Group {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        key_id: Option<String>,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut status = SecretsStatus::default();
    for (table, columns) in SEALED_COLUMNS {
        for column in *columns {
            // Names from the constant above, never from input.
            let groups: Vec<Group> = diesel::sql_query(format!(
                r#"SELECT CASE WHEN "{column}" LIKE 'nh1:%:%' THEN split_part("{column}", ':', 2) END AS key_id,
                          count(*) AS n
                   FROM public.{table} WHERE "{column}" IS NOT NULL GROUP BY 1"#
            ))
            .load(conn)
            .await?;
            let mut col = ColumnSecrets {
                table: (*table).to_owned(),
                column: (*column).to_owned(),
                plaintext: 0,
                by_key: Default::default(),
            };
            for g in groups {
                match g.key_id {
                    Some(id) => {
                        *col.by_key.entry(id.clone()).or_default() += g.n;
                        *status.by_key.entry(id).or_default() += g.n;
                    }
                    None => {
                        col.plaintext += g.n;
                        status.plaintext += g.n;
                    }
                }
            }
            status.columns.push(col);
        }
    }
    Ok(status)
}

/// What [`rotate`] did, over every secret column.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotateReport {
    /// The key everything is now sealed under.
    pub key_id: String,
    /// Values moved from an older key to it.
    pub resealed: i64,
    /// Plain-text values (from before sealing) sealed for the first time.
    pub sealed_plaintext: i64,
    /// Values changed by someone else between reading and re-sealing: left as that writer
    /// left them (a writer seals under the current key too).
    pub changed_concurrently: i64,
    /// Values that do not open (an unknown key id, tampering): left as they are.
    pub unreadable: i64,
    /// `table.column row-id: reason` for the first unreadable values (never a value).
    pub problems: Vec<String>,
}

/// How many unreadable values [`RotateReport::problems`] names.
const MAX_PROBLEMS: usize = 50;

#[derive(diesel::QueryableByName)]
struct StoredValue {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

#[derive(diesel::QueryableByName)]
struct WrittenId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// Re-seals every secret value under `keys`' sealing key, and seals plain-text leftovers,
/// online: `batch` rows at a time in key order, each batch its own short statement, and
/// each value written only if it still holds what was read (compare-and-set), so a row
/// changed meanwhile is never overwritten with an old value. Readers holding the old and
/// the new key keep working throughout. Values already under the sealing key are not
/// touched, so a rotation that was stopped resumes where it was.
///
/// System work on the owner's direct connection (row-level security would hide other
/// tenants' rows).
pub async fn rotate(
    conn: &mut diesel_async::AsyncPgConnection,
    keys: &super::SecretKeys,
    batch: i64,
) -> diesel::QueryResult<RotateReport> {
    use diesel::sql_types::{Array, BigInt, Text};
    use diesel_async::RunQueryDsl;
    let sealing = keys.sealing_id().to_owned();
    // The LIKE pattern of "already under the sealing key" ('_' and '-' are literal in key
    // ids; '_' must be escaped for LIKE).
    let current = format!("{}{}:%", super::SEALED_PREFIX, sealing.replace('_', "\\_"));
    let mut report = RotateReport {
        key_id: sealing,
        ..RotateReport::default()
    };
    for (table, columns) in SEALED_COLUMNS {
        for column in *columns {
            let mut after = String::new();
            loop {
                // Names from the constant above, never from input.
                let rows: Vec<StoredValue> = diesel::sql_query(format!(
                    r#"SELECT id, "{column}" AS value FROM public.{table}
                       WHERE id > $1 AND "{column}" IS NOT NULL AND "{column}" NOT LIKE $2
                       ORDER BY id LIMIT $3"#
                ))
                .bind::<Text, _>(&after)
                .bind::<Text, _>(&current)
                .bind::<BigInt, _>(batch.max(1))
                .load(conn)
                .await?;
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                let (mut ids, mut old, mut new) = (Vec::new(), Vec::new(), Vec::new());
                let mut plaintext = std::collections::HashSet::new();
                for row in &rows {
                    let plain = if super::SecretKeys::key_id_of(&row.value).is_some() {
                        match keys.open(&row.value, &row.id, column) {
                            Ok(plain) => plain,
                            Err(e) => {
                                report.unreadable += 1;
                                if report.problems.len() < MAX_PROBLEMS {
                                    report
                                        .problems
                                        .push(format!("{table}.{column} {}: {e}", row.id));
                                }
                                continue;
                            }
                        }
                    } else {
                        plaintext.insert(row.id.as_str());
                        crate::Secret::new(row.value.as_str())
                    };
                    match keys.seal(&plain, &row.id, column) {
                        Ok(sealed) => {
                            ids.push(row.id.as_str());
                            old.push(row.value.as_str());
                            new.push(sealed);
                        }
                        Err(e) => {
                            report.unreadable += 1;
                            if report.problems.len() < MAX_PROBLEMS {
                                report
                                    .problems
                                    .push(format!("{table}.{column} {}: {e}", row.id));
                            }
                        }
                    }
                }
                if ids.is_empty() {
                    continue;
                }
                let written: Vec<WrittenId> = diesel::sql_query(format!(
                    r#"UPDATE public.{table} AS t SET "{column}" = v.new
                       FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, old, new)
                       WHERE t.id = v.id AND t."{column}" = v.old
                       RETURNING t.id"#
                ))
                .bind::<Array<Text>, _>(&ids)
                .bind::<Array<Text>, _>(&old)
                .bind::<Array<Text>, _>(&new)
                .load(conn)
                .await?;
                report.changed_concurrently += (ids.len() - written.len()) as i64;
                for w in &written {
                    if plaintext.contains(w.id.as_str()) {
                        report.sealed_plaintext += 1;
                    } else {
                        report.resealed += 1;
                    }
                }
            }
        }
    }
    Ok(report)
}
