//! The client side of the control socket: one request, one response line. Used by the
//! `tcpcrypt` CLI and by applications that authenticate their peers with the tcpcrypt
//! session ID (RFC 8548 §3.4, RFC 8547 §5.1): [`session_id`] takes the application's own
//! `TcpStream` (see `examples/sessid.rs`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::proto::{ErrorKind, Request, Response};
use crate::engine::SESSID_LEN;

/// The control socket's default path (`--control` of `tcpcryptd`).
pub const DEFAULT_CONTROL_PATH: &str = "/run/tcpcrypt/control.sock";

/// How long the CLI waits for the daemon.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens at the path (daemon not running or not ready).
    #[error("cannot reach tcpcryptd at {}: {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The exchange failed half-way.
    #[error("control socket I/O: {0}")]
    Io(#[from] io::Error),
    /// The daemon's answer did not parse.
    #[error("malformed response from tcpcryptd: {0}")]
    Decode(#[from] serde_json::Error),
    /// The daemon closed the connection without answering.
    #[error("tcpcryptd closed the connection without answering")]
    NoAnswer,
    /// The daemon answered something other than what was asked.
    #[error("unexpected response from tcpcryptd")]
    Unexpected,
}

/// What the daemon knows of one connection's encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// tcpcrypt with this session ID (TEP byte then 32 bytes, RFC 8548 §3.4): the same value
    /// on both hosts of the connection, and on no other connection.
    Encrypted([u8; SESSID_LEN]),
    /// The connection goes through the daemon in plain TCP (the peer has no tcpcrypt).
    Plain,
    /// The daemon does not carry this connection (not routed, or already gone).
    Unknown,
}

/// The tcpcrypt session ID of the application's own connection `stream`, asked of the
/// daemon at `path` (see [`DEFAULT_CONTROL_PATH`]). An application compares it with the
/// peer's (over the connection itself, signed, or out of band) to authenticate the peer.
pub fn session_id(path: &Path, stream: &TcpStream) -> Result<Protection, ClientError> {
    session_id_of(path, stream.local_addr()?, stream.peer_addr()?)
}

/// [`session_id`] for the connection an application sees as `local` ↔ `remote`.
pub fn session_id_of(
    path: &Path,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Result<Protection, ClientError> {
    match request(path, &Request::Sessid { local, remote })? {
        Response::Sessid { session_id } => {
            let mut id = [0u8; SESSID_LEN];
            hex::decode_to_slice(&session_id, &mut id).map_err(|_| ClientError::Unexpected)?;
            Ok(Protection::Encrypted(id))
        }
        Response::Error {
            error: ErrorKind::Plaintext,
        } => Ok(Protection::Plain),
        Response::Error {
            error: ErrorKind::UnknownConnection,
        } => Ok(Protection::Unknown),
        _ => Err(ClientError::Unexpected),
    }
}

/// Sends `request` to the daemon at `path` and returns its response.
pub fn request(path: &Path, request: &Request) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.to_owned(),
        source,
    })?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    if reader.read_line(&mut answer)? == 0 {
        return Err(ClientError::NoAnswer);
    }
    Ok(serde_json::from_str(&answer)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A one-shot control server answering each request with the next line of `answers`.
    fn serve(answers: &'static [&'static str]) -> (PathBuf, std::thread::JoinHandle<Vec<String>>) {
        let dir = std::env::temp_dir().join(format!(
            "tcx-client-{}-{}",
            std::process::id(),
            answers.len()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                seen.push(line);
                (&stream).write_all(answer.as_bytes()).unwrap();
            }
            let _ = std::fs::remove_dir_all(&dir);
            seen
        });
        (path, handle)
    }

    #[test]
    fn session_id_maps_each_answer() {
        let id = format!("23{}", "ab".repeat(32));
        let encrypted: &'static str = Box::leak(
            format!("{{\"result\":\"sessid\",\"session_id\":\"{id}\"}}\n").into_boxed_str(),
        );
        let answers: &'static [&'static str] = Box::leak(Box::new([
            encrypted,
            "{\"result\":\"error\",\"error\":\"plaintext\"}\n",
            "{\"result\":\"error\",\"error\":\"unknown_connection\"}\n",
            "{\"result\":\"sessid\",\"session_id\":\"23ab\"}\n",
        ]));
        let (path, server) = serve(answers);
        let local = "10.0.0.1:5555".parse().unwrap();
        let remote = "[fd00::2]:80".parse().unwrap();
        let mut want = [0xab; SESSID_LEN];
        want[0] = 0x23;
        assert_eq!(
            session_id_of(&path, local, remote).unwrap(),
            Protection::Encrypted(want)
        );
        assert_eq!(
            session_id_of(&path, local, remote).unwrap(),
            Protection::Plain
        );
        assert_eq!(
            session_id_of(&path, local, remote).unwrap(),
            Protection::Unknown
        );
        // A session ID of the wrong length is the daemon's error, not a short ID.
        assert!(matches!(
            session_id_of(&path, local, remote),
            Err(ClientError::Unexpected)
        ));
        let seen = server.join().unwrap();
        assert!(seen[0].contains("\"cmd\":\"sessid\""));
        assert!(seen[0].contains("\"local\":\"10.0.0.1:5555\""));
        assert!(seen[0].contains("\"remote\":\"[fd00::2]:80\""));
    }
}
