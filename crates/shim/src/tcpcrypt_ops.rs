//! Ops `handshake`, `frames` and `open` (RFC 8548 §3.3–§3.8, §4): two [`tcpcrypt::Session`]s
//! built from the case's keys and nonces, driven through the public API.

use serde_json::{json, Map, Value};
use tcpcrypt::provider::default_provider;
use tcpcrypt::{Cipher, Config, Error, Role, Session, Tep};

use crate::{bool_field, hex_field, int_field, CaseError};

/// Upper bound on the number of frames a `frames` case may ask for, so a hostile case
/// cannot make the shim run for long.
const MAX_SEND_ITEMS: usize = 4096;

/// A handshaken pair, with the Init messages as they were sent.
struct Pair {
    a: Session,
    b: Session,
    init1: Vec<u8>,
    init2: Vec<u8>,
}

fn session_error(e: Error) -> CaseError {
    CaseError::invalid(e)
}

fn drain(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.poll_stream(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

fn cipher(id: u64) -> Result<Cipher, CaseError> {
    u16::try_from(id)
        .ok()
        .and_then(Cipher::from_id)
        .ok_or(CaseError::Unsupported)
}

fn nonce(case: &Map<String, Value>, name: &str) -> Result<[u8; 32], CaseError> {
    <[u8; 32]>::try_from(hex_field(case, name)?)
        .map_err(|_| CaseError::invalid(format!("field {name} is not 32 bytes")))
}

/// Runs Init1/Init2 between A and B as the case describes.
fn handshake_pair(case: &Map<String, Value>) -> Result<Pair, CaseError> {
    let tep_byte: u8 = int_field(case, "tep")?;
    let tep = Tep::from_id(tep_byte).ok_or(CaseError::Unsupported)?;
    let transcript = hex_field(case, "transcript")?;
    let a_ciphers = case
        .get("a_ciphers")
        .and_then(Value::as_array)
        .ok_or_else(|| CaseError::invalid("missing field a_ciphers"))?
        .iter()
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| CaseError::invalid("a_ciphers holds a non-integer"))
                .and_then(cipher)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let b_cipher = cipher(int_field(case, "b_cipher")?)?;
    let provider = default_provider();
    let ka = provider
        .kx_from_private(tep, &hex_field(case, "a_priv")?)
        .map_err(CaseError::invalid)?;
    let kb = provider
        .kx_from_private(tep, &hex_field(case, "b_priv")?)
        .map_err(CaseError::invalid)?;
    let config = |ciphers| Config {
        ciphers,
        debug_secrets: true,
        ..Config::default()
    };
    let mut a = Session::fresh_with_keys(
        Role::A,
        tep_byte,
        &transcript,
        config(a_ciphers),
        provider,
        ka,
        nonce(case, "n_a")?,
    )
    .map_err(session_error)?;
    let mut b = Session::fresh_with_keys(
        Role::B,
        tep_byte,
        &transcript,
        config(vec![b_cipher]),
        provider,
        kb,
        nonce(case, "n_b")?,
    )
    .map_err(session_error)?;
    let init1 = drain(&mut a);
    b.handle_stream(&init1).map_err(session_error)?;
    let init2 = drain(&mut b);
    a.handle_stream(&init2).map_err(session_error)?;
    if !(a.is_established() && b.is_established()) {
        return Err(CaseError::invalid("handshake did not complete"));
    }
    Ok(Pair { a, b, init1, init2 })
}

/// `handshake`: Init1, Init2, session ID, resume[0] and generation-0 traffic keys.
pub(crate) fn handshake(case: &Map<String, Value>) -> Result<Value, CaseError> {
    let pair = handshake_pair(case)?;
    let session_id = pair
        .a
        .session_id()
        .ok_or_else(|| CaseError::invalid("no session ID"))?;
    let secrets = pair
        .a
        .debug_secrets()
        .ok_or_else(|| CaseError::invalid("no debug secrets"))?;
    Ok(json!({
        "init1": hex::encode(&pair.init1),
        "init2": hex::encode(&pair.init2),
        "session_id": hex::encode(session_id),
        "resume": hex::encode(secrets.resume),
        "k_ab": hex::encode(secrets.keys.k_ab.expose()),
        "k_ba": hex::encode(secrets.keys.k_ba.expose()),
    }))
}

/// `frames`: the bytes of each frame sent, one frame per item.
pub(crate) fn frames(case: &Map<String, Value>) -> Result<Value, CaseError> {
    let items = case
        .get("send")
        .and_then(Value::as_array)
        .ok_or_else(|| CaseError::invalid("missing field send"))?;
    if items.len() > MAX_SEND_ITEMS {
        return Err(CaseError::invalid("too many frames"));
    }
    let mut pair = handshake_pair(case)?;
    let mut wire = Vec::with_capacity(items.len());
    for item in items {
        let item = item
            .as_object()
            .ok_or_else(|| CaseError::invalid("send item is not an object"))?;
        let sender = match item.get("dir").and_then(Value::as_str) {
            Some("a2b") => &mut pair.a,
            Some("b2a") => &mut pair.b,
            _ => return Err(CaseError::invalid("dir must be a2b or b2a")),
        };
        let data = hex_field(item, "data")?;
        sender
            .send_frame(&data, bool_field(item, "fin")?, bool_field(item, "rekey")?)
            .map_err(session_error)?;
        wire.push(Value::from(hex::encode(drain(sender))));
    }
    Ok(json!({ "wire": wire }))
}

/// `open`: the receiver's view of a stream of frames after Init1/Init2.
pub(crate) fn open(case: &Map<String, Value>) -> Result<Value, CaseError> {
    let stream = hex_field(case, "stream")?;
    let mut pair = handshake_pair(case)?;
    let receiver = match case.get("dir").and_then(Value::as_str) {
        Some("a2b") => &mut pair.b,
        Some("b2a") => &mut pair.a,
        _ => return Err(CaseError::invalid("dir must be a2b or b2a")),
    };
    let fed = receiver.handle_stream(&stream);
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let read_end = loop {
        match receiver.read(&mut buf) {
            Ok(0) => break Ok(true),
            Ok(n) => data.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(Error::WouldBlock) => break Ok(false),
            Err(e) => break Err(e),
        }
    };
    let data = hex::encode(data);
    Ok(match (fed, read_end) {
        (Err(e), _) | (Ok(()), Err(e)) => json!({ "error": e.to_string(), "data": data }),
        (Ok(()), Ok(eof)) if receiver.pending_input() > 0 => {
            json!({ "incomplete": true, "data": data, "eof": eof })
        }
        (Ok(()), Ok(eof)) => json!({ "data": data, "eof": eof }),
    })
}
