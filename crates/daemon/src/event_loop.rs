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

/// What the loop reads packets from and writes them to: the TUN device (a stand-in in the
/// tests of the drain logic).
trait Device {
    fn recv_batch(&self, batch: &mut RxBatch, legs: &Legs, io: &mut TunIo) -> io::Result<usize>;
    fn send_batch(&self, batch: &mut TxBatch, legs: &Legs, io: &mut TunIo) -> io::Result<usize>;
}

impl Device for Tun {
    fn recv_batch(&self, batch: &mut RxBatch, legs: &Legs, io: &mut TunIo) -> io::Result<usize> {
        Tun::recv_batch(self, batch, legs, io)
    }

    fn send_batch(&self, batch: &mut TxBatch, legs: &Legs, io: &mut TunIo) -> io::Result<usize> {
        Tun::send_batch(self, batch, legs, io)
    }
}

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
struct Io<'a, D> {
    tun: &'a D,
    legs: &'a Legs,
    rx: RxBatch,
    tx: TxBatch,
    stats: TunIo,
}

impl<D: Device> Io<'_, D> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::cell::Cell;
    use std::net::SocketAddr;
    use std::time::Duration as StdDuration;

    use super::*;
    use crate::engine::{ConnStatus, Duration, SESSID_LEN};

    /// Returns `reads` one-byte packets (0, 1, ...), each after `gap` of real time (a
    /// device whose queue takes that long to drain), then `WouldBlock`.
    struct SlowDevice {
        reads: u8,
        next: Cell<u8>,
        gap: StdDuration,
    }

    impl Device for SlowDevice {
        fn recv_batch(&self, batch: &mut RxBatch, _: &Legs, _: &mut TunIo) -> io::Result<usize> {
            let i = self.next.get();
            if i == self.reads {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.next.set(i + 1);
            std::thread::sleep(self.gap);
            Ok(batch.load(&[i]))
        }

        fn send_batch(&self, batch: &mut TxBatch, _: &Legs, _: &mut TunIo) -> io::Result<usize> {
            batch.clear();
            Ok(0)
        }
    }

    /// Records the time of every packet and timeout; its one timer is due `timer` after
    /// the first packet.
    #[derive(Default)]
    struct Recorder {
        packets: Vec<(u8, Instant)>,
        timeouts: Vec<Instant>,
        deadline: Option<Instant>,
        timer: Duration,
    }

    impl Engine for Recorder {
        fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
            if self.packets.is_empty() {
                self.deadline = Some(now + self.timer);
            }
            self.packets.push((packet[0], now));
        }
        fn poll_transmit(&mut self, _: Instant, _: &mut [u8]) -> Option<usize> {
            None
        }
        fn next_deadline(&self) -> Option<Instant> {
            self.deadline
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.timeouts.push(now);
            self.deadline = None;
        }
        fn status(&self) -> Vec<ConnStatus> {
            Vec::new()
        }
        fn sessid(&self, _: SocketAddr, _: SocketAddr) -> Option<[u8; SESSID_LEN]> {
            None
        }
    }

    /// Regression test for the frozen clock (docs/BENCHMARKS.md, "Refused connections
    /// under parallel load (session 4)"): draining a long queue, every read is handled at
    /// the time it was read, not at the time of the wakeup, and a timer that falls due
    /// meanwhile fires during the drain (at the next drain point), not after it.
    #[test]
    fn a_long_drain_reads_the_clock_per_read_and_fires_timers_on_the_way() {
        let reads = 3 * READS_PER_DRAIN as u8;
        let gap = StdDuration::from_millis(1);
        let dev = SlowDevice {
            reads,
            next: Cell::new(0),
            gap,
        };
        let legs = Legs::new("10.0.0.2".parse().unwrap(), "fd00::2".parse().unwrap());
        let mut io = Io {
            tun: &dev,
            legs: &legs,
            rx: RxBatch::new(1500),
            tx: TxBatch::new(1500, false),
            stats: TunIo::default(),
        };
        let mut engine = Recorder {
            timer: Duration::from_millis(5),
            ..Recorder::default()
        };
        let clock = Clock::new();
        io.read(&mut engine, &clock);

        assert_eq!(engine.packets.len(), usize::from(reads));
        // Each read took at least `gap`: each packet's time is at least that after the
        // previous one's (one frozen time for the whole drain was the bug).
        for w in engine.packets.windows(2) {
            let (a, b) = (w[0].1, w[1].1);
            assert!(
                b - a >= Duration::from_micros(gap.as_micros() as u64),
                "{:?} then {:?}",
                w[0],
                w[1]
            );
        }
        // The timer, due 5 ms after the first packet, fired at the first drain point
        // after that (after READS_PER_DRAIN reads, ≥ 16 ms in), before the drain ended.
        let first = engine.packets[0].1;
        let last = engine.packets.last().unwrap().1;
        assert_eq!(engine.timeouts.len(), 1, "{:?}", engine.timeouts);
        let fired = engine.timeouts[0];
        assert!(fired >= first + Duration::from_millis(5));
        assert!(
            fired < last,
            "timer fired at {fired} after the drain ({last})"
        );
        assert_eq!(
            engine.packets.iter().filter(|(_, t)| *t <= fired).count(),
            READS_PER_DRAIN
        );
    }
}
