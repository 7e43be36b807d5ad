//! The mio loop (DESIGN.md, "The daemon"): read the TUN device until `WouldBlock` and feed
//! every packet to the engine, fire its timers, drain its transmissions into TUN writes,
//! serve control clients, then sleep until the engine's next deadline or the next event.
//! Returns when SIGINT or SIGTERM arrives.
//!
//! Both directions move batches ([`RxBatch`], [`TxBatch`]): with offloads one read may carry
//! a 64 KB super-packet, and the engine's segments leave coalesced per flow into writes of
//! up to 64 KB (crate::coalesce). The buffers are allocated once, before the loop.

use std::io;
use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use signal_hook_mio::v1_0::Signals;

use crate::clock::Clock;
use crate::control::proto::TunIo;
use crate::control::server::ControlServer;
use crate::engine::{Engine, Instant};
use crate::tun::{Legs, RxBatch, Tun, TxBatch};

const TUN: Token = Token(0);
const SIGNALS: Token = Token(1);
const CONTROL: Token = Token(2);
const FIRST_CLIENT: usize = 16;

/// Reads (each up to a 64 KB super-packet) before the engine's transmissions are drained.
const READS_PER_DRAIN: usize = 16;
/// Consecutive failed reads (other than dropped malformed packets, which the read consumed)
/// after which the loop stops reading until the next event.
const MAX_READ_ERRORS: usize = 64;

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

/// Runs until SIGINT or SIGTERM; returns the signal number and the TUN counters (which
/// `status` also reports), with the legs told apart by `legs`.
pub fn run<E: Engine>(
    engine: &mut E,
    tun: &Tun,
    legs: &Legs,
    control: &mut ControlServer,
    signals: &mut Signals,
    clock: &Clock,
) -> Result<(i32, TunIo), LoopError> {
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
    let mut tx = TxBatch::new(tun.mtu(), tun.offload());
    tx.set_partial_checksums(engine.tcp_checksums_partial());
    let mut io = Io {
        tun,
        legs,
        rx: RxBatch::new(tun.mtu()),
        tx,
        stats: TunIo::default(),
    };
    loop {
        let timeout = engine.next_deadline().map(|d| clock.until(clock.now(), d));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(loop_err("poll")(e));
        }
        for ev in events.iter() {
            match ev.token() {
                TUN => io.read(engine, clock),
                SIGNALS => {
                    if let Some(sig) = signals.pending().next() {
                        return Ok((sig, io.stats));
                    }
                }
                t if control.owns(t) => control.ready(poll.registry(), t, engine, &io.stats),
                _ => {}
            }
        }
        // Read again: draining the TUN device may have taken a while.
        let now = clock.now();
        if engine.next_deadline().is_some_and(|d| d <= now) {
            engine.handle_timeout(now);
        }
        io.transmit(engine, now);
    }
}

/// The device, its batches and its counters.
struct Io<'a> {
    tun: &'a Tun,
    legs: &'a Legs,
    rx: RxBatch,
    tx: TxBatch,
    stats: TunIo,
}

impl Io<'_> {
    /// Reads until `WouldBlock`, draining the engine's output (and firing its due timers)
    /// every few reads.
    ///
    /// The clock is read for every batch: under load this loop runs for hundreds of
    /// milliseconds, and an engine time frozen at the wakeup made every segment sent
    /// meanwhile carry a stale time (TSval, RTT samples, timers), so that the next wakeup
    /// found PTOs and RTOs long due that had been armed only milliseconds before: spurious
    /// retransmissions (docs/BENCHMARKS.md, "Refused connections under parallel load").
    fn read<E: Engine>(&mut self, engine: &mut E, clock: &Clock) {
        let mut errors = 0;
        loop {
            for _ in 0..READS_PER_DRAIN {
                match self
                    .tun
                    .recv_batch(&mut self.rx, self.legs, &mut self.stats)
                {
                    Ok(_) => {
                        errors = 0;
                        let now = clock.now();
                        for packet in self.rx.packets() {
                            engine.handle_packet(now, packet);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // A malformed packet (or one with a wrong TCP checksum) is consumed by
                        // the failed read; the queue behind it is still readable (epoll is
                        // edge-triggered, so stopping here would strand it until the next
                        // packet arrives). Such a read made progress, so only other errors
                        // (the device failing) count towards MAX_READ_ERRORS: a burst of bad
                        // packets from the network must not stall the good ones behind it.
                        self.stats.read_errors += 1;
                        let dropped = e.kind() == io::ErrorKind::InvalidData;
                        if !dropped {
                            errors += 1;
                        }
                        if self.stats.read_errors.is_power_of_two() {
                            let what = if dropped {
                                "TUN packet dropped"
                            } else {
                                "TUN read failed"
                            };
                            tracing::warn!(error = %e, errors = self.stats.read_errors, "{what}");
                        }
                        if errors >= MAX_READ_ERRORS {
                            return;
                        }
                    }
                }
            }
            let now = clock.now();
            if engine.next_deadline().is_some_and(|d| d <= now) {
                engine.handle_timeout(now);
            }
            self.transmit(engine, now);
        }
    }

    /// Writes every packet the engine has queued, a batch at a time.
    fn transmit<E: Engine>(&mut self, engine: &mut E, now: Instant) {
        loop {
            let tx = &mut self.tx;
            while !tx.is_full() && tx.push_with(|buf| engine.poll_transmit(now, buf)) {}
            if tx.is_empty() {
                return;
            }
            let full = tx.is_full();
            if let Err(e) = self.tun.send_batch(tx, self.legs, &mut self.stats) {
                self.stats.write_errors += 1;
                tracing::debug!(error = %e, "TUN write failed, packet dropped");
            }
            if !full {
                return;
            }
        }
    }
}
