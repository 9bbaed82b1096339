//! Tool contracts: a tool's `inputSchema` and `outputSchema` are JSON Schemas, compiled
//! offline (a `$ref` that is not inside the schema is refused, never fetched, whatever
//! features another crate turns on for `jsonschema`) and checked against each execution's
//! input and output.

use serde_json::Value;

use crate::{AgentError, ContractSide};

/// Compiles `schema` (the tool column `field`), refusing one that is not a valid JSON
/// Schema of its draft or that needs a remote document.
pub(crate) fn compile(
    field: &'static str,
    schema: &Value,
) -> Result<jsonschema::Validator, AgentError> {
    jsonschema::options()
        .offline()
        .build(schema)
        .map_err(|e| AgentError::InvalidSchema {
            field,
            reason: e.to_string(),
        })
}

/// Checks `value` against `schema` (none: anything goes) for `tool`'s `side`; the first
/// violation is reported with its JSON Pointer.
pub(crate) fn check(
    tool: &str,
    side: ContractSide,
    schema: Option<&Value>,
    value: &Value,
) -> Result<(), AgentError> {
    let Some(schema) = schema else {
        return Ok(());
    };
    let field = match side {
        ContractSide::Input => "inputSchema",
        ContractSide::Output => "outputSchema",
    };
    let validator = compile(field, schema)?;
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(violation) => Err(AgentError::ContractViolation {
            tool: tool.to_owned(),
            side,
            path: violation.instance_path().to_string(),
            message: violation.to_string(),
        }),
    }
}
