//! Merging duplicate leads of an adopted database (`neonhub leads dedupe`), then the unique
//! index that keeps them one per organization and email. System work, on the owner's
//! connection, across organizations; a migration never rewrites data, so this is a command
//! an operator runs (and reads the report of first).
//!
//! The rule: leads are duplicates when their organization and email (trimmed, lower-cased)
//! agree. The survivor is the one converted first, else the one created first (then the
//! smallest id). The others' touchpoints move to it; its counts become the sums
//! (`touchCount`, `pageViews`), its score and engagement the highest, its first touch the
//! earliest and its last touch the latest; its empty fields are filled from the others,
//! oldest first; its status and conversion stay its own. Then the others are deleted.

use diesel::sql_types::{Array, BigInt, Text};
use diesel::{QueryableByName, sql_query};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use neonhub_schema::ids::{MarketingLeadId, OrganizationId};

use crate::CampaignError;

/// The unique index `neonhub leads dedupe --apply` creates once no duplicate is left.
pub const LEADS_EMAIL_KEY: &str = "marketing_leads_organizationId_email_key";

/// One set of duplicate leads.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName, serde::Serialize)]
pub struct DuplicateGroup {
    /// The organization.
    #[diesel(sql_type = Text)]
    pub organization_id: OrganizationId,
    /// The email, trimmed and lower-cased.
    #[diesel(sql_type = Text)]
    pub email: String,
    /// The lead that stays.
    #[diesel(sql_type = Text)]
    pub survivor: MarketingLeadId,
    /// The leads merged into it.
    #[diesel(sql_type = Array<Text>)]
    pub merged: Vec<String>,
}

/// What [`merge_duplicate_leads`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DedupeReport {
    /// The groups merged.
    pub groups: Vec<DuplicateGroup>,
    /// Touchpoints moved to survivors.
    pub touchpoints_moved: usize,
    /// Leads deleted.
    pub leads_deleted: usize,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

const GROUPS: &str = r#"
    SELECT "organizationId" AS organization_id, e AS email, survivor,
           array_agg(id ORDER BY id) FILTER (WHERE id <> survivor) AS merged
    FROM (SELECT id, "organizationId", lower(btrim(email)) AS e,
                 first_value(id) OVER (PARTITION BY "organizationId", lower(btrim(email))
                                       ORDER BY "convertedAt" ASC NULLS LAST, "createdAt", id) AS survivor,
                 count(*) OVER (PARTITION BY "organizationId", lower(btrim(email))) AS n
          FROM public.marketing_leads) l
    WHERE n > 1
    GROUP BY 1, 2, 3
    ORDER BY 1, 2"#;

/// The duplicate groups, and which lead of each would stay (nothing is changed).
pub async fn duplicate_leads(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<DuplicateGroup>, CampaignError> {
    Ok(sql_query(GROUPS).load(conn).await?)
}

/// Merges every duplicate group by the module's rule, in one transaction (all of it or
/// nothing).
pub async fn merge_duplicate_leads(
    conn: &mut AsyncPgConnection,
) -> Result<DedupeReport, CampaignError> {
    conn.transaction(async |tx| {
        // No lead is added or changed under the merge.
        tx.batch_execute("LOCK TABLE public.marketing_leads IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let groups: Vec<DuplicateGroup> = sql_query(GROUPS).load(tx).await?;
        let mut report = DedupeReport::default();
        for g in &groups {
            report.touchpoints_moved += sql_query(
                r#"UPDATE public.marketing_touchpoints SET "leadId" = $1 WHERE "leadId" = ANY($2)"#,
            )
            .bind::<Text, _>(&g.survivor)
            .bind::<Array<Text>, _>(&g.merged)
            .execute(tx)
            .await?;
            sql_query(
                r#"UPDATE public.marketing_leads s SET
                       "touchCount" = a.touches, "pageViews" = a.views,
                       score = a.score, "engagementScore" = a.engagement,
                       grade = (CASE WHEN a.score >= 80 THEN 'A' WHEN a.score >= 60 THEN 'B'
                                     WHEN a.score >= 40 THEN 'C' WHEN a.score >= 20 THEN 'D'
                                     ELSE 'F' END)::"MarketingLeadGrade",
                       "firstTouch" = a.first_touch, "lastTouch" = a.last_touch,
                       "firstName" = coalesce(s."firstName", a.first_name),
                       "lastName" = coalesce(s."lastName", a.last_name),
                       company = coalesce(s.company, a.company),
                       phone = coalesce(s.phone, a.phone),
                       medium = coalesce(s.medium, a.medium),
                       campaign = coalesce(s.campaign, a.campaign),
                       "campaignId" = coalesce(s."campaignId", a.campaign_id),
                       "utmParams" = coalesce(s."utmParams", a.utm),
                       "updatedAt" = date_trunc('milliseconds', now() AT TIME ZONE 'UTC')
                   FROM (SELECT sum("touchCount")::int AS touches, sum("pageViews")::int AS views,
                                max(score) AS score, max("engagementScore") AS engagement,
                                min("firstTouch") AS first_touch, max("lastTouch") AS last_touch,
                                (array_agg("firstName" ORDER BY "createdAt", id) FILTER (WHERE "firstName" IS NOT NULL))[1] AS first_name,
                                (array_agg("lastName" ORDER BY "createdAt", id) FILTER (WHERE "lastName" IS NOT NULL))[1] AS last_name,
                                (array_agg(company ORDER BY "createdAt", id) FILTER (WHERE company IS NOT NULL))[1] AS company,
                                (array_agg(phone ORDER BY "createdAt", id) FILTER (WHERE phone IS NOT NULL))[1] AS phone,
                                (array_agg(medium ORDER BY "createdAt", id) FILTER (WHERE medium IS NOT NULL))[1] AS medium,
                                (array_agg(campaign ORDER BY "createdAt", id) FILTER (WHERE campaign IS NOT NULL))[1] AS campaign,
                                (array_agg("campaignId" ORDER BY "createdAt", id) FILTER (WHERE "campaignId" IS NOT NULL))[1] AS campaign_id,
                                (array_agg("utmParams" ORDER BY "createdAt", id) FILTER (WHERE "utmParams" IS NOT NULL))[1] AS utm
                         FROM public.marketing_leads WHERE id = $1 OR id = ANY($2)) a
                   WHERE s.id = $1"#,
            )
            .bind::<Text, _>(&g.survivor)
            .bind::<Array<Text>, _>(&g.merged)
            .execute(tx)
            .await?;
            report.leads_deleted += sql_query(r#"DELETE FROM public.marketing_leads WHERE id = ANY($1)"#)
                .bind::<Array<Text>, _>(&g.merged)
                .execute(tx)
                .await?;
        }
        report.groups = groups;
        Ok(report)
    })
    .await
}

/// Creates [`LEADS_EMAIL_KEY`] without blocking writers (`CONCURRENTLY`, so outside any
/// transaction); an invalid one a failed earlier attempt left is dropped first. Fails
/// (leaving no index) while duplicates remain. Returns whether it was created now.
pub async fn create_leads_email_key(conn: &mut AsyncPgConnection) -> Result<bool, CampaignError> {
    let state: Count = sql_query(
        r#"SELECT (CASE WHEN NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1) THEN 0
                        WHEN EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                     WHERE c.relname = $1 AND i.indisvalid) THEN 1
                        ELSE 2 END)::bigint AS n"#,
    )
    .bind::<Text, _>(LEADS_EMAIL_KEY)
    .get_result(conn)
    .await?;
    match state.n {
        1 => return Ok(false),
        2 => {
            conn.batch_execute(&format!(
                r#"DROP INDEX CONCURRENTLY IF EXISTS public."{LEADS_EMAIL_KEY}""#
            ))
            .await?
        }
        _ => {}
    }
    let created = conn
        .batch_execute(&format!(
            r#"CREATE UNIQUE INDEX CONCURRENTLY "{LEADS_EMAIL_KEY}"
                   ON public.marketing_leads ("organizationId", lower(btrim(email)))"#
        ))
        .await;
    if let Err(e) = created {
        // A failed CONCURRENTLY build leaves an invalid index behind: not ours to keep.
        let _ = conn
            .batch_execute(&format!(
                r#"DROP INDEX CONCURRENTLY IF EXISTS public."{LEADS_EMAIL_KEY}""#
            ))
            .await;
        return Err(e.into());
    }
    Ok(true)
}
