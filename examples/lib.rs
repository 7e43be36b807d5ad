//! Shared pieces of the examples (see `echo.rs`, `sessid.rs`): an in-memory wire between two
//! embedded stacks, and a tcpcrypt session riding on one stack connection. Each example is a
//! small program; run them with `cargo run -p tcpcrypt-examples --example <name>`.

use rand_core::CryptoRngCore;
use stack::{ConnId, Instant, RecvError, Stack};
use tcpcrypt::provider::default_provider;
use tcpcrypt::{Error, Session};

/// Moves every queued packet from each stack to the other (a lossless wire with no delay).
/// Returns how many packets crossed.
pub fn shuttle(now: Instant, a: &mut Stack, b: &mut Stack) -> usize {
    let mut buf = vec![0u8; 65_536];
    let mut moved = 0;
    loop {
        let mut any = false;
        while let Some(n) = a.poll_transmit(now, &mut buf) {
            b.handle(now, buf.get(..n).unwrap_or_default());
            moved += 1;
            any = true;
        }
        while let Some(n) = b.poll_transmit(now, &mut buf) {
            a.handle(now, buf.get(..n).unwrap_or_default());
            moved += 1;
            any = true;
        }
        if !any {
            return moved;
        }
    }
}

/// Reads what the session has decrypted: `Ok(0)` when nothing is ready yet (instead of
/// [`Error::WouldBlock`]) or at end of stream.
pub fn read_ready(session: &mut Session, buf: &mut [u8]) -> Result<usize, Error> {
    match session.read(buf) {
        Err(Error::WouldBlock) => Ok(0),
        r => r,
    }
}

/// A tcpcrypt session (RFC 8548) on top of one connection of an embedded stack.
pub struct Secured {
    /// The connection.
    pub conn: ConnId,
    /// The session, once TCP-ENO (RFC 8547) negotiated tcpcrypt.
    pub session: Option<Session>,
}

impl Secured {
    /// A connection whose session starts once its ENO outcome is known.
    pub fn new(conn: ConnId) -> Self {
        Self {
            conn,
            session: None,
        }
    }

    /// Starts the session if the stack has negotiated a tcpcrypt TEP for the connection
    /// (RFC 8547 §4.8 outcome; RFC 8548 §3.3 fresh key exchange). Returns `false` when ENO
    /// ended without tcpcrypt: the connection is plain and the caller decides what to do.
    pub fn start(&mut self, stack: &Stack, rng: &mut dyn CryptoRngCore) -> Result<bool, Error> {
        if self.session.is_some() {
            return Ok(true);
        }
        match stack.eno_outcome(self.conn) {
            Some(eno::Outcome::Negotiated(n)) => {
                let s = Session::from_negotiated(
                    n,
                    tcpcrypt::Config::default(),
                    default_provider(),
                    rng,
                )?;
                self.session = Some(s);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Moves stream bytes between the stack and the session, both ways: what TCP received
    /// goes into the session; what the session queued (Init messages, frames) goes to TCP.
    pub fn pump(&mut self, now: Instant, stack: &mut Stack) -> Result<(), Error> {
        let Some(s) = self.session.as_mut() else {
            return Ok(());
        };
        let mut buf = vec![0u8; 16_384];
        loop {
            match stack.recv(now, self.conn, &mut buf) {
                Ok(0) => {
                    s.on_tcp_fin()?;
                    break;
                }
                Ok(n) => s.handle_stream(buf.get(..n).unwrap_or_default())?,
                Err(RecvError::WouldBlock) => break,
                Err(_) => break,
            }
        }
        while s.pending_transmit() > 0 {
            let n = s.poll_stream(&mut buf);
            let sent = stack.send(now, self.conn, buf.get(..n).unwrap_or_default());
            if sent < n {
                // The example's buffers never fill; a real program would keep the rest.
                break;
            }
        }
        Ok(())
    }
}
