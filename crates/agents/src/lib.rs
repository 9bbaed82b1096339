#![doc = include_str!("../README.md")]

mod agent;
mod capability;
mod config;
mod contract;
mod endpoint;
mod error;
mod execution;
mod job;
pub mod limits;
mod model;
pub mod queue;
mod run;
pub mod seed;
mod tool;
mod training;
mod worker;

pub use agent::{Agent, AgentChanges, NewAgent};
pub use capability::{AgentCapability, AgentCapabilityChanges, NewAgentCapability};
pub use config::AgentConfig;
pub use endpoint::{InferenceEndpoint, InferenceEndpointChanges, NewInferenceEndpoint};
pub use error::{AgentError, ContractSide};
pub use execution::{NewToolExecution, ToolExecution};
pub use job::{
    DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_RESCUES, Enqueued, Job, MAX_ATTEMPTS_LIMIT,
    MAX_RESCUES_LIMIT, NewJob,
};
pub use model::{ModelVersion, ModelVersionChanges, NewModelVersion};
pub use neonhub_schema::enums::{AgentKind, AgentStatus, JobStatus, RunStatus, TrainStatus};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use run::{AgentRun, AgentRunMetric, NewAgentRun, NewAgentRunMetric, RunOutcome};
pub use tool::{NewTool, Tool, ToolChanges};
pub use training::TrainingJob;
pub use worker::{
    Handler, HandlerFuture, HandlerResult, Worker, WorkerConfig, WorkerReport, WriteFreeHandler,
};
