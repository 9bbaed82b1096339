//! The agents crate's errors: database failures plus one variant per business failure.

use diesel::result::Error as DieselError;
use neonhub_schema::enums::{AgentStatus, JobStatus, RunStatus, TrainStatus};

/// Which side of a tool's contract a value was checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ContractSide {
    /// The tool's `inputSchema` (checked when an execution starts).
    Input,
    /// The tool's `outputSchema` (checked when an execution completes).
    Output,
}

impl std::fmt::Display for ContractSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Output => "output",
        })
    }
}

/// Everything an agents repository function can fail with. Nothing is written when it fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The row does not exist in this organization (it may exist in another: not said).
    #[error("{entity} {id} not found")]
    NotFound {
        /// What was looked for.
        entity: &'static str,
        /// Its id (or natural key).
        id: String,
    },
    /// A referenced parent is not in this organization (or does not exist).
    #[error("{entity} {id} does not belong to this organization")]
    ForeignParent {
        /// The parent's kind.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The slug is taken in this organization.
    #[error("a {entity} with slug {slug:?} already exists in this organization")]
    DuplicateSlug {
        /// `agent`, `tool` or `inference endpoint`.
        entity: &'static str,
        /// The slug.
        slug: String,
    },
    /// An agent status change the lifecycle does not allow (or that lost a race: `from` is
    /// the status the row had when the change was refused).
    #[error("agent {id} cannot go from {from} to {to}")]
    AgentTransition {
        /// The agent.
        id: String,
        /// Its status.
        from: AgentStatus,
        /// The status asked for.
        to: AgentStatus,
    },
    /// A training job status change the lifecycle does not allow (or that lost a race).
    #[error("training job {id} cannot go from {from} to {to}")]
    TrainingTransition {
        /// The job.
        id: String,
        /// Its status.
        from: TrainStatus,
        /// The status asked for.
        to: TrainStatus,
    },
    /// A run started for an agent that is not `ACTIVE`.
    #[error("agent {id} is {status}: only an ACTIVE agent runs")]
    AgentNotActive {
        /// The agent.
        id: String,
        /// Its status.
        status: AgentStatus,
    },
    /// A run or tool execution finished (or given an execution) after it had finished.
    #[error("{entity} {id} already finished as {status}")]
    AlreadyFinished {
        /// `agent run` or `tool execution`.
        entity: &'static str,
        /// Its id.
        id: String,
        /// How it finished.
        status: RunStatus,
    },
    /// A run or execution finished with a status that is not an end (queued or running).
    #[error("{0} is not a final status: finish with completed, failed or cancelled")]
    NotFinal(RunStatus),
    /// A tool's `inputSchema` or `outputSchema` is not a valid JSON Schema (or names a
    /// remote `$ref`, which is never fetched).
    #[error("tool {field} is not a usable JSON Schema: {reason}")]
    InvalidSchema {
        /// `inputSchema` or `outputSchema`.
        field: &'static str,
        /// The validator's reason.
        reason: String,
    },
    /// A tool execution's input or output violates the tool's schema.
    #[error("{side} of tool {tool} violates its schema at {path:?}: {message}")]
    ContractViolation {
        /// The tool's slug.
        tool: String,
        /// Input or output.
        side: ContractSide,
        /// The JSON Pointer of the offending value (`""` is the whole value).
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// A row of a batch is refused; nothing of the batch was written.
    #[error("row {position} of the batch: {source}")]
    BatchRow {
        /// Zero-based position in the batch.
        position: usize,
        /// Why.
        source: Box<AgentError>,
    },
    /// A job enqueued in a scope that acts for no user: a job runs as its creator (never
    /// with every permission), so it needs one.
    #[error(
        "a job runs in its creator's scope: enqueue it in a member's scope, not a system scope"
    )]
    NoCreator,
    /// A job names an agent the organization does not have (by slug).
    #[error("no agent with slug {0:?} in this organization")]
    UnknownAgent(String),
    /// The worker's lease on the job is gone: it was rescued (and maybe claimed again) or
    /// cancelled. The completion, failure or heartbeat changed nothing.
    #[error("job {job}: lease {epoch} was lost (rescued or cancelled); nothing was written")]
    LeaseLost {
        /// The job.
        job: String,
        /// The lease epoch the worker held.
        epoch: i64,
    },
    /// A job operation its status does not allow (retrying a completed job, ...).
    #[error("job {id} is {status}: cannot {action}")]
    JobStatus {
        /// The job.
        id: String,
        /// Its status.
        status: JobStatus,
        /// What was asked (`retry`, `discard`, `cancel`).
        action: &'static str,
    },
    /// A worker could not open its connections.
    #[error(transparent)]
    Connect(#[from] neonhub_schema::ConnectError),
    /// The scope lacks the operation's permission key (nothing was read or written).
    #[error(transparent)]
    Denied(#[from] neonhub_schema::Denied),
    /// Input or stored data the database layer cannot take or read: a NUL byte, an empty
    /// or oversized value, a value out of range, a stored label this version does not know.
    #[error(transparent)]
    Invalid(#[from] neonhub_schema::InvalidData),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(DieselError),
}

impl AgentError {
    /// [`AgentError::NotFound`] for a row of `entity` with `id`.
    pub(crate) fn not_found(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// [`AgentError::ForeignParent`]: `id` of `entity` is not this organization's.
    pub(crate) fn foreign_parent(entity: &'static str, id: &impl std::fmt::Display) -> Self {
        Self::ForeignParent {
            entity,
            id: id.to_string(),
        }
    }

    /// `e` as [`AgentError::DuplicateSlug`] when it broke `constraint`, else as itself.
    pub(crate) fn slug_taken(
        e: DieselError,
        constraint: &str,
        entity: &'static str,
        slug: Option<&str>,
    ) -> Self {
        match (neonhub_schema::unique_violation(&e), slug) {
            (Some(c), Some(slug)) if c == constraint => Self::DuplicateSlug {
                entity,
                slug: slug.to_owned(),
            },
            _ => e.into(),
        }
    }
}

impl From<DieselError> for AgentError {
    /// Recognizes invalid input and unreadable rows ([`neonhub_schema::InvalidData`]) so
    /// they are never reported as an outage; anything else is [`AgentError::Database`].
    fn from(e: DieselError) -> Self {
        match neonhub_schema::InvalidData::recognize(&e) {
            Some(invalid) => Self::Invalid(invalid),
            None => Self::Database(e),
        }
    }
}

impl AgentError {
    /// The HTTP status a web service would normally answer: not found 404, duplicates, refused transitions and lost leases 409, bad schemas and contract violations 400.
    pub fn status_hint(&self) -> neonhub_schema::StatusHint {
        use neonhub_schema::StatusHint as S;
        match self {
            Self::NotFound { .. } | Self::ForeignParent { .. } | Self::UnknownAgent(_) => {
                S::NotFound
            }
            Self::DuplicateSlug { .. }
            | Self::AgentTransition { .. }
            | Self::TrainingTransition { .. }
            | Self::AgentNotActive { .. }
            | Self::AlreadyFinished { .. }
            | Self::NotFinal(_)
            | Self::LeaseLost { .. }
            | Self::JobStatus { .. } => S::Conflict,
            Self::InvalidSchema { .. } | Self::ContractViolation { .. } | Self::NoCreator => {
                S::BadRequest
            }
            Self::BatchRow { source, .. } => source.status_hint(),
            Self::Connect(c) => c.status_hint(),
            Self::Denied(d) => d.status_hint(),
            Self::Invalid(i) => i.status_hint(),
            Self::Database(e) => S::of_database(e),
        }
    }
}

neonhub_schema::impl_has_status_hint!(AgentError);
