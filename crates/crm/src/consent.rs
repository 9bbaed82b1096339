//! Consent: an append-only history per person and channel (optionally per campaign); the
//! latest record decides whether the person may be contacted.

use chrono::NaiveDateTime;
use diesel::IntoSql;
use diesel::dsl::case_when;
use diesel::prelude::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable,
    SelectableHelper,
};
use diesel::sql_types::Integer;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use neonhub_schema::enums::ConsentStatus;
use neonhub_schema::ids::{MarketingCampaignId, PersonConsentId, PersonId};
use neonhub_schema::schema::{marketing_campaigns, person_consents};
use neonhub_schema::{InvalidData, TenantScope, keys, time};
use serde_json::Value;

use crate::{CrmError, Person, limits, suppression};

/// One consent record: what the person said, for a channel (and maybe one campaign), when.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = person_consents, check_for_backend(diesel::pg::Pg))]
pub struct Consent {
    /// Primary key.
    pub id: PersonConsentId,
    /// The person.
    #[diesel(column_name = personId)]
    pub person_id: PersonId,
    /// The organization.
    #[diesel(column_name = organizationId)]
    pub organization_id: neonhub_schema::ids::OrganizationId,
    /// The campaign it is limited to (`None`: the whole channel).
    #[diesel(column_name = campaignId)]
    pub campaign_id: Option<MarketingCampaignId>,
    /// The channel (`email`, `sms`, `whatsapp`, ...).
    pub channel: String,
    /// What the person said.
    pub status: ConsentStatus,
    /// Where it was collected (a form, an import, an unsubscribe link).
    pub source: Option<String>,
    /// When the person said it (UTC).
    #[diesel(column_name = collectedAt)]
    pub collected_at: NaiveDateTime,
    /// When a grant lapses (`None`: never).
    #[diesel(column_name = expiresAt)]
    pub expires_at: Option<NaiveDateTime>,
    /// Proof (the form's text, an IP address, a double opt-in token's use).
    pub evidence: Option<Value>,
    /// Free-form metadata.
    pub metadata: Option<Value>,
    /// When the row was written.
    #[diesel(column_name = updatedAt)]
    pub updated_at: NaiveDateTime,
}

/// A consent to record.
#[derive(Debug, Clone)]
pub struct NewConsent<'a> {
    /// The channel (1 to 200 bytes).
    pub channel: &'a str,
    /// Limited to this campaign (of this organization), or the whole channel.
    pub campaign: Option<&'a MarketingCampaignId>,
    /// What the person said.
    pub status: ConsentStatus,
    /// Where it was collected.
    pub source: Option<&'a str>,
    /// When the person said it (`None`: now).
    pub collected_at: Option<NaiveDateTime>,
    /// When a grant lapses.
    pub expires_at: Option<NaiveDateTime>,
    /// Proof.
    pub evidence: Option<&'a Value>,
    /// Free-form metadata.
    pub metadata: Option<&'a Value>,
}

/// Why contact is or is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContactReason {
    /// The deciding record grants it and has not expired.
    Granted,
    /// No record for this person, channel and campaign (nor for the whole channel).
    NoConsent,
    /// The deciding record granted it, but the grant has expired.
    Expired,
    /// The deciding record is not a grant (denied, revoked or pending).
    NotGranted(ConsentStatus),
    /// The consent would allow it, but one of the person's identities is on the suppression
    /// list (someone erased, re-imported; or who asked never to be contacted): no channel
    /// may reach them, whatever they consented to.
    Suppressed,
}

/// The answer of [`Consent::may_contact`], with the record that decided it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContactDecision {
    /// Whether the person may be contacted.
    pub allowed: bool,
    /// Why.
    pub reason: ContactReason,
    /// The deciding record (`None` with [`ContactReason::NoConsent`]).
    pub deciding: Option<Consent>,
}

impl ContactDecision {
    /// The decision `deciding` makes at `now`.
    fn from_record(deciding: Option<Consent>, now: NaiveDateTime) -> Self {
        let reason = match &deciding {
            None => ContactReason::NoConsent,
            Some(c) if c.status != ConsentStatus::Granted => ContactReason::NotGranted(c.status),
            Some(c) if c.expires_at.is_some_and(|at| at <= now) => ContactReason::Expired,
            Some(_) => ContactReason::Granted,
        };
        Self {
            allowed: reason == ContactReason::Granted,
            reason,
            deciding,
        }
    }
}

impl Consent {
    /// Records a consent (a new row: the history is never changed). `collected_at` in the
    /// future is refused; the campaign must be this organization's.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_consent", op = "record"))]
    pub async fn record(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        new: &NewConsent<'_>,
    ) -> Result<Self, CrmError> {
        scope.require(keys::CRM_WRITE)?;
        limits::name("channel", new.channel)?;
        limits::short("source", new.source)?;
        limits::json("evidence", new.evidence)?;
        limits::json("metadata", new.metadata)?;
        let now = time::now();
        let collected_at = new.collected_at.unwrap_or(now);
        InvalidData::check_timestamp("collectedAt", collected_at)?;
        if collected_at > now + chrono::Duration::minutes(5) {
            return Err(InvalidData::OutOfRange(format!(
                "collectedAt {collected_at} is in the future"
            ))
            .into());
        }
        if let Some(at) = new.expires_at {
            InvalidData::check_timestamp("expiresAt", at)?;
        }
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                if let Some(campaign) = new.campaign {
                    let n: i64 = marketing_campaigns::table
                        .find(campaign)
                        .filter(marketing_campaigns::organizationId.eq(scope.organization_id()))
                        .count()
                        .get_result(tx)
                        .await?;
                    if n == 0 {
                        return Err(CrmError::foreign_parent("marketing campaign", campaign));
                    }
                }
                Ok(diesel::insert_into(person_consents::table)
                    .values((
                        person_consents::id.eq(PersonConsentId::generate()),
                        person_consents::personId.eq(person),
                        person_consents::organizationId.eq(scope.organization_id()),
                        person_consents::campaignId.eq(new.campaign),
                        person_consents::channel.eq(new.channel),
                        person_consents::status.eq(new.status),
                        person_consents::source.eq(new.source),
                        person_consents::collectedAt.eq(collected_at),
                        person_consents::expiresAt.eq(new.expires_at),
                        person_consents::evidence.eq(new.evidence),
                        person_consents::metadata.eq(new.metadata),
                        person_consents::updatedAt.eq(now),
                    ))
                    .returning(Self::as_returning())
                    .get_result(tx)
                    .await?)
            })
            .await
    }

    /// The person's consent history (one channel's, or all), newest first.
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_consent", op = "history"))]
    pub async fn history(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        channel: Option<&str>,
    ) -> Result<Vec<Self>, CrmError> {
        scope.require(keys::CRM_READ)?;
        scope
            .transaction(conn, async |tx| {
                Person::parent(tx, scope, person).await?;
                let mut query = person_consents::table
                    .filter(person_consents::personId.eq(person))
                    .filter(person_consents::organizationId.eq(scope.organization_id()))
                    .order((
                        person_consents::collectedAt.desc(),
                        person_consents::id.desc(),
                    ))
                    .select(Self::as_select())
                    .into_boxed();
                if let Some(channel) = channel {
                    query = query.filter(person_consents::channel.eq(channel));
                }
                Ok(query.load(tx).await?)
            })
            .await
    }

    /// Whether the person may be contacted on `channel` (for `campaign`, if given), with the
    /// record that decides it: among the records for the channel, a campaign-specific one
    /// (for this campaign) takes precedence over a channel-wide one; then the latest by
    /// `collectedAt`; at the same instant the more restrictive status (denied, then
    /// revoked, then pending, then granted). A grant that has expired does not allow
    /// contact. A person of another organization (or none) has no consent here. When the
    /// consent allows contact, the person's identities are checked against the suppression
    /// list last: a suppressed one refuses every channel ([`ContactReason::Suppressed`],
    /// with the deciding record). Needs the suppression key (checked first, every call).
    #[tracing::instrument(skip_all, fields(org = %scope.organization_id(), entity = "person_consent", op = "may_contact"))]
    pub async fn may_contact(
        conn: &mut AsyncPgConnection,
        scope: &TenantScope,
        person: &PersonId,
        channel: &str,
        campaign: Option<&MarketingCampaignId>,
    ) -> Result<ContactDecision, CrmError> {
        scope.require(keys::CRM_READ)?;
        limits::name("channel", channel)?;
        let suppression_keys = suppression::keys()?;
        scope
            .transaction(conn, async |tx| {
                let rank = |n: i32| n.into_sql::<Integer>();
                let restrictive =
                    case_when(person_consents::status.eq(ConsentStatus::Denied), rank(0))
                        .when(person_consents::status.eq(ConsentStatus::Revoked), rank(1))
                        .when(person_consents::status.eq(ConsentStatus::Pending), rank(2))
                        .otherwise(rank(3));
                let base = person_consents::table
                    .filter(person_consents::personId.eq(person))
                    .filter(person_consents::channel.eq(channel))
                    .filter(person_consents::organizationId.eq(scope.organization_id()));
                // Two fixed statement shapes (not a boxed query), so each stays prepared;
                // the person's identities are fetched in the same round trip (pipelined).
                let shared: &AsyncPgConnection = tx;
                let identities = suppression::identity_values(shared, person);
                let deciding = async {
                    let mut tx = shared;
                    match campaign {
                        Some(campaign) => base
                            .filter(
                                person_consents::campaignId
                                    .is_null()
                                    .or(person_consents::campaignId.eq(campaign)),
                            )
                            .order((
                                person_consents::campaignId.is_not_null().desc(),
                                person_consents::collectedAt.desc(),
                                restrictive.asc(),
                                person_consents::id.desc(),
                            ))
                            .select(Self::as_select())
                            .first(&mut tx)
                            .await
                            .optional(),
                        None => base
                            .filter(person_consents::campaignId.is_null())
                            .order((
                                person_consents::collectedAt.desc(),
                                restrictive.asc(),
                                person_consents::id.desc(),
                            ))
                            .select(Self::as_select())
                            .first(&mut tx)
                            .await
                            .optional(),
                    }
                };
                let (deciding, identities) = tokio::join!(deciding, identities);
                let (deciding, identities) = (deciding?, identities?);
                let decision = ContactDecision::from_record(deciding, time::now());
                if !decision.allowed {
                    return Ok(decision);
                }
                let identities = suppression::identity_set(
                    identities.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                );
                let suppressed = !suppression::matches(tx, scope, &suppression_keys, &identities)
                    .await?
                    .is_empty();
                Ok(if suppressed {
                    ContactDecision {
                        allowed: false,
                        reason: ContactReason::Suppressed,
                        ..decision
                    }
                } else {
                    decision
                })
            })
            .await
    }
}
