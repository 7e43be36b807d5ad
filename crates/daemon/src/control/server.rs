//! The daemon side of the control socket: non-blocking accept and JSON-lines request
//! handling inside the mio loop. Bounded: at most [`MAX_CLIENTS`] clients, request lines of at
//! most [`MAX_REQUEST_LINE`] bytes, and a client whose unread answers exceed
//! [`MAX_PENDING_OUT`] is dropped.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use crate::control::proto::{ErrorKind, Request, Response, TunIo, MAX_REQUEST_LINE};
use crate::engine::Engine;

/// Most control clients served at once.
pub const MAX_CLIENTS: usize = 64;

/// Most answer bytes queued for one client.
pub const MAX_PENDING_OUT: usize = 16 << 20;

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("control socket {}: {what}: {source}", path.display())]
pub struct BindError {
    /// The socket path.
    pub path: PathBuf,
    /// The step.
    pub what: &'static str,
    /// The OS error.
    pub source: io::Error,
}

/// Answers one request line; `io` is reported with `status`.
pub fn respond<E: Engine + ?Sized>(line: &[u8], engine: &E, io: &TunIo) -> Response {
    let Ok(req) = serde_json::from_slice::<Request>(line) else {
        return Response::Error {
            error: ErrorKind::BadRequest,
        };
    };
    match req {
        Request::Status => Response::Status {
            connections: engine.status(),
            io: Some(*io),
        },
        Request::Sessid { local, remote } => match engine.sessid(local, remote) {
            Some(id) => Response::Sessid {
                session_id: hex::encode(id),
            },
            None => {
                let known = engine
                    .status()
                    .iter()
                    .any(|c| c.local == local && c.remote == remote);
                Response::Error {
                    error: if known {
                        ErrorKind::Plaintext
                    } else {
                        ErrorKind::UnknownConnection
                    },
                }
            }
        },
    }
}

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    eof: bool,
}

/// The listening socket and its clients. Removes the socket file on drop.
#[derive(Debug)]
pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    listener_token: Token,
    clients: HashMap<Token, Client>,
    next_token: usize,
}

impl ControlServer {
    /// Creates the parent directory, removes a stale socket file and binds `path` (mode 0600).
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let err = |what| {
            move |source| BindError {
                path: path.to_owned(),
                what,
                source,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err("create parent directory"))?;
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(err("remove stale socket")(e))
            }
            _ => {}
        }
        let listener = UnixListener::bind(path).map_err(err("bind"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(err("set permissions"))?;
        Ok(Self {
            listener,
            path: path.to_owned(),
            listener_token: Token(usize::MAX),
            clients: HashMap::new(),
            next_token: 0,
        })
    }

    /// Registers the listener under `token`; clients get tokens from `first_client_token` up.
    pub fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        first_client_token: usize,
    ) -> io::Result<()> {
        self.listener_token = token;
        self.next_token = first_client_token;
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    /// Whether `token` is the listener's or a client's.
    pub fn owns(&self, token: Token) -> bool {
        token == self.listener_token || self.clients.contains_key(&token)
    }

    /// Handles readiness of `token` (listener or client); `io` is reported with `status`.
    pub fn ready<E: Engine + ?Sized>(
        &mut self,
        registry: &Registry,
        token: Token,
        engine: &E,
        io: &TunIo,
    ) {
        if token == self.listener_token {
            self.accept(registry);
        } else if let Some(mut c) = self.clients.remove(&token) {
            if serve(&mut c, engine, io) {
                let interest = if c.outbuf.is_empty() {
                    Interest::READABLE
                } else {
                    Interest::READABLE | Interest::WRITABLE
                };
                if registry.reregister(&mut c.stream, token, interest).is_ok() {
                    self.clients.insert(token, c);
                    return;
                }
            }
            let _ = registry.deregister(&mut c.stream);
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        tracing::warn!("control: too many clients, refusing one");
                        continue;
                    }
                    let token = Token(self.next_token);
                    self.next_token = self.next_token.wrapping_add(1);
                    if registry
                        .register(&mut stream, token, Interest::READABLE)
                        .is_ok()
                    {
                        self.clients.insert(
                            token,
                            Client {
                                stream,
                                inbuf: Vec::new(),
                                outbuf: Vec::new(),
                                eof: false,
                            },
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "control: accept failed");
                    break;
                }
            }
        }
    }
}

/// Reads, answers and writes what it can; `false` when the client is done or misbehaved.
fn serve<E: Engine + ?Sized>(c: &mut Client, engine: &E, io: &TunIo) -> bool {
    let mut buf = [0u8; 4096];
    while !c.eof {
        match c.stream.read(&mut buf) {
            Ok(0) => c.eof = true,
            Ok(n) => {
                c.inbuf.extend_from_slice(buf.get(..n).unwrap_or_default());
                while let Some(pos) = c.inbuf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
                    let answer = respond(line.get(..pos).unwrap_or_default(), engine, io);
                    if serde_json::to_writer(&mut c.outbuf, &answer).is_err() {
                        return false;
                    }
                    c.outbuf.push(b'\n');
                }
                if c.inbuf.len() > MAX_REQUEST_LINE || c.outbuf.len() > MAX_PENDING_OUT {
                    tracing::warn!("control: client exceeded limits, dropping it");
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    while !c.outbuf.is_empty() {
        match c.stream.write(&c.outbuf) {
            Ok(0) => return false,
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    !c.eof
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::SocketAddr;

    use super::*;
    use crate::engine::{ConnStatus, Instant, SESSID_LEN};

    struct Fake;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    impl Engine for Fake {
        fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
        fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> {
            None
        }
        fn next_deadline(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
        fn status(&self) -> Vec<ConnStatus> {
            ["10.0.0.1:1000", "10.0.0.1:2000"]
                .iter()
                .map(|l| ConnStatus {
                    local: addr(l),
                    remote: addr("192.0.2.1:80"),
                    state: "established".into(),
                    encrypted: l.ends_with("1000"),
                    tep: None,
                    cipher: None,
                    session_id: None,
                    tx_bytes: 0,
                    rx_bytes: 0,
                    outer_local: None,
                    outer_remote: None,
                })
                .collect()
        }
        fn sessid(&self, local: SocketAddr, _: SocketAddr) -> Option<[u8; SESSID_LEN]> {
            let mut id = [0xabu8; SESSID_LEN];
            id[0] = 0x23;
            (local == addr("10.0.0.1:1000")).then_some(id)
        }
    }

    #[test]
    fn answers_status_and_sessid() {
        let mut counters = TunIo::default();
        counters.inner.reads = 7;
        let r = respond(br#"{"cmd":"status"}"#, &Fake, &counters);
        let Response::Status { connections, io } = r else {
            unreachable!()
        };
        assert_eq!(connections.len(), 2);
        assert_eq!(io, Some(counters));
        let r = respond(
            br#"{"cmd":"sessid","local":"10.0.0.1:1000","remote":"192.0.2.1:80"}"#,
            &Fake,
            &TunIo::default(),
        );
        assert_eq!(
            r,
            Response::Sessid {
                session_id: format!("23{}", "ab".repeat(32))
            }
        );
    }

    #[test]
    fn sessid_failures_say_why() {
        let plain = respond(
            br#"{"cmd":"sessid","local":"10.0.0.1:2000","remote":"192.0.2.1:80"}"#,
            &Fake,
            &TunIo::default(),
        );
        assert_eq!(
            plain,
            Response::Error {
                error: ErrorKind::Plaintext
            }
        );
        let unknown = respond(
            br#"{"cmd":"sessid","local":"10.0.0.9:2000","remote":"192.0.2.1:80"}"#,
            &Fake,
            &TunIo::default(),
        );
        assert_eq!(
            unknown,
            Response::Error {
                error: ErrorKind::UnknownConnection
            }
        );
        for junk in [&b""[..], b"{", b"\xff\xfe", br#"{"cmd":"sessid"}"#] {
            assert_eq!(
                respond(junk, &Fake, &TunIo::default()),
                Response::Error {
                    error: ErrorKind::BadRequest
                }
            );
        }
    }
}
