#![doc = include_str!("../README.md")]

mod chunk;
mod conversation;
mod dataset;
mod document;
mod error;
mod hybrid;
mod index;
mod ingest;
mod message;
mod meta;
mod plan_memory;
mod prepared;
mod search;
mod space;
mod vector;
mod vector_table;

pub use chunk::{Chunk, ChunkChanges, NewChunk};
pub use conversation::{Conversation, ConversationChanges, NewConversation};
pub use dataset::{Dataset, DatasetChanges, NewDataset};
pub use document::{Document, DocumentChanges, NewDocument};
pub use error::RagError;
pub use hybrid::{HybridHit, HybridOptions, hybrid_statement};
pub use index::{
    BuildOutcome, BuildProgress, IndexManager, IndexMethod, IndexSpec, VectorIndex, ivfflat_lists,
};
pub use ingest::{ChunkRow, IngestTarget};
pub use message::{Message, MessageChanges, NewMessage};
pub use meta::{MAX_IN_VALUES, MAX_PATH_BYTES, MAX_PATH_DEPTH, MetaCondition, MetaTest, MetaValue};
pub use neonhub_schema::page::{Cursor, Page, PageRequest};
pub use plan_memory::{AUTO_PLAN_MEMORY, forget_plan_choices};
pub use search::{
    AUTO_EXACT_PARENT_ROWS, AUTO_EXACT_SPACE_ROWS, BINARY_RERANK_PER_ROW, Bind, DEFAULT_EF_SEARCH,
    DEFAULT_PROBES, EF_SEARCH_PER_ROW, EF_SEARCH_PER_ROW_FILTERED, Hit, IterativeScan, MAX_K,
    ParentFilter, SearchFilter, SearchOptions, SearchPlan, SearchStatement, explain,
    search_statement, vector_search,
};
pub use space::{EmbeddingSpace, EmbeddingSpaceChanges, MAX_DIMENSION, NewEmbeddingSpace};
pub use vector::validate_vector;
pub use vector_table::{Distance, IndexStorage, VectorTable};
