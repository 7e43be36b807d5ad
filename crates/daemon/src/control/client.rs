//! The CLI side of the control socket: one request, one response line.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::proto::{Request, Response};

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
