//! How large the values written through this crate may be. Checked before any query, so
//! an oversized value is a typed error naming its field, never a half-written row or a
//! server error.

use neonhub_schema::InvalidData;
use serde_json::Value;

/// The longest name, key, provider or version label, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// The longest description, in bytes.
pub const MAX_TEXT_LEN: usize = 10_000;
/// The largest JSON value (a config, schema, input, output or metrics), serialized, in
/// bytes: 1 MiB. Larger payloads belong in object storage, referenced by URL.
pub const MAX_JSON_BYTES: usize = 1 << 20;

/// A required name: 1 to [`MAX_NAME_LEN`] bytes, no NUL.
pub(crate) fn name(field: &str, value: &str) -> Result<(), InvalidData> {
    InvalidData::check_length(field, value, 1, MAX_NAME_LEN)
}

/// An optional free text: at most [`MAX_TEXT_LEN`] bytes, no NUL.
pub(crate) fn text(field: &str, value: Option<&str>) -> Result<(), InvalidData> {
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
