//! The control protocol: one JSON object per line, request then response, shared by the
//! daemon's control server and the `tcpcrypt` CLI (DESIGN.md, "The daemon").
//!
//! ```text
//! {"cmd":"status"}
//!   -> {"result":"status","connections":[{"local":"10.0.0.1:5555",...}]}
//! {"cmd":"sessid","local":"10.0.0.1:5555","remote":"192.0.2.10:80"}
//!   -> {"result":"sessid","session_id":"23ab..."}
//!   -> {"result":"error","error":"no_session","message":"..."}
//! ```

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Longest request line the server accepts, in bytes.
pub const MAX_REQUEST_LINE: usize = 4096;

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub enum Request {
    /// Every connection the engine knows.
    Status,
    /// The session ID of the connection an application sees as `local` ↔ `remote`.
    Sessid {
        /// The application's own address.
        local: SocketAddr,
        /// The application's peer.
        remote: SocketAddr,
    },
}

/// One connection as the application sees it, with the outer (encrypted) leg if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnStatus {
    /// The application's own address on this host (`ip:port`, `[ipv6]:port`).
    pub local: SocketAddr,
    /// The application's peer.
    pub remote: SocketAddr,
    /// Connection state, e.g. `syn-sent`, `established`, `fin-wait-1`.
    pub state: String,
    /// Whether the bytes travel encrypted with tcpcrypt.
    pub encrypted: bool,
    /// Negotiated TEP (`x25519`, ...), if any.
    pub tep: Option<String>,
    /// Negotiated AEAD (`aes-128-gcm`, ...), if any.
    pub cipher: Option<String>,
    /// Session ID, lowercase hex, if encrypted.
    pub session_id: Option<String>,
    /// Application bytes sent.
    pub tx_bytes: u64,
    /// Application bytes received.
    pub rx_bytes: u64,
    /// The outer connection's local address (the stack's), if distinct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_local: Option<SocketAddr>,
    /// The outer connection's remote address, if distinct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer_remote: Option<SocketAddr>,
}

/// TUN traffic of one leg as the daemon's event loop moved it (per system call, so the
/// averages show whether offloads deliver super-packets: ≈ 64 KB per call when they do,
/// ≤ the MTU when they do not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegIo {
    /// `read(2)` calls that returned a packet.
    pub reads: u64,
    /// Bytes of the IP packets those reads were split into (a super-packet's headers are
    /// counted once per segment).
    pub read_bytes: u64,
    /// Packets handed to the engine (segments of the super-packets).
    pub read_packets: u64,
    /// `write(2)` calls.
    pub writes: u64,
    /// IP bytes written (a coalesced write counts its headers once).
    pub write_bytes: u64,
    /// Segments written: one per plain write, the GSO segment count of a coalesced one.
    pub write_packets: u64,
}

/// The daemon's TUN I/O counters since it started, split by leg: `outer` is traffic to or
/// from the stack's own address (the ENO/tcpcrypt connections towards the network), `inner`
/// everything else (the kernel's applications, relayed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunIo {
    /// The application side.
    pub inner: LegIo,
    /// The network side.
    pub outer: LegIo,
    /// Failed reads (other than `WouldBlock`).
    pub read_errors: u64,
    /// Batches of which at least one write failed.
    pub write_errors: u64,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line was not a valid request.
    BadRequest,
    /// No connection with that 4-tuple.
    UnknownConnection,
    /// The connection exists but is not encrypted.
    Plaintext,
}

impl ErrorKind {
    /// A message for people.
    pub fn message(self) -> &'static str {
        match self {
            Self::BadRequest => "bad request",
            Self::UnknownConnection => "no such connection",
            Self::Plaintext => "connection is not encrypted (plain TCP)",
        }
    }
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status {
        /// The connections.
        connections: Vec<ConnStatus>,
        /// TUN I/O counters (absent from daemons that predate them).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        io: Option<TunIo>,
    },
    /// Answer to [`Request::Sessid`].
    Sessid {
        /// Lowercase hex of the session ID.
        session_id: String,
    },
    /// The request failed.
    Error {
        /// Why.
        error: ErrorKind,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_have_the_documented_shape() {
        let r: Request = serde_json::from_str(r#"{"cmd":"status"}"#).unwrap();
        assert_eq!(r, Request::Status);
        let r: Request = serde_json::from_str(
            r#"{"cmd":"sessid","local":"10.0.0.1:5555","remote":"[fd00::2]:80"}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::Sessid {
                local: "10.0.0.1:5555".parse().unwrap(),
                remote: "[fd00::2]:80".parse().unwrap()
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"reboot"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"sessid","local":"x"}"#).is_err());
    }

    #[test]
    fn status_serializes_with_the_contract_fields() {
        let c = ConnStatus {
            local: "10.77.0.1:40000".parse().unwrap(),
            remote: "[2001:db8::1]:80".parse().unwrap(),
            state: "established".into(),
            encrypted: true,
            tep: Some("x25519".into()),
            cipher: Some("aes-128-gcm".into()),
            session_id: Some("23aa".into()),
            tx_bytes: 1,
            rx_bytes: 2,
            outer_local: None,
            outer_remote: None,
        };
        let v = serde_json::to_value(Response::Status {
            connections: vec![c],
            io: None,
        })
        .unwrap();
        assert_eq!(v["result"], "status");
        assert!(v.get("io").is_none());
        let o = &v["connections"][0];
        assert_eq!(o["local"], "10.77.0.1:40000");
        assert_eq!(o["remote"], "[2001:db8::1]:80");
        for k in [
            "state",
            "encrypted",
            "tep",
            "cipher",
            "session_id",
            "tx_bytes",
            "rx_bytes",
        ] {
            assert!(o.get(k).is_some(), "{k}");
        }
        let mut io = TunIo::default();
        io.outer.writes = 3;
        io.outer.write_bytes = 130_000;
        let v = serde_json::to_value(Response::Status {
            connections: vec![],
            io: Some(io),
        })
        .unwrap();
        assert_eq!(v["io"]["outer"]["writes"], 3);
        assert_eq!(v["io"]["outer"]["write_bytes"], 130_000);
        assert_eq!(v["io"]["inner"]["reads"], 0);
        let back: Response = serde_json::from_value(v).unwrap();
        assert_eq!(
            back,
            Response::Status {
                connections: vec![],
                io: Some(io)
            }
        );
        let e = serde_json::to_string(&Response::Error {
            error: ErrorKind::Plaintext,
        })
        .unwrap();
        assert_eq!(e, r#"{"result":"error","error":"plaintext"}"#);
    }
}
