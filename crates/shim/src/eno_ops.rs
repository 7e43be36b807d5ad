//! Ops `eno_parse` and `eno_outcome` (RFC 8547 §4.1–§4.8).

use serde_json::{json, Map, Value};

use crate::{hex_field, opt_hex_field, CaseError};

/// `eno_parse`: the whole option as on the wire, parsed.
pub(crate) fn eno_parse(case: &Map<String, Value>) -> Result<Value, CaseError> {
    let option = hex_field(case, "option")?;
    let parsed = eno::SynOption::parse_option(&option).map_err(CaseError::invalid)?;
    let global = parsed.global_or_implicit();
    let suboptions: Vec<Value> = parsed
        .suboptions()
        .iter()
        .map(|s| json!({"tep": s.tep_id().0, "v": u8::from(s.v), "data": hex::encode(&s.data)}))
        .collect();
    Ok(json!({
        "global": {
            "present": parsed.global.is_some(),
            "b": u8::from(global.b),
            "a": u8::from(global.a),
        },
        "suboptions": suboptions,
    }))
}

/// `eno_outcome`: the negotiation result of A's SYN option and B's SYN-ACK option.
pub(crate) fn eno_outcome(case: &Map<String, Value>) -> Result<Value, CaseError> {
    let a = opt_hex_field(case, "a_syn")?;
    let b = opt_hex_field(case, "b_synack")?;
    Ok(match eno::outcome_of(a.as_deref(), b.as_deref()) {
        eno::Outcome::Negotiated(n) => json!({
            "negotiated": true,
            "tep": n.sessid_byte,
            "transcript": hex::encode(&n.transcript),
        }),
        eno::Outcome::Disabled(_) => json!({
            "negotiated": false,
            "tep": Value::Null,
            "transcript": Value::Null,
        }),
    })
}
