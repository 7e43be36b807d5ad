//! Worker modes of the `bench` binary, run by the orchestrator inside a namespace
//! (`ip netns exec NS bench MODE ...`): the TUN pump, a request/response server, a
//! connection-rate client, a time-to-first-byte client, a 471-byte ping-pong client and
//! idle-connection holders. Each prints one `KEY k=v ...` result line on stdout.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tun_rs::{DeviceBuilder, SyncDevice};

/// Errors of a worker; printed on stderr, exit status 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorkerError {
    /// Wrong arguments.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// An OS call failed.
    #[error("{step}: {source}")]
    Io {
        /// The step.
        step: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// `ip` failed.
    #[error("`ip {0}` failed")]
    Ip(String),
}

fn io_err(step: &'static str) -> impl FnOnce(io::Error) -> WorkerError {
    move |source| WorkerError::Io { step, source }
}

fn arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    usage: &'static str,
) -> Result<T, WorkerError> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or(WorkerError::Usage(usage))
}

/// Dispatches `bench MODE ARGS...`; `None` when `mode` is not a worker mode.
pub(crate) fn dispatch(mode: &str, args: &[String]) -> Option<Result<(), WorkerError>> {
    Some(match mode {
        "pump" => pump(args),
        "serve" => serve(args),
        "conns" => conns(args),
        "ttfb" => ttfb(args),
        "rr" => rr(args),
        "hold" => hold(args),
        "holdsrv" => hold_server(args),
        _ => return None,
    })
}

fn ip(args: &[&str]) -> Result<(), WorkerError> {
    let ok = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .map_err(io_err("run ip"))?
        .success();
    if ok {
        Ok(())
    } else {
        Err(WorkerError::Ip(args.join(" ")))
    }
}

fn open_tun(name: &str, ns: &str, mtu: u16) -> Result<SyncDevice, WorkerError> {
    let dev = DeviceBuilder::new()
        .name(name)
        .mtu(mtu)
        .build_sync()
        .map_err(io_err("open TUN device"))?;
    ip(&["link", "set", name, "netns", ns])?;
    ip(&["-n", ns, "link", "set", name, "mtu", &mtu.to_string(), "up"])?;
    Ok(dev)
}

/// Copies packets from `from` to `to` forever, one blocking read and one write per packet.
fn pump_dir(from: &SyncDevice, to: &SyncDevice, count: &AtomicU64) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match from.recv(&mut buf) {
            Ok(n) => {
                if let Some(pkt) = buf.get(..n) {
                    // A failed write drops the packet, as a full link would.
                    let _ = to.send(pkt);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

const PUMP_USAGE: &str = "bench pump TUN_A NS_A TUN_B NS_B MTU";

/// `pump TUN_A NS_A TUN_B NS_B MTU`: the minimal TUN data path. Two TUN devices, one thread
/// per direction, one blocking `read` and one `write` per packet, no queue, no timer. Prints
/// `READY`, runs until stdin closes, then prints `PUMP packets=N`.
fn pump(args: &[String]) -> Result<(), WorkerError> {
    let [ta, na, tb, nb] = [0, 1, 2, 3].map(|i| args.get(i).cloned().unwrap_or_default());
    if [&ta, &na, &tb, &nb].iter().any(|s| s.is_empty()) {
        return Err(WorkerError::Usage(PUMP_USAGE));
    }
    let mtu: u16 = arg(args, 4, PUMP_USAGE)?;
    let a = Arc::new(open_tun(&ta, &na, mtu)?);
    let b = Arc::new(open_tun(&tb, &nb, mtu)?);
    let count = Arc::new(AtomicU64::new(0));
    for (from, to) in [(a.clone(), b.clone()), (b, a)] {
        let count = count.clone();
        std::thread::spawn(move || pump_dir(&from, &to, &count));
    }
    println!("READY");
    wait_stdin_eof();
    println!("PUMP packets={}", count.load(Ordering::Relaxed));
    Ok(())
}

fn wait_stdin_eof() {
    let mut sink = [0u8; 64];
    let stdin = io::stdin();
    let mut lock = stdin.lock();
    loop {
        match lock.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn dual_stack_listener(port: u16) -> Result<TcpListener, WorkerError> {
    // [::] is dual-stack unless net.ipv6.bindv6only=1.
    TcpListener::bind(("::", port))
        .or_else(|_| TcpListener::bind(("0.0.0.0", port)))
        .map_err(io_err("bind listener"))
}

const SERVE_USAGE: &str = "bench serve PORT MSG_LEN THREADS";

/// `serve PORT MSG_LEN THREADS`: THREADS threads accept on one listener; per connection,
/// each message of MSG_LEN bytes read is answered by MSG_LEN bytes, until EOF.
fn serve(args: &[String]) -> Result<(), WorkerError> {
    let port: u16 = arg(args, 0, SERVE_USAGE)?;
    let len: usize = arg(args, 1, SERVE_USAGE)?;
    let threads: usize = arg(args, 2, SERVE_USAGE)?;
    let listener = dual_stack_listener(port)?;
    for _ in 1..threads.max(1) {
        let l = listener.try_clone().map_err(io_err("clone listener"))?;
        std::thread::spawn(move || accept_loop(&l, len));
    }
    println!("READY");
    accept_loop(&listener, len);
    Ok(())
}

fn accept_loop(l: &TcpListener, len: usize) {
    let mut buf = vec![0u8; len.max(1)];
    loop {
        if let Ok((mut s, _)) = l.accept() {
            let _ = s.set_nodelay(true);
            while s.read_exact(&mut buf).is_ok() {
                if s.write_all(&buf).is_err() {
                    break;
                }
            }
        }
    }
}

fn parse_addr(args: &[String], usage: &'static str) -> Result<SocketAddr, WorkerError> {
    arg(args, 0, usage)
}

/// Why one exchange failed, as counted by `conns` and `ttfb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailKind {
    /// `connect` did not complete within 3 s.
    ConnectTimeout,
    /// `connect` answered by RST.
    Refused,
    /// Reset (or broken pipe / aborted) after the connection was up.
    Reset,
    /// No answer byte within 3 s.
    ReadTimeout,
    /// The peer closed before answering.
    Eof,
    /// Anything else.
    Other,
}

impl FailKind {
    const ALL: [Self; 6] = [
        Self::ConnectTimeout,
        Self::Refused,
        Self::Reset,
        Self::ReadTimeout,
        Self::Eof,
        Self::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::ConnectTimeout => "connect_timeout",
            Self::Refused => "refused",
            Self::Reset => "reset",
            Self::ReadTimeout => "read_timeout",
            Self::Eof => "eof",
            Self::Other => "other",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(5)
    }

    fn classify(connecting: bool, e: &io::Error) -> Self {
        use io::ErrorKind as K;
        match (connecting, e.kind()) {
            (true, K::TimedOut | K::WouldBlock) => Self::ConnectTimeout,
            (_, K::ConnectionRefused) => Self::Refused,
            (_, K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe) => Self::Reset,
            (false, K::TimedOut | K::WouldBlock) => Self::ReadTimeout,
            (false, K::UnexpectedEof) => Self::Eof,
            _ => Self::Other,
        }
    }
}

/// Failure counts by kind, rendered `kind:n,...` (or `none`).
#[derive(Debug, Default)]
struct FailCounts([AtomicU64; 6]);

impl FailCounts {
    fn add(&self, k: FailKind) {
        if let Some(c) = self.0.get(k.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn total(&self) -> u64 {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self) -> String {
        let parts: Vec<String> = FailKind::ALL
            .iter()
            .zip(&self.0)
            .filter_map(|(k, c)| {
                let n = c.load(Ordering::Relaxed);
                (n > 0).then(|| format!("{}:{n}", k.name()))
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(",")
        }
    }
}

/// One connect, 1-byte request, 1-byte answer, close.
fn one_exchange(addr: SocketAddr) -> Result<(), FailKind> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| FailKind::classify(true, &e))?;
    let up = |e: io::Error| FailKind::classify(false, &e);
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .map_err(up)?;
    s.set_nodelay(true).map_err(up)?;
    s.write_all(&[7]).map_err(up)?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).map_err(up)
}

const CONNS_USAGE: &str = "bench conns ADDR:PORT THREADS SECS";

/// `conns ADDR:PORT THREADS SECS`: THREADS threads each open connections back to back
/// (connect, 1-byte request, 1-byte answer, close) for SECS seconds. Prints
/// `CONNS ok=N fail=M secs=S kinds=KIND:N,...` (`kinds=none` without failures; kinds:
/// connect_timeout, refused, reset, read_timeout, eof, other).
fn conns(args: &[String]) -> Result<(), WorkerError> {
    let addr = parse_addr(args, CONNS_USAGE)?;
    let threads: usize = arg(args, 1, CONNS_USAGE)?;
    let secs: f64 = arg(args, 2, CONNS_USAGE)?;
    let ok = Arc::new(AtomicU64::new(0));
    let fail = Arc::new(FailCounts::default());
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let (ok, fail) = (ok.clone(), fail.clone());
            std::thread::spawn(move || {
                while Instant::now() < end {
                    match one_exchange(addr) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(k) => fail.add(k),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    println!(
        "CONNS ok={} fail={} secs={:.3} kinds={}",
        ok.load(Ordering::Relaxed),
        fail.total(),
        start.elapsed().as_secs_f64(),
        fail.render()
    );
    Ok(())
}

const TTFB_USAGE: &str = "bench ttfb ADDR:PORT SAMPLES";

/// `ttfb ADDR:PORT SAMPLES`: time from `connect` to the first byte of the answer to a
/// 1-byte request, SAMPLES times, 100 ms apart. Prints `TTFB ms=a,b,c fail=M kinds=...`.
fn ttfb(args: &[String]) -> Result<(), WorkerError> {
    let addr = parse_addr(args, TTFB_USAGE)?;
    let samples: usize = arg(args, 1, TTFB_USAGE)?;
    let mut ms = Vec::new();
    let fail = FailCounts::default();
    for _ in 0..samples {
        let t0 = Instant::now();
        match one_exchange(addr) {
            Ok(()) => ms.push(format!("{:.3}", t0.elapsed().as_secs_f64() * 1e3)),
            Err(k) => fail.add(k),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "TTFB ms={} fail={} kinds={}",
        ms.join(","),
        fail.total(),
        fail.render()
    );
    Ok(())
}

const RR_USAGE: &str = "bench rr ADDR:PORT MSG_LEN COUNT";

/// `rr ADDR:PORT MSG_LEN COUNT`: one connection, COUNT round trips of MSG_LEN bytes each way
/// (TCP_NODELAY). Prints `RR count=N secs=S`.
fn rr(args: &[String]) -> Result<(), WorkerError> {
    let addr = parse_addr(args, RR_USAGE)?;
    let len: usize = arg(args, 1, RR_USAGE)?;
    let count: u64 = arg(args, 2, RR_USAGE)?;
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(io_err("connect"))?;
    s.set_nodelay(true).map_err(io_err("nodelay"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(io_err("read timeout"))?;
    let mut buf = vec![0x5au8; len.max(1)];
    let start = Instant::now();
    for _ in 0..count {
        s.write_all(&buf).map_err(io_err("write message"))?;
        s.read_exact(&mut buf).map_err(io_err("read answer"))?;
    }
    println!("RR count={count} secs={:.3}", start.elapsed().as_secs_f64());
    Ok(())
}

const HOLD_USAGE: &str = "bench hold ADDR:PORT COUNT THREADS";

/// `hold ADDR:PORT COUNT THREADS`: opens COUNT connections (THREADS in parallel, each
/// completing a 1-byte exchange so the path is end to end), keeps them idle, prints
/// `HELD ok=N fail=M errors=KIND:N,... secs=S` and sleeps until stdin closes.
fn hold(args: &[String]) -> Result<(), WorkerError> {
    let addr = parse_addr(args, HOLD_USAGE)?;
    let count: u64 = arg(args, 1, HOLD_USAGE)?;
    let threads = arg::<u64>(args, 2, HOLD_USAGE)?.max(1);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let n = count / threads + u64::from(t < count % threads);
            std::thread::spawn(move || {
                let (mut held, mut errs) = (Vec::new(), Vec::new());
                let mut in_a_row = 0;
                // Transient refusals back off and retry; 10 failures in a row end the thread.
                while (held.len() as u64) < n && in_a_row < 10 {
                    match hold_one(addr) {
                        Ok(s) => {
                            held.push(s);
                            in_a_row = 0;
                        }
                        Err(e) => {
                            errs.push(e.kind());
                            in_a_row += 1;
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
                (held, errs)
            })
        })
        .collect();
    let (mut all, mut errs) = (Vec::new(), Vec::new());
    for h in handles {
        if let Ok((held, e)) = h.join() {
            all.extend(held);
            errs.extend(e);
        }
    }
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for k in &errs {
        let name = format!("{k:?}");
        match kinds.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => kinds.push((name, 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(n, c)| format!("{n}:{c}")).collect();
    println!(
        "HELD ok={} fail={} errors={} secs={:.3}",
        all.len(),
        errs.len(),
        if kinds.is_empty() {
            "none".into()
        } else {
            kinds.join(",")
        },
        start.elapsed().as_secs_f64()
    );
    wait_stdin_eof();
    drop(all);
    Ok(())
}

fn hold_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&[1])?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)?;
    Ok(s)
}

const HOLDSRV_USAGE: &str = "bench holdsrv PORT";

/// `holdsrv PORT`: eight threads accept connections, answer the 1-byte hello and keep them
/// open until the process is killed.
fn hold_server(args: &[String]) -> Result<(), WorkerError> {
    let port: u16 = arg(args, 0, HOLDSRV_USAGE)?;
    let listener = dual_stack_listener(port)?;
    for _ in 1..8 {
        let l = listener.try_clone().map_err(io_err("clone listener"))?;
        std::thread::spawn(move || hold_accept_loop(&l));
    }
    println!("READY");
    hold_accept_loop(&listener);
    Ok(())
}

fn hold_accept_loop(listener: &TcpListener) {
    let mut held = Vec::new();
    loop {
        if let Ok((mut s, _)) = listener.accept() {
            let mut b = [0u8; 1];
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if s.read_exact(&mut b).is_ok() && s.write_all(&b).is_ok() {
                held.push(s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_classified_and_rendered() {
        let e = |k| io::Error::from(k);
        use io::ErrorKind as K;
        let c = FailCounts::default();
        assert_eq!(c.render(), "none");
        for (connecting, kind) in [
            (true, K::TimedOut),
            (true, K::ConnectionRefused),
            (false, K::ConnectionReset),
            (false, K::BrokenPipe),
            (false, K::WouldBlock),
            (false, K::UnexpectedEof),
            (false, K::PermissionDenied),
        ] {
            c.add(FailKind::classify(connecting, &e(kind)));
        }
        assert_eq!(c.total(), 7);
        assert_eq!(
            c.render(),
            "connect_timeout:1,refused:1,reset:2,read_timeout:1,eof:1,other:1"
        );
    }
}
