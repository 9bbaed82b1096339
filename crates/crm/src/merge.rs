//! The work of [`crate::Person::merge`], inside its transaction (both people locked).

use std::collections::BTreeMap;

use diesel::prelude::{QueryDsl, SelectableHelper};
use diesel::sql_types::Text;
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::PersonId;
use neonhub_schema::schema::people;
use neonhub_schema::time;

use crate::{CrmError, MergeReport, Person};

#[derive(QueryableByName)]
struct Reference {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Moves everything of `other` to `survivor`, fills the survivor's empty fields, deletes
/// `other`.
pub(crate) async fn move_everything(
    tx: &mut AsyncPgConnection,
    survivor: &PersonId,
    other: &PersonId,
) -> Result<MergeReport, CrmError> {
    let mut report = MergeReport::default();
    // Topics are unique per person: resolve the clashes before anything moves.
    sql_query(
        r#"UPDATE public.person_topics s SET weight = GREATEST(s.weight, o.weight),
               trend = COALESCE(s.trend, o.trend), "updatedAt" = $3
           FROM public.person_topics o
           WHERE s."personId" = $1 AND o."personId" = $2 AND o.name = s.name"#,
    )
    .bind::<Text, _>(survivor)
    .bind::<Text, _>(other)
    .bind::<diesel::sql_types::Timestamp, _>(time::now())
    .execute(tx)
    .await?;
    let clashed: Vec<Name> = sql_query(
        r#"DELETE FROM public.person_topics o USING public.person_topics s
           WHERE o."personId" = $2 AND s."personId" = $1 AND s.name = o.name
           RETURNING o.name"#,
    )
    .bind::<Text, _>(survivor)
    .bind::<Text, _>(other)
    .load(tx)
    .await?;
    report.topics_clashed = clashed.into_iter().map(|n| n.name).collect();
    report.topics_clashed.sort();
    // Every single-column foreign key to people, from the catalog (names quoted there).
    let references: Vec<Reference> = sql_query(
        r#"SELECT quote_ident(r.relname) AS table_name, quote_ident(a.attname) AS column_name
           FROM pg_constraint c
           JOIN pg_class r ON r.oid = c.conrelid
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
           WHERE c.contype = 'f' AND c.confrelid = 'public.people'::regclass
             AND cardinality(c.conkey) = 1
           ORDER BY 1, 2"#,
    )
    .load(tx)
    .await?;
    let mut moved = BTreeMap::new();
    for r in references {
        let n = sql_query(format!(
            "UPDATE public.{} SET {} = $1 WHERE {} = $2",
            r.table_name, r.column_name, r.column_name
        ))
        .bind::<Text, _>(survivor)
        .bind::<Text, _>(other)
        .execute(tx)
        .await?;
        if n > 0 {
            *moved
                .entry(r.table_name.trim_matches('"').to_owned())
                .or_insert(0) += n;
        }
    }
    report.moved = moved;
    // The merged person goes first: its external id is unique and may pass to the survivor.
    let gone: Person = diesel::delete(people::table.find(other))
        .returning(Person::as_returning())
        .get_result(tx)
        .await?;
    sql_query(
        r#"UPDATE public.people SET
               "externalId" = COALESCE("externalId", $2),
               "displayName" = COALESCE("displayName", $3),
               "primaryEmail" = COALESCE("primaryEmail", $4),
               "primaryPhone" = COALESCE("primaryPhone", $5),
               "primaryHandle" = COALESCE("primaryHandle", $6),
               locale = COALESCE(locale, $7),
               timezone = COALESCE(timezone, $8),
               "lastSeenAt" = GREATEST("lastSeenAt", $9),
               "updatedAt" = $10
           WHERE id = $1"#,
    )
    .bind::<Text, _>(survivor)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.external_id)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.display_name)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.primary_email)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.primary_phone)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.primary_handle)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.locale)
    .bind::<diesel::sql_types::Nullable<Text>, _>(gone.timezone)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>, _>(gone.last_seen_at)
    .bind::<diesel::sql_types::Timestamp, _>(time::now())
    .execute(tx)
    .await?;
    Ok(report)
}
