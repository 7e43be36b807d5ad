//! The conformance shim (`shared/conformance/SHIM.md`, copied to `docs/SHIM.md`): JSON Lines
//! in, one JSON line out per case. A thin adapter over the public APIs of `eno` and
//! `tcpcrypt`: it decodes hex and JSON, calls the library and encodes the answer. It has no
//! protocol logic of its own.
//!
//! Bad input of any kind (not JSON, missing fields, bad hex, bytes invalid on the wire)
//! answers `{"id", "error"}`; an operation or TEP we do not implement answers
//! `{"id", "unsupported": true}`. Nothing here panics.

use serde_json::{json, Map, Value};

mod eno_ops;
mod tcpcrypt_ops;

/// Why a case could not be answered normally. Becomes `{"error": ...}` (or
/// `{"unsupported": true}`).
#[derive(Debug)]
pub(crate) enum CaseError {
    /// The case is malformed or its bytes are invalid on the wire.
    Invalid(String),
    /// The operation or algorithm is not implemented.
    Unsupported,
}

impl CaseError {
    pub(crate) fn invalid(reason: impl ToString) -> Self {
        CaseError::Invalid(reason.to_string())
    }
}

/// Answers one input line with one output line (without the trailing newline).
pub fn handle_line(line: &[u8]) -> String {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(_) => return json!({"id": Value::Null, "error": "invalid JSON"}).to_string(),
    };
    let Value::Object(case) = value else {
        return json!({"id": Value::Null, "error": "case is not a JSON object"}).to_string();
    };
    let id = case.get("id").cloned().unwrap_or(Value::Null);
    let result = match case.get("op").and_then(Value::as_str) {
        Some("eno_parse") => eno_ops::eno_parse(&case),
        Some("eno_outcome") => eno_ops::eno_outcome(&case),
        Some("handshake") => tcpcrypt_ops::handshake(&case),
        Some("frames") => tcpcrypt_ops::frames(&case),
        Some("open") => tcpcrypt_ops::open(&case),
        Some(_) => Err(CaseError::Unsupported),
        None => Err(CaseError::invalid("missing op")),
    };
    let mut out = Map::new();
    out.insert("id".into(), id);
    match result {
        Ok(Value::Object(fields)) => out.extend(fields),
        Ok(other) => {
            out.insert("result".into(), other);
        }
        Err(CaseError::Unsupported) => {
            out.insert("unsupported".into(), Value::Bool(true));
        }
        Err(CaseError::Invalid(reason)) => {
            out.insert("error".into(), Value::String(reason));
        }
    }
    Value::Object(out).to_string()
}

/// A required hex field.
pub(crate) fn hex_field(case: &Map<String, Value>, name: &str) -> Result<Vec<u8>, CaseError> {
    let s = case
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| CaseError::invalid(format!("missing or non-string field {name}")))?;
    hex::decode(s).map_err(|_| CaseError::invalid(format!("field {name} is not hex")))
}

/// An optional hex field: absent or null gives `None`.
pub(crate) fn opt_hex_field(
    case: &Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<u8>>, CaseError> {
    match case.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => hex_field(case, name).map(Some),
    }
}

/// A required unsigned integer field that fits `T`.
pub(crate) fn int_field<T: TryFrom<u64>>(
    case: &Map<String, Value>,
    name: &str,
) -> Result<T, CaseError> {
    case.get(name)
        .and_then(Value::as_u64)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| CaseError::invalid(format!("missing or out-of-range field {name}")))
}

/// A required boolean field, `false` when absent.
pub(crate) fn bool_field(case: &Map<String, Value>, name: &str) -> Result<bool, CaseError> {
    match case.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(CaseError::invalid(format!("field {name} is not a boolean"))),
    }
}

/// Drives [`handle_line`] over arbitrary bytes split into lines; used by the fuzz targets.
#[doc(hidden)]
pub fn fuzz_input(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let out = handle_line(line);
        debug_assert!(!out.contains('\n'));
    }
}
