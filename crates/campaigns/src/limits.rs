//! How large the values written through this crate may be. Checked before any query, so
//! an oversized value is a typed error naming its field, never a half-written row.

use neonhub_schema::InvalidData;
use serde_json::Value;

/// The longest name, slug, label, channel, platform or kind, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// The longest free text (a post, an email body, a template, a description), in bytes.
pub const MAX_TEXT_LEN: usize = 100_000;
/// The largest JSON value (config, metrics, style rules), serialized: 1 MiB.
pub const MAX_JSON_BYTES: usize = 1 << 20;
/// The most rows one bulk call writes.
pub const MAX_BATCH: usize = 5_000;

/// A required name: 1 to [`MAX_NAME_LEN`] bytes, no NUL.
pub(crate) fn name(field: &str, value: &str) -> Result<(), InvalidData> {
    InvalidData::check_length(field, value, 1, MAX_NAME_LEN)
}

/// An optional short text: at most [`MAX_NAME_LEN`] bytes, no NUL.
pub(crate) fn short(field: &str, value: Option<&str>) -> Result<(), InvalidData> {
    value.map_or(Ok(()), |v| {
        InvalidData::check_length(field, v, 0, MAX_NAME_LEN)
    })
}

/// A required free text: 1 to [`MAX_TEXT_LEN`] bytes, no NUL.
pub(crate) fn text(field: &str, value: &str) -> Result<(), InvalidData> {
    InvalidData::check_length(field, value, 1, MAX_TEXT_LEN)
}

/// An optional free text: at most [`MAX_TEXT_LEN`] bytes, no NUL.
pub(crate) fn text_opt(field: &str, value: Option<&str>) -> Result<(), InvalidData> {
    value.map_or(Ok(()), |v| {
        InvalidData::check_length(field, v, 0, MAX_TEXT_LEN)
    })
}

/// An optional JSON value: at most [`MAX_JSON_BYTES`] serialized, no NUL in any string.
pub(crate) fn json(field: &str, value: Option<&Value>) -> Result<(), InvalidData> {
    value.map_or(Ok(()), |v| {
        InvalidData::check_json_size(field, v, MAX_JSON_BYTES)
    })
}
