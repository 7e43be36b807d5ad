//! The mio loop (DESIGN.md, "The daemon"): read the TUN device until `WouldBlock` and feed
//! every packet to the engine, fire its timers, drain its transmissions into TUN writes,
//! serve control clients, then sleep until the engine's next deadline or the next event.
//! Returns when SIGINT or SIGTERM arrives.

use std::io;
use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook_mio::v1_0::Signals;

use crate::clock::Clock;
use crate::control::server::ControlServer;
use crate::engine::{Engine, Instant};
use crate::tun::Tun;

const TUN: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
const FIRST_CLIENT: usize = 16;

/// Packets read per batch before the engine's transmissions are drained.
const READ_BATCH: usize = 64;
/// Largest packet the loop reads or writes.
const PACKET_BUF: usize = 65_536;

/// Why the loop stopped other than by a signal.
#[derive(Debug, thiserror::Error)]
#[error("event loop: {what}: {source}")]
pub struct LoopError {
    /// The operation.
    pub what: &'static str,
    /// The OS error.
    pub source: io::Error,
}

fn loop_err(what: &'static str) -> impl FnOnce(io::Error) -> LoopError {
    move |source| LoopError { what, source }
}

/// Counters kept by the loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Packets read from the TUN device.
    pub rx_packets: u64,
    /// Packets written to the TUN device.
    pub tx_packets: u64,
    /// Packets the TUN device refused (full queue or error).
    pub tx_dropped: u64,
    /// Read errors other than `WouldBlock`.
    pub rx_errors: u64,
}

/// Runs until SIGINT or SIGTERM; returns the signal number.
pub fn run<E: Engine>(
    engine: &mut E,
    tun: &Tun,
    control: &mut ControlServer,
    signals: &mut Signals,
    clock: &Clock,
) -> Result<(i32, LoopStats), LoopError> {
    let mut poll = Poll::new().map_err(loop_err("create poll"))?;
    let registry = poll.registry();
    let fd = tun.as_raw_fd();
    registry
        .register(&mut SourceFd(&fd), TUN, Interest::READABLE)
        .map_err(loop_err("register TUN"))?;
    registry
        .register(signals, SIGNALS, Interest::READABLE)
        .map_err(loop_err("register signals"))?;
    control
        .register(registry, CONTROL, FIRST_CLIENT)
        .map_err(loop_err("register control socket"))?;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; PACKET_BUF];
    let mut stats = LoopStats::default();
    loop {
        let timeout = engine.next_deadline().map(|d| clock.until(clock.now(), d));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(loop_err("poll")(e));
        }
        let now = clock.now();
        for ev in events.iter() {
            match ev.token() {
                TUN => read_tun(engine, tun, now, &mut buf, &mut stats),
                SIGNALS => {
                    if let Some(sig) = signals.pending().next() {
                        return Ok((sig, stats));
                    }
                }
                t if control.owns(t) => control.ready(poll.registry(), t, engine),
                _ => {}
            }
        }
        if engine.next_deadline().is_some_and(|d| d <= now) {
            engine.handle_timeout(now);
        }
        transmit(engine, tun, now, &mut buf, &mut stats);
    }
}

/// Reads until `WouldBlock`, draining the engine's output after each batch.
fn read_tun<E: Engine>(
    engine: &mut E,
    tun: &Tun,
    now: Instant,
    buf: &mut [u8],
    stats: &mut LoopStats,
) {
    loop {
        for _ in 0..READ_BATCH {
            match tun.recv(buf) {
                Ok(n) => {
                    stats.rx_packets += 1;
                    engine.handle_packet(now, buf.get(..n).unwrap_or_default());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    stats.rx_errors += 1;
                    tracing::warn!(error = %e, "TUN read failed");
                    return;
                }
            }
        }
        transmit(engine, tun, now, buf, stats);
    }
}

/// Writes every packet the engine has queued.
fn transmit<E: Engine>(
    engine: &mut E,
    tun: &Tun,
    now: Instant,
    buf: &mut [u8],
    stats: &mut LoopStats,
) {
    while let Some(n) = engine.poll_transmit(now, buf) {
        match tun.send(buf.get(..n).unwrap_or_default()) {
            Ok(_) => stats.tx_packets += 1,
            Err(e) => {
                stats.tx_dropped += 1;
                tracing::debug!(error = %e, len = n, "TUN write failed, packet dropped");
            }
        }
    }
}
