#![doc = include_str!("../README.md")]

mod chunk;
mod conversation;
mod dataset;
mod document;
mod error;
mod message;
mod page;
mod space;
mod vector;

pub use chunk::{Chunk, ChunkChanges, NewChunk};
pub use conversation::{Conversation, ConversationChanges, NewConversation};
pub use dataset::{Dataset, DatasetChanges, NewDataset};
pub use document::{Document, DocumentChanges, NewDocument};
pub use error::RagError;
pub use message::{Message, MessageChanges, NewMessage};
pub use page::{Cursor, Page, PageRequest};
pub use space::{EmbeddingSpace, EmbeddingSpaceChanges, MAX_DIMENSION, NewEmbeddingSpace};
pub use vector::validate_vector;
