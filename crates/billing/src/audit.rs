//! The audit that proves the ledger: for every profile, `spent` and `reserved` equal what
//! its entries say and what its open reservations hold, the total holds, no balance is
//! negative or a fraction of a minor unit; every campaign chain is gapless and adds up.

use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::ids::{BudgetProfileId, CampaignId, OrganizationId};
use neonhub_schema::{TenantScope, keys};

use crate::{BillingError, BudgetProfile};

/// One thing the audit found wrong, named so it can be found and fixed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Violation {
    /// A stored balance (`spent`, `reserved`, `totalBudget`) that is not a whole number of
    /// minor units, or a currency that is not ISO 4217.
    NotWholeMinor {
        /// The profile.
        profile: BudgetProfileId,
    },
    /// `spent` differs from the sum of its entries' `spentDelta`.
    SpentMismatch {
        /// The profile.
        profile: BudgetProfileId,
        /// Stored, in minor units.
        stored: i64,
        /// The entries' sum.
        entries: i64,
    },
    /// `reserved` differs from the sum of its entries' `reservedDelta`.
    ReservedMismatch {
        /// The profile.
        profile: BudgetProfileId,
        /// Stored, in minor units.
        stored: i64,
        /// The entries' sum.
        entries: i64,
    },
    /// `reserved` differs from what the open reservations hold.
    ReservationsMismatch {
        /// The profile.
        profile: BudgetProfileId,
        /// Stored, in minor units.
        stored: i64,
        /// What the open reservations hold.
        open: i64,
    },
    /// `spent + reserved` is above the total.
    OverTotal {
        /// The profile.
        profile: BudgetProfileId,
        /// Spent plus reserved, in minor units.
        committed: i64,
        /// The total.
        total: i64,
    },
    /// `spent` or `reserved` is negative.
    Negative {
        /// The profile.
        profile: BudgetProfileId,
    },
    /// A campaign chain's link whose sequence does not follow the previous one, whose
    /// `balanceBefore` is not the previous `balanceAfter`, or whose `balanceAfter` does not
    /// add up.
    BrokenChain {
        /// The campaign.
        campaign: CampaignId,
        /// The link's sequence.
        sequence: i64,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotWholeMinor { profile } => write!(
                f,
                "profile {profile}: a balance is not whole minor units of an ISO 4217 currency"
            ),
            Self::SpentMismatch {
                profile,
                stored,
                entries,
            } => write!(
                f,
                "profile {profile}: spent is {stored} but its entries sum to {entries} (minor units)"
            ),
            Self::ReservedMismatch {
                profile,
                stored,
                entries,
            } => write!(
                f,
                "profile {profile}: reserved is {stored} but its entries sum to {entries} (minor units)"
            ),
            Self::ReservationsMismatch {
                profile,
                stored,
                open,
            } => write!(
                f,
                "profile {profile}: reserved is {stored} but its open reservations hold {open} (minor units)"
            ),
            Self::OverTotal {
                profile,
                committed,
                total,
            } => write!(
                f,
                "profile {profile}: spent + reserved is {committed}, above its total of {total} (minor units)"
            ),
            Self::Negative { profile } => {
                write!(f, "profile {profile}: spent or reserved is negative")
            }
            Self::BrokenChain {
                campaign,
                sequence,
                reason,
            } => write!(f, "campaign {campaign}, transaction {sequence}: {reason}"),
        }
    }
}

/// What the audit checked and found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AuditReport {
    /// Profiles checked.
    pub profiles: u64,
    /// Ledger entries summed.
    pub entries: u64,
    /// Profiles holding entries written before adoption (without deltas): their sums are
    /// not checked, the rest is.
    pub unaudited: Vec<BudgetProfileId>,
    /// Campaign chains checked.
    pub chains: u64,
    /// Everything found wrong (empty when the ledger is proven).
    pub violations: Vec<Violation>,
}

impl AuditReport {
    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

impl BudgetProfile {
    /// Audits every profile and campaign chain of this organization (in one snapshot: a
    /// repeatable-read transaction would need a session the pooler may not keep, so the
    /// profiles and chains are each read in one statement).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "budget ledger", op = "audit"))]
    pub async fn audit(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
    ) -> Result<AuditReport, BillingError> {
        scope.require(keys::BILLING_READ)?;
        scope
            .transaction(conn, async |tx| {
                let mut reports = audit_where(tx, Some(scope.organization_id())).await?;
                Ok(reports.pop().map(|(_, r)| r).unwrap_or_default())
            })
            .await
    }
}

/// Audits every organization's ledger, on the owner's connection (system work: `neonhub
/// verify`); one report per organization that has a profile or a chain.
pub async fn audit_all(
    conn: &mut AsyncPgConnection,
) -> Result<Vec<(OrganizationId, AuditReport)>, BillingError> {
    audit_where(conn, None).await
}

#[derive(diesel::QueryableByName)]
struct ProfileAudit {
    #[diesel(sql_type = Text)]
    org: OrganizationId,
    #[diesel(sql_type = Text)]
    id: BudgetProfileId,
    #[diesel(sql_type = Bool)]
    whole: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    spent: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    reserved: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    total: Option<i64>,
    #[diesel(sql_type = BigInt)]
    entry_spent: i64,
    #[diesel(sql_type = BigInt)]
    entry_reserved: i64,
    #[diesel(sql_type = BigInt)]
    legacy: i64,
    #[diesel(sql_type = BigInt)]
    entries: i64,
    #[diesel(sql_type = BigInt)]
    open_reserved: i64,
}

#[derive(diesel::QueryableByName)]
struct ChainAudit {
    #[diesel(sql_type = Text)]
    org: OrganizationId,
    #[diesel(sql_type = Nullable<Text>)]
    campaign: Option<CampaignId>,
    #[diesel(sql_type = Nullable<BigInt>)]
    sequence: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
}

const PROFILES: &str = r#"
SELECT p."organizationId" AS org, p.id,
       public.nh_is_whole_minor(p.spent, p.currency) AND public.nh_is_whole_minor(p.reserved, p.currency)
         AND public.nh_is_whole_minor(p."totalBudget", p.currency) AS whole,
       public.nh_minor_units(p.spent, p.currency) AS spent,
       public.nh_minor_units(p.reserved, p.currency) AS reserved,
       public.nh_minor_units(p."totalBudget", p.currency) AS total,
       coalesce(l.spent, 0)::bigint AS entry_spent, coalesce(l.reserved, 0)::bigint AS entry_reserved,
       coalesce(l.legacy, 0)::bigint AS legacy, coalesce(l.entries, 0)::bigint AS entries,
       coalesce(r.open, 0)::bigint AS open_reserved
FROM public.budget_profiles p
LEFT JOIN LATERAL (
    SELECT sum("spentDelta") AS spent, sum("reservedDelta") AS reserved,
           count(*) FILTER (WHERE "spentDelta" IS NULL OR "reservedDelta" IS NULL) AS legacy,
           count(*) AS entries
    FROM public.budget_ledger WHERE "budgetProfileId" = p.id) l ON true
LEFT JOIN LATERAL (
    SELECT sum(amount) AS open FROM public.budget_reservations
    WHERE "budgetProfileId" = p.id AND status = 'open') r ON true
WHERE $1 = '' OR p."organizationId" = $1
ORDER BY p."organizationId", p.id"#;

/// Every chain, as one row per organization and campaign (reason NULL), plus one row per
/// broken link (with its reason).
const CHAINS: &str = r#"
WITH links AS (
    SELECT "organizationId" AS org, "campaignId" AS campaign, sequence, type::text AS kind,
           public.nh_minor_units(amount, currency) AS amount,
           public.nh_minor_units("balanceBefore", currency) AS before,
           public.nh_minor_units("balanceAfter", currency) AS after,
           lag(sequence) OVER w AS prev_sequence,
           lag(public.nh_minor_units("balanceAfter", currency)) OVER w AS prev_after
    FROM public.budget_transactions
    WHERE sequence IS NOT NULL AND ($1 = '' OR "organizationId" = $1)
    WINDOW w AS (PARTITION BY "campaignId" ORDER BY sequence)
)
SELECT org, campaign, NULL::bigint AS sequence, NULL::text AS reason
FROM links GROUP BY org, campaign
UNION ALL
SELECT org, campaign, sequence,
       CASE
         WHEN amount IS NULL OR before IS NULL OR after IS NULL
           THEN 'an amount is not whole minor units of an ISO 4217 currency'
         WHEN prev_sequence IS NULL AND sequence <> 1
           THEN 'the chain starts at ' || sequence || ', not 1'
         WHEN prev_sequence IS NOT NULL AND sequence <> prev_sequence + 1
           THEN 'follows ' || prev_sequence || ': a gap'
         WHEN prev_after IS NOT NULL AND before <> prev_after
           THEN 'balanceBefore ' || before || ' is not the previous balanceAfter ' || prev_after
         ELSE 'balanceAfter ' || after || ' does not follow from ' || kind || ' ' || amount
       END
FROM links
WHERE amount IS NULL OR before IS NULL OR after IS NULL
   OR (prev_sequence IS NULL AND sequence <> 1)
   OR (prev_sequence IS NOT NULL AND sequence <> prev_sequence + 1)
   OR (prev_after IS NOT NULL AND before <> prev_after)
   OR after <> before + CASE kind WHEN 'spend' THEN amount WHEN 'refund' THEN -amount
                                  WHEN 'adjustment' THEN amount ELSE 0 END
ORDER BY 1, 2, 3 NULLS FIRST"#;

async fn audit_where(
    conn: &mut AsyncPgConnection,
    org: Option<&OrganizationId>,
) -> Result<Vec<(OrganizationId, AuditReport)>, BillingError> {
    let filter = org.map_or("", OrganizationId::as_str);
    let profiles: Vec<ProfileAudit> = diesel::sql_query(PROFILES)
        .bind::<Text, _>(filter)
        .load(conn)
        .await?;
    let chains: Vec<ChainAudit> = diesel::sql_query(CHAINS)
        .bind::<Text, _>(filter)
        .load(conn)
        .await?;
    let mut reports: std::collections::BTreeMap<OrganizationId, AuditReport> = Default::default();
    for p in profiles {
        let report = reports.entry(p.org).or_default();
        report.profiles += 1;
        report.entries += p.entries.unsigned_abs();
        let (Some(spent), Some(reserved), true) = (p.spent, p.reserved, p.whole) else {
            report
                .violations
                .push(Violation::NotWholeMinor { profile: p.id });
            continue;
        };
        if spent < 0 || reserved < 0 {
            report.violations.push(Violation::Negative {
                profile: p.id.clone(),
            });
        }
        if let Some(total) = p.total
            && spent + reserved > total
        {
            report.violations.push(Violation::OverTotal {
                profile: p.id.clone(),
                committed: spent + reserved,
                total,
            });
        }
        if p.legacy > 0 {
            report.unaudited.push(p.id);
            continue;
        }
        if reserved != p.open_reserved {
            report.violations.push(Violation::ReservationsMismatch {
                profile: p.id.clone(),
                stored: reserved,
                open: p.open_reserved,
            });
        }
        if spent != p.entry_spent {
            report.violations.push(Violation::SpentMismatch {
                profile: p.id.clone(),
                stored: spent,
                entries: p.entry_spent,
            });
        }
        if reserved != p.entry_reserved {
            report.violations.push(Violation::ReservedMismatch {
                profile: p.id.clone(),
                stored: reserved,
                entries: p.entry_reserved,
            });
        }
    }
    for c in chains {
        let report = reports.entry(c.org).or_default();
        match (c.campaign, c.sequence, c.reason) {
            (Some(campaign), Some(sequence), Some(reason)) => {
                report.violations.push(Violation::BrokenChain {
                    campaign,
                    sequence,
                    reason,
                })
            }
            _ => report.chains += 1,
        }
    }
    Ok(reports.into_iter().collect())
}

/// The state of one of the money CHECK constraints the billing migration adds `NOT VALID`
/// (so adopting a database with legacy float values does not fail).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MoneyCheck {
    /// The table.
    pub table: String,
    /// The constraint.
    pub constraint: String,
    /// Whether PostgreSQL has validated it (every row holds).
    pub validated: bool,
    /// Rows that break it (zero for a validated one: not counted).
    pub violating_rows: i64,
}

impl MoneyCheck {
    /// The statement that validates it once its rows are fixed.
    pub fn validate_statement(&self) -> String {
        format!(
            "ALTER TABLE public.{} VALIDATE CONSTRAINT \"{}\"",
            self.table, self.constraint
        )
    }
}

/// Every money CHECK constraint, and for each one not yet validated the rows that would
/// not validate (system work, on the owner's connection: `neonhub verify`).
pub async fn money_checks(conn: &mut AsyncPgConnection) -> Result<Vec<MoneyCheck>, BillingError> {
    #[derive(diesel::QueryableByName)]
    struct Constraint {
        #[diesel(sql_type = Text)]
        tbl: String,
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Bool)]
        validated: bool,
        #[diesel(sql_type = Text)]
        expr: String,
    }
    let constraints: Vec<Constraint> = diesel::sql_query(
        r#"SELECT c.conrelid::regclass::text AS tbl, c.conname::text AS name, c.convalidated AS validated,
                  pg_get_expr(c.conbin, c.conrelid) AS expr
           FROM pg_constraint c
           WHERE c.connamespace = 'public'::regnamespace AND c.contype = 'c'
             AND c.conname IN ('budget_profiles_money_check', 'budget_profiles_nonnegative_check',
                 'budget_profiles_limit_check', 'budget_allocations_money_check', 'budget_ledger_money_check',
                 'budget_transactions_money_check', 'payments_money_check', 'payouts_money_check')
           ORDER BY 1, 2"#,
    )
    .load(conn)
    .await?;
    let mut out = Vec::with_capacity(constraints.len());
    for c in constraints {
        let violating_rows = if c.validated {
            0
        } else {
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = BigInt)]
                n: i64,
            }
            // The table and expression come from the catalog, not from input.
            diesel::sql_query(format!(
                "SELECT count(*) AS n FROM {} WHERE NOT coalesce({}, true)",
                c.tbl, c.expr
            ))
            .get_result::<Count>(conn)
            .await?
            .n
        };
        out.push(MoneyCheck {
            table: c.tbl.trim_start_matches("public.").to_owned(),
            constraint: c.name,
            validated: c.validated,
            violating_rows,
        });
    }
    Ok(out)
}
