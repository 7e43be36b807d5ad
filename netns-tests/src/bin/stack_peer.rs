//! `stack_peer`: one `stack::Stack` (our user-space TCP engine) over a TUN device, for
//! interop tests against the Linux kernel's TCP.
//!
//! Run it inside a network namespace (`ip netns exec NS stack_peer ...`). It opens the TUN
//! device there, brings it up and gives its kernel side the `--kernel-addr` addresses; the
//! engine owns `--addr`, an address inside one of those subnets, so the kernel routes
//! traffic for it into the TUN device and the engine answers.
//!
//! * `--connect ADDR:PORT` (client): connects, then runs the transfer.
//! * `--listen PORT` (server): prints `READY`, accepts one connection, runs the transfer.
//!
//! The transfer is full duplex: `--send-bytes N` pseudo-random bytes (ChaCha8 from `--seed`)
//! go out, followed by FIN; everything received is hashed until the peer's FIN. The last
//! line is `RESULT sent_sha256=.. recv_sha256=.. sent=.. recv=.. ms=.. eof_ms=..` (ms: from
//! the handshake to both directions done; eof_ms: to the peer's FIN) followed by a
//! `STATS` line with the engine's counters. The exit code is 0 only if the connection
//! closed cleanly and `--expect-bytes` (if given) matched. `--max-runtime-s` bounds the run.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use netns_tests::{ip_status, TunSetupError};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use stack::{ConnId, Event, IpAddress, IpEndpoint, ListenAddr, ListenConfig, RecvError, State};
use stack::{Stack, StackConfig};
use tun_rs::SyncDevice;

const TOKEN_TUN: Token = Token(0);
/// Packets read per loop turn before the engine gets to transmit.
const READ_BURST: usize = 512;
/// Chunk of generated data offered to `Stack::send` at a time.
const CHUNK: usize = 64 * 1024;
/// After a clean close, keep answering (e.g. a retransmitted FIN) for this long.
const LINGER: Duration = Duration::from_millis(300);

#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("bad value for {flag}")]
    BadValue { flag: &'static str },
    #[error("{step}: {source}")]
    Io {
        step: &'static str,
        source: io::Error,
    },
    #[error(transparent)]
    Tun(#[from] TunSetupError),
    #[error("connect failed: {0}")]
    Connect(stack::ConnectError),
    #[error("connection failed: {0:?}")]
    Conn(RecvError),
    #[error("max runtime exceeded (sent {sent} of {total}, received {recv}, state {state:?})")]
    Timeout {
        sent: u64,
        total: u64,
        recv: u64,
        state: Option<State>,
    },
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> PeerError {
    move |source| PeerError::Io { step, source }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Connect(SocketAddr),
    Listen(u16),
}

#[derive(Debug, Clone)]
struct Config {
    tun: String,
    mtu: u16,
    addr: IpAddr,
    kernel_addrs: Vec<String>,
    mode: Mode,
    send_bytes: u64,
    expect_bytes: Option<u64>,
    seed: u64,
    max_runtime: Duration,
}

const USAGE: &str = "stack_peer --tun NAME --addr IP [--kernel-addr CIDR]... \
(--connect ADDR:PORT | --listen PORT) [--send-bytes N] [--expect-bytes N] [--seed N] \
[--mtu N] [--max-runtime-s N]";

fn parse_num<T: std::str::FromStr>(flag: &'static str, v: &str) -> Result<T, PeerError> {
    v.parse().map_err(|_| PeerError::BadValue { flag })
}

fn parse_args(args: &[String]) -> Result<Config, PeerError> {
    let mut tun = None;
    let mut addr = None;
    let mut mode = None;
    let mut cfg_mtu = 1500u16;
    let mut kernel_addrs = Vec::new();
    let mut send_bytes = 0u64;
    let mut expect_bytes = None;
    let mut seed = 1u64;
    let mut max_runtime = Duration::from_secs(300);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(PeerError::Usage(USAGE))?;
        match flag.as_str() {
            "--tun" => tun = Some(v.clone()),
            "--addr" => addr = Some(parse_num::<IpAddr>("--addr", v)?),
            "--kernel-addr" => kernel_addrs.push(v.clone()),
            "--connect" => mode = Some(Mode::Connect(parse_num("--connect", v)?)),
            "--listen" => mode = Some(Mode::Listen(parse_num("--listen", v)?)),
            "--send-bytes" => send_bytes = parse_num("--send-bytes", v)?,
            "--expect-bytes" => expect_bytes = Some(parse_num("--expect-bytes", v)?),
            "--seed" => seed = parse_num("--seed", v)?,
            "--mtu" => cfg_mtu = parse_num("--mtu", v)?,
            "--max-runtime-s" => {
                max_runtime = Duration::from_secs(parse_num("--max-runtime-s", v)?);
            }
            _ => return Err(PeerError::Usage(USAGE)),
        }
    }
    let (Some(tun), Some(addr), Some(mode)) = (tun, addr, mode) else {
        return Err(PeerError::Usage(USAGE));
    };
    if cfg_mtu < 1280 {
        return Err(PeerError::BadValue { flag: "--mtu" });
    }
    if let Mode::Connect(remote) = mode {
        if remote.is_ipv4() != addr.is_ipv4() {
            return Err(PeerError::BadValue { flag: "--connect" });
        }
    }
    Ok(Config {
        tun,
        mtu: cfg_mtu,
        addr,
        kernel_addrs,
        mode,
        send_bytes,
        expect_bytes,
        seed,
        max_runtime,
    })
}

/// Opens TUN `name` (no packet-info header) in the current namespace, brings it up and
/// assigns the kernel-side addresses (IPv6 without DAD).
fn open_tun(cfg: &Config) -> Result<SyncDevice, PeerError> {
    let dev = netns_tests::open_tun(&cfg.tun, cfg.mtu)?;
    let mtu = cfg.mtu.to_string();
    ip_status(&["link", "set", &cfg.tun, "mtu", &mtu, "up"])?;
    for a in &cfg.kernel_addrs {
        if a.contains(':') {
            ip_status(&["-6", "addr", "add", a, "dev", &cfg.tun, "nodad"])?;
        } else {
            ip_status(&["addr", "add", a, "dev", &cfg.tun])?;
        }
    }
    Ok(dev)
}

fn ip_address(a: IpAddr) -> IpAddress {
    match a {
        IpAddr::V4(v4) => IpAddress::Ipv4(v4),
        IpAddr::V6(v6) => IpAddress::Ipv6(v6),
    }
}

/// The application side of the one connection: generated outgoing data, hashes.
struct Transfer {
    rng: ChaCha8Rng,
    chunk: Vec<u8>,
    chunk_off: usize,
    total: u64,
    sent: u64,
    sent_hash: Sha256,
    recv: u64,
    recv_hash: Sha256,
    fin_sent: bool,
    eof: bool,
    /// When the peer's FIN arrived (all of its data received).
    eof_at: Option<Instant>,
}

impl Transfer {
    fn new(total: u64, seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            chunk: Vec::new(),
            chunk_off: 0,
            total,
            sent: 0,
            sent_hash: Sha256::new(),
            recv: 0,
            recv_hash: Sha256::new(),
            fin_sent: false,
            eof: false,
            eof_at: None,
        }
    }

    /// Offers data until the engine's send buffer is full; FIN once everything went in.
    fn pump_send(&mut self, stack: &mut Stack, now: stack::Instant, id: ConnId) {
        while self.sent < self.total {
            if self.chunk_off >= self.chunk.len() {
                let left = self.total - self.sent;
                let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
                self.chunk.resize(n, 0);
                self.rng.fill_bytes(&mut self.chunk);
                self.chunk_off = 0;
            }
            let Some(pending) = self.chunk.get(self.chunk_off..) else {
                break;
            };
            let n = stack.send(now, id, pending);
            if n == 0 {
                return;
            }
            if let Some(accepted) = pending.get(..n) {
                self.sent_hash.update(accepted);
            }
            self.chunk_off += n;
            self.sent += n as u64;
        }
        if !self.fin_sent {
            stack.close(now, id);
            self.fin_sent = true;
        }
    }

    /// Reads everything available; `Err` on reset or timeout.
    fn pump_recv(
        &mut self,
        stack: &mut Stack,
        now: stack::Instant,
        id: ConnId,
        buf: &mut [u8],
    ) -> Result<(), PeerError> {
        while !self.eof {
            match stack.recv(now, id, buf) {
                Ok(0) => {
                    self.eof = true;
                    self.eof_at = Some(Instant::now());
                }
                Ok(n) => {
                    if let Some(data) = buf.get(..n) {
                        self.recv_hash.update(data);
                    }
                    self.recv += n as u64;
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => return Err(PeerError::Conn(e)),
            }
        }
        Ok(())
    }

    /// Both directions done: our FIN acknowledged and the peer's FIN received.
    fn done(&self, state: Option<State>) -> bool {
        self.eof
            && self.fin_sent
            && matches!(state, None | Some(State::TimeWait) | Some(State::Closed))
    }
}

struct Io {
    dev: SyncDevice,
    start: Instant,
    buf: Vec<u8>,
    write_errors: u64,
}

impl Io {
    fn now(&self) -> stack::Instant {
        let us = i64::try_from(self.start.elapsed().as_micros()).unwrap_or(i64::MAX);
        stack::Instant::from_micros(us)
    }

    /// Feeds received packets to the engine; `true` if the burst limit was hit.
    fn read_packets(&mut self, stack: &mut Stack) -> Result<bool, PeerError> {
        for _ in 0..READ_BURST {
            match self.dev.recv(&mut self.buf) {
                Ok(n) => {
                    let now = self.now();
                    if let Some(pkt) = self.buf.get(..n) {
                        stack.handle(now, pkt);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("read TUN")(e)),
            }
        }
        Ok(true)
    }

    /// Writes every packet the engine has ready.
    fn write_packets(&mut self, stack: &mut Stack) {
        let now = self.now();
        while let Some(n) = stack.poll_transmit(now, &mut self.buf) {
            let Some(pkt) = self.buf.get(..n) else {
                break;
            };
            // A full or failing device drops the packet, as a real link would.
            if self.dev.send(pkt).is_err() {
                self.write_errors += 1;
            }
        }
    }
}

fn run(cfg: &Config) -> Result<(Transfer, [Duration; 2], stack::Stats), PeerError> {
    let dev = open_tun(cfg)?;
    let mut poll = Poll::new().map_err(io_err("create poll"))?;
    let fd = dev.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), TOKEN_TUN, Interest::READABLE)
        .map_err(io_err("register TUN"))?;

    let local = ip_address(cfg.addr);
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&cfg.seed.to_le_bytes());
    let mut sc = StackConfig::new(vec![local], seed);
    sc.mtu = usize::from(cfg.mtu);
    let mut stack = Stack::new(sc);
    let mut io = Io {
        dev,
        start: Instant::now(),
        buf: vec![0u8; 65_536],
        write_errors: 0,
    };
    let stop_at = io.start + cfg.max_runtime;
    let mut out = io::stdout();

    let mut conn: Option<ConnId> = None;
    match cfg.mode {
        Mode::Connect(remote) => {
            let now = io.now();
            let remote = IpEndpoint::new(ip_address(remote.ip()), remote.port());
            let id = stack
                .connect(now, IpEndpoint::new(local, 0), remote, None)
                .map_err(PeerError::Connect)?;
            conn = Some(id);
        }
        Mode::Listen(port) => {
            stack.listen(
                ListenAddr {
                    addr: Some(local),
                    port: Some(port),
                },
                ListenConfig::default(),
            );
            writeln!(out, "READY {} {}", cfg.tun, cfg.addr).map_err(io_err("write READY"))?;
            out.flush().map_err(io_err("flush stdout"))?;
        }
    }

    let mut xfer = Transfer::new(cfg.send_bytes, cfg.seed);
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut events = Events::with_capacity(16);
    let mut started: Option<Instant> = None;
    let mut finished: Option<Instant> = None;
    loop {
        let wall = Instant::now();
        if wall >= stop_at {
            return Err(PeerError::Timeout {
                sent: xfer.sent,
                total: xfer.total,
                recv: xfer.recv,
                state: conn.and_then(|id| stack.state(id)),
            });
        }
        let more = io.read_packets(&mut stack)?;
        let now = io.now();
        if stack.next_deadline().is_some_and(|d| d <= now) {
            stack.handle_timeout(now);
        }
        while let Some((id, ev)) = stack.poll_event() {
            match ev {
                Event::Established if conn.is_none() || conn == Some(id) => {
                    conn = Some(id);
                    started.get_or_insert(wall);
                }
                Event::Reset if conn == Some(id) => {
                    return Err(PeerError::Conn(RecvError::Reset));
                }
                Event::Timeout if conn == Some(id) => {
                    return Err(PeerError::Conn(RecvError::TimedOut));
                }
                _ => {}
            }
        }
        if let Some(id) = conn {
            if started.is_some() {
                xfer.pump_send(&mut stack, now, id);
                xfer.pump_recv(&mut stack, now, id, &mut rbuf)?;
            }
            if finished.is_none() && xfer.done(stack.state(id)) {
                finished = Some(wall);
            }
        }
        io.write_packets(&mut stack);
        if let Some(f) = finished {
            if wall.duration_since(f) >= LINGER {
                break;
            }
        }
        let timeout = if more {
            Duration::ZERO
        } else {
            let now = io.now();
            let mut wake = stop_at.saturating_duration_since(wall);
            if let Some(d) = stack.next_deadline() {
                let us = u64::try_from(d.total_micros() - now.total_micros()).unwrap_or(0);
                wake = wake.min(Duration::from_micros(us));
            }
            if finished.is_some() {
                wake = wake.min(LINGER);
            }
            wake
        };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("poll")(e)),
        }
    }
    let since_start = |t: Option<Instant>| match (started, t) {
        (Some(s), Some(t)) => t.duration_since(s),
        _ => Duration::ZERO,
    };
    let times = [since_start(finished), since_start(xfer.eof_at)];
    Ok((xfer, times, *stack.stats()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stack_peer: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg) {
        Ok((xfer, [elapsed, eof], st)) => {
            println!(
                "RESULT sent_sha256={} recv_sha256={} sent={} recv={} ms={} eof_ms={}",
                hex::encode(xfer.sent_hash.finalize()),
                hex::encode(xfer.recv_hash.finalize()),
                xfer.sent,
                xfer.recv,
                elapsed.as_millis(),
                eof.as_millis()
            );
            println!(
                "STATS packets_in={} packets_out={} retransmits={} rto_expiries={} \
                 fast_retransmits={} out_of_window={} ooo_dropped={} bad_checksum={} \
                 not_ours={} unknown_protocol={} icmp_pmtu={} challenge_acks={} rst_sent={}",
                st.packets_in,
                st.packets_out,
                st.retransmits,
                st.rto_expiries,
                st.fast_retransmits,
                st.out_of_window,
                st.ooo_dropped,
                st.bad_checksum,
                st.not_ours,
                st.unknown_protocol,
                st.icmp_pmtu,
                st.challenge_acks,
                st.rst_sent
            );
            if cfg.expect_bytes.is_some_and(|e| e != xfer.recv) {
                eprintln!("stack_peer: expected {:?} bytes", cfg.expect_bytes);
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stack_peer: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_modes_and_rejects_bad_args() {
        let c = parse_args(&args(&[
            "--tun",
            "t0",
            "--addr",
            "10.0.0.2",
            "--connect",
            "10.0.0.1:80",
        ]))
        .unwrap();
        assert!(matches!(c.mode, Mode::Connect(a) if a.port() == 80));
        let c = parse_args(&args(&[
            "--tun",
            "t0",
            "--addr",
            "fd00::2",
            "--listen",
            "9",
            "--send-bytes",
            "5",
        ]))
        .unwrap();
        assert!(matches!(c.mode, Mode::Listen(9)));
        assert_eq!(c.send_bytes, 5);
        assert!(parse_args(&args(&["--tun", "t0", "--addr", "10.0.0.2"])).is_err());
        assert!(matches!(
            parse_args(&args(&[
                "--tun",
                "t0",
                "--addr",
                "10.0.0.2",
                "--connect",
                "[fd00::1]:80"
            ])),
            Err(PeerError::BadValue { flag: "--connect" })
        ));
        assert!(parse_args(&args(&["--bogus", "1"])).is_err());
    }
}
