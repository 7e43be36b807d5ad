//! The measurements of the bench, in the order of issue 5's priorities: throughput, new
//! connections per second, time to first byte, idle-connection memory, wire efficiency.
//! Each step is bounded in time; a failed step is recorded as a note, the run goes on.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use netns_tests::{Child, TempDir};

use crate::measure::{
    cpu_secs, field, line_with, median, parse_iperf, rss_kib, run_bounded, speed_probe,
    tx_counters, with_busy, BenchError, Busy, Iperf, MachineCpu, TxCounters,
};
use crate::topo::{aead_toml, Bins, Daemon, Hosts, TunIo};

const IPERF_PORT: u16 = 5201;
const CONN_PORT: u16 = 7001;
const RR_PORT: u16 = 7002;
const HOLD_PORTS: [u16; 5] = [6001, 6002, 6003, 6004, 6005];
/// Connections per hold process (below the 20 000 open-file hard limit of this machine).
const PER_HOLDER: u64 = 10_000;
const RR_MSG: usize = 471;
const RR_COUNT: u64 = 5_000;
/// Name of the rows with resumption on both hosts.
const RESUMED_ROW: &str = "tcpcryptd encrypted, resumed";
const AEADS: [(&str, &str); 3] = [
    ("AES-128-GCM", "aes-128-gcm"),
    ("AES-256-GCM", "aes-256-gcm"),
    ("ChaCha20-Poly1305", "chacha20-poly1305"),
];

/// Settings and shared state of one bench run.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Binaries.
    pub(crate) bins: Bins,
    /// iperf3 `-t` and connection-rate duration in seconds.
    pub(crate) secs: u64,
    /// Idle-connection counts to reach (multiples of 10 000, at most 50 000).
    pub(crate) hold: Vec<u64>,
    /// Record `perf` profiles of both daemons during the AES-128-GCM run into this directory.
    pub(crate) perf_dir: Option<PathBuf>,
    /// Sections to run (`None`: all): tput, pump, conns, ttfb, hold, wire.
    pub(crate) only: Option<Vec<String>>,
    /// `/proc` clock ticks per second.
    pub(crate) tck: f64,
    /// End of the time budget.
    pub(crate) deadline: Instant,
}

impl Ctx {
    fn want(&self, section: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|s| s == section))
    }

    fn check(&self, step: &'static str) -> Result<(), BenchError> {
        if Instant::now() + Duration::from_secs(20) > self.deadline {
            Err(BenchError::OutOfTime(step))
        } else {
            Ok(())
        }
    }
}

/// One throughput row.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tput {
    /// Path name.
    pub(crate) name: String,
    /// The iperf3 figures, if the run worked.
    pub(crate) run: Option<Iperf>,
    /// CPU seconds of the tunnel processes (daemons or pump).
    pub(crate) tunnel_cpu: f64,
    /// Remarks (cipher seen, failure).
    pub(crate) note: String,
    /// TUN I/O of each daemon during the run ("client" / "server").
    pub(crate) io: Vec<(&'static str, TunIo)>,
    /// How busy the machine's CPUs were during the run.
    pub(crate) busy: Option<Busy>,
    /// The speed probe just before the run, ms (lower: faster machine).
    pub(crate) probe_ms: Option<f64>,
}

/// One connection-rate row.
#[derive(Debug, Default, Clone)]
pub(crate) struct Conns {
    /// Path name.
    pub(crate) name: String,
    /// Sequential connections per second.
    pub(crate) seq: Option<f64>,
    /// 64 parallel: connections per second.
    pub(crate) par: Option<f64>,
    /// CPU milliseconds of the daemons per connection in the parallel run.
    pub(crate) cpu_ms: Option<f64>,
    /// How busy the machine's CPUs were: sequential run, parallel run.
    pub(crate) busy: [Option<Busy>; 2],
    /// Remarks.
    pub(crate) note: String,
}

/// One time-to-first-byte row.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ttfb {
    /// Path name.
    pub(crate) name: String,
    /// Samples in ms.
    pub(crate) ms: Vec<f64>,
    /// Remarks.
    pub(crate) note: String,
}

/// One idle-connection row.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hold {
    /// Connections asked for.
    pub(crate) asked: u64,
    /// Connections held.
    pub(crate) held: u64,
    /// RSS of the client daemon, KiB.
    pub(crate) rss_c: u64,
    /// RSS of the server daemon, KiB.
    pub(crate) rss_s: u64,
    /// Seconds to open them.
    pub(crate) secs: f64,
    /// Remarks.
    pub(crate) note: String,
}

/// One wire-efficiency measurement.
#[derive(Debug, Default, Clone)]
pub(crate) struct Wire {
    /// Load name.
    pub(crate) load: String,
    /// Path name.
    pub(crate) path: String,
    /// Application bytes moved (both directions).
    pub(crate) app: u64,
    /// IP bytes on the link, both directions.
    pub(crate) ip: u64,
    /// Packets on the link, both directions.
    pub(crate) packets: u64,
    /// Remarks.
    pub(crate) note: String,
}

/// Everything measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// Throughput rows.
    pub(crate) tput: Vec<Tput>,
    /// Connection rates.
    pub(crate) conns: Vec<Conns>,
    /// Measured RTT of the emulated link, ms.
    pub(crate) emu_rtt_ms: Option<f64>,
    /// TTFB rows.
    pub(crate) ttfb: Vec<Ttfb>,
    /// Idle-connection rows; the first is the baseline before any connection.
    pub(crate) hold: Vec<Hold>,
    /// Wire rows.
    pub(crate) wire: Vec<Wire>,
    /// Failures outside a row.
    pub(crate) notes: Vec<String>,
}

fn note_err<T>(r: Result<T, BenchError>, note: &mut String) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            eprintln!("bench: {e}");
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("failed: {e}"));
            None
        }
    }
}

fn iperf_server(h: &Hosts) -> Result<Child, BenchError> {
    let mut cmd = h
        .server
        .command("iperf3", &["-s", "-p", &IPERF_PORT.to_string()]);
    cmd.stdout(std::process::Stdio::null());
    let c = Child::spawn(cmd)?;
    h.server
        .wait_tcp_listen(IPERF_PORT, Duration::from_secs(20))?;
    Ok(c)
}

/// One iperf3 run client → server (its IPv6 address if `v6`); `opts` says how much
/// (`-t SECS` or `-n BYTES`) and anything else. While it runs: optionally asks `watch` for
/// the ciphers of its connections and records `perf` profiles.
fn iperf(
    ctx: &Ctx,
    h: &Hosts,
    opts: &[&str],
    v6: bool,
    tunnel: &[u32],
    watch: Option<&Daemon>,
    perf: Option<&str>,
) -> Result<(Iperf, f64, String), BenchError> {
    ctx.check("iperf3")?;
    let addr = h.server_addr_of(v6).to_string();
    let port = IPERF_PORT.to_string();
    let mut args = vec!["-c", &addr, "-p", &port, "-J"];
    args.extend_from_slice(opts);
    let cmd = h.client.command("iperf3", &args);
    let cpu0: Vec<f64> = tunnel
        .iter()
        .map(|p| cpu_secs(*p, ctx.tck).unwrap_or(0.0))
        .collect();
    let timeout = Duration::from_secs(ctx.secs + 60);
    let runner = std::thread::spawn(move || run_bounded("iperf3 client", cmd, timeout));
    let profiles = start_perf(ctx, tunnel, perf);
    let mut note = String::new();
    if let Some(d) = watch {
        std::thread::sleep(Duration::from_millis(1500));
        let mut ciphers: Vec<String> = d
            .status()?
            .iter()
            .map(|c| c["cipher"].as_str().unwrap_or("plain").to_owned())
            .collect();
        ciphers.sort();
        ciphers.dedup();
        note = format!("cipher seen: {}", ciphers.join(", "));
    }
    let out = runner.join().map_err(|_| BenchError::Step {
        what: "iperf3 runner",
        detail: "thread panicked".into(),
    })??;
    let cpu: f64 = tunnel
        .iter()
        .zip(cpu0)
        .map(|(p, c0)| cpu_secs(*p, ctx.tck).unwrap_or(c0) - c0)
        .sum();
    finish_perf(profiles);
    Ok((parse_iperf(&out)?, cpu, note))
}

type Profiles = Vec<(PathBuf, std::thread::JoinHandle<Result<String, BenchError>>)>;

/// With `--perf`: records each of `pids` for the next `secs - 2` seconds (after 0.5 s).
fn start_perf(ctx: &Ctx, pids: &[u32], tag: Option<&str>) -> Profiles {
    let mut profiles = Vec::new();
    let (Some(dir), Some(tag)) = (&ctx.perf_dir, tag) else {
        return profiles;
    };
    std::thread::sleep(Duration::from_millis(500));
    for (i, pid) in pids.iter().enumerate() {
        let who = ["client", "server"].get(i).copied().unwrap_or("other");
        let file = dir.join(format!("{tag}-{who}.data"));
        let mut c = Command::new("perf");
        c.args(["record", "-F", "999", "-g", "-p", &pid.to_string(), "-o"])
            .arg(&file)
            .args([
                "--",
                "sleep",
                &ctx.secs.saturating_sub(2).max(1).to_string(),
            ]);
        let timeout = Duration::from_secs(ctx.secs + 60);
        profiles.push((
            file,
            std::thread::spawn(move || run_bounded("perf record", c, timeout)),
        ));
    }
    profiles
}

fn finish_perf(profiles: Profiles) {
    for (file, t) in profiles {
        let _ = t.join();
        perf_report(&file);
    }
}

fn perf_report(file: &std::path::Path) {
    let mut c = Command::new("perf");
    c.args([
        "report",
        "--stdio",
        "--no-children",
        "--percent-limit",
        "0.7",
        "--sort",
        "dso,symbol",
        "-i",
    ])
    .arg(file);
    match run_bounded("perf report", c, Duration::from_secs(120)) {
        Ok(text) => {
            let txt = file.with_extension("txt");
            let _ = std::fs::write(&txt, &text);
            eprintln!("bench: perf profile written to {}", txt.display());
        }
        Err(e) => eprintln!("bench: {e}"),
    }
}

/// One throughput row (to the server's IPv6 address if `v6`); `daemons` (named "client" /
/// "server") are the tunnel, the first is asked for the ciphers in use, and each one's TUN
/// I/O during the run is recorded.
fn tput_row(
    ctx: &Ctx,
    h: &Hosts,
    name: &str,
    v6: bool,
    tunnel: &[u32],
    daemons: &[(&'static str, &Daemon)],
    perf: Option<&str>,
) -> Tput {
    let secs = ctx.secs.to_string();
    let mut row = Tput {
        name: name.to_owned(),
        ..Default::default()
    };
    eprintln!("bench: throughput {name}");
    let before: Vec<Option<TunIo>> = daemons.iter().map(|(_, d)| d.io().ok()).collect();
    let watch = daemons.first().map(|(_, d)| *d);
    row.probe_ms = Some(speed_probe());
    let (result, busy) = with_busy(|| iperf(ctx, h, &["-t", &secs], v6, tunnel, watch, perf));
    row.busy = busy;
    if let Some((run, cpu, note)) = note_err(result, &mut row.note) {
        row.run = Some(run);
        row.tunnel_cpu = cpu;
        row.note = note;
    }
    for ((who, d), b) in daemons.iter().zip(before) {
        if let (Some(b), Ok(a)) = (b, d.io()) {
            row.io.push((who, a.since(&b)));
        }
    }
    row
}

/// One `conns` worker run.
struct ConnRate {
    /// How busy the machine's CPUs were during the run.
    busy: Option<Busy>,
    /// Connections per second.
    rate: f64,
    /// Failed connections.
    fail: u64,
    /// Daemon CPU ms per connection (with a tunnel).
    cpu_ms: Option<f64>,
    /// Failures by kind, as the worker printed them (`reset:2,eof:1` or `none`).
    kinds: String,
    /// Sessions the watched daemon listed during the run.
    sessions: Option<SessionWatch>,
}

/// Distinct session IDs a daemon's `status` listed while a run went on (polled every 100 ms,
/// so short connections are sampled, not all seen). RFC 8548 §3.4: the first session-ID
/// byte is the TEP byte as B sent it, whose v bit (0x80) is set iff the session was resumed
/// (§3.5).
#[derive(Debug, Default)]
struct SessionWatch {
    fresh: std::collections::BTreeSet<String>,
    resumed: std::collections::BTreeSet<String>,
    polls: u32,
    failed_polls: u32,
}

impl SessionWatch {
    /// Polls `d` until `runner` has finished.
    fn during<T>(d: &Daemon, runner: &std::thread::JoinHandle<T>) -> Self {
        let mut w = Self::default();
        while !runner.is_finished() {
            w.poll(d);
            std::thread::sleep(Duration::from_millis(100));
        }
        w
    }

    fn poll(&mut self, d: &Daemon) {
        self.polls += 1;
        let Ok(conns) = d.status() else {
            self.failed_polls += 1;
            return;
        };
        for id in conns.iter().filter_map(|c| c["session_id"].as_str()) {
            let tep = id.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok());
            if tep.is_some_and(|b| b & 0x80 != 0) {
                self.resumed.insert(id.to_owned());
            } else {
                self.fresh.insert(id.to_owned());
            }
        }
    }

    fn text(&self) -> String {
        format!(
            "{} resumed / {} fresh session IDs seen in {} status polls{}",
            self.resumed.len(),
            self.fresh.len(),
            self.polls,
            if self.failed_polls > 0 {
                format!(" ({} failed)", self.failed_polls)
            } else {
                String::new()
            }
        )
    }
}

/// `f fail (kinds)`, or just `0` without failures.
fn fail_text(c: &ConnRate) -> String {
    if c.fail == 0 {
        "0".into()
    } else {
        format!("{} ({})", c.fail, c.kinds)
    }
}

fn conn_rate(
    ctx: &Ctx,
    h: &Hosts,
    threads: u32,
    tunnel: &[u32],
    perf: Option<&str>,
    watch: Option<&Daemon>,
) -> Result<ConnRate, BenchError> {
    ctx.check("connection rate")?;
    let target = format!("{}:{CONN_PORT}", h.server_addr());
    let cmd = h.client.command(
        &ctx.bins.bench(),
        &[
            "conns",
            &target,
            &threads.to_string(),
            &ctx.secs.to_string(),
        ],
    );
    let timeout = Duration::from_secs(ctx.secs + 30);
    let cpu0: f64 = tunnel.iter().filter_map(|p| cpu_secs(*p, ctx.tck)).sum();
    let machine0 = MachineCpu::now();
    let runner = std::thread::spawn(move || run_bounded("conns worker", cmd, timeout));
    let profiles = start_perf(ctx, tunnel, perf);
    let sessions = watch.map(|d| SessionWatch::during(d, &runner));
    let joined = runner.join();
    let busy = MachineCpu::now()
        .zip(machine0)
        .and_then(|(a, b)| a.since(b));
    let out = joined.map_err(|_| BenchError::Step {
        what: "conns runner",
        detail: "thread panicked".into(),
    })??;
    let cpu: f64 = tunnel
        .iter()
        .filter_map(|p| cpu_secs(*p, ctx.tck))
        .sum::<f64>()
        - cpu0;
    finish_perf(profiles);
    let line = line_with(&out, "CONNS").unwrap_or("");
    let parse = |k| field(line, k).and_then(|v| v.parse::<f64>().ok());
    match (parse("ok"), parse("fail"), parse("secs")) {
        (Some(ok), Some(fail), Some(secs)) if secs > 0.0 => {
            let per = (!tunnel.is_empty() && ok > 0.0).then(|| cpu * 1e3 / ok);
            Ok(ConnRate {
                busy,
                rate: ok / secs,
                fail: fail as u64,
                cpu_ms: per,
                kinds: field(line, "kinds").unwrap_or("?").to_owned(),
                sessions,
            })
        }
        _ => Err(BenchError::Step {
            what: "conns worker output",
            detail: out,
        }),
    }
}

fn conns_row(
    ctx: &Ctx,
    h: &Hosts,
    name: &str,
    tunnel: &[u32],
    perf: Option<&str>,
    watch: Option<&Daemon>,
) -> Conns {
    eprintln!("bench: connections {name}");
    let mut row = Conns {
        name: name.to_owned(),
        ..Default::default()
    };
    let mut fails = Vec::new();
    let mut seen = Vec::new();
    if let Some(c) = note_err(conn_rate(ctx, h, 1, tunnel, None, watch), &mut row.note) {
        row.seq = Some(c.rate);
        row.busy[0] = c.busy;
        fails.push(format!("{} sequential", fail_text(&c)));
        seen.extend(c.sessions.map(|w| format!("sequential {}", w.text())));
    }
    if let Some(c) = note_err(conn_rate(ctx, h, 64, tunnel, perf, watch), &mut row.note) {
        row.par = Some(c.rate);
        row.cpu_ms = c.cpu_ms;
        row.busy[1] = c.busy;
        fails.push(format!("{} parallel", fail_text(&c)));
        seen.extend(c.sessions.map(|w| format!("parallel {}", w.text())));
    }
    if !seen.is_empty() {
        let s = format!("client daemon status: {}", seen.join("; "));
        row.note = if row.note.is_empty() {
            s
        } else {
            format!("{}; {s}", row.note)
        };
    }
    if !fails.is_empty() {
        let f = format!("failed connections: {}", fails.join(", "));
        row.note = if row.note.is_empty() {
            f
        } else {
            format!("{f}; {}", row.note)
        };
    }
    row
}

fn ttfb_row(ctx: &Ctx, h: &Hosts, name: &str, watch: Option<&Daemon>) -> Ttfb {
    eprintln!("bench: time to first byte {name}");
    let mut row = Ttfb {
        name: name.to_owned(),
        ..Default::default()
    };
    let mut seen = None;
    let mut run = || -> Result<Vec<f64>, BenchError> {
        ctx.check("ttfb")?;
        let target = format!("{}:{CONN_PORT}", h.server_addr());
        let cmd = h
            .client
            .command(&ctx.bins.bench(), &["ttfb", &target, "15"]);
        let runner =
            std::thread::spawn(move || run_bounded("ttfb worker", cmd, Duration::from_secs(120)));
        if let Some(d) = watch {
            seen = Some(SessionWatch::during(d, &runner));
        }
        let out = runner.join().map_err(|_| BenchError::Step {
            what: "ttfb runner",
            detail: "thread panicked".into(),
        })??;
        let line = line_with(&out, "TTFB").unwrap_or("");
        let ms: Vec<f64> = field(line, "ms")
            .unwrap_or("")
            .split(',')
            .filter_map(|v| v.parse().ok())
            .collect();
        let fail = field(line, "fail").unwrap_or("?");
        if ms.is_empty() || fail != "0" {
            return Err(BenchError::Step {
                what: "ttfb worker",
                detail: out,
            });
        }
        Ok(ms)
    };
    if let Some(ms) = note_err(run(), &mut row.note) {
        row.ms = ms;
    }
    if let Some(w) = seen {
        let s = format!("client daemon status: {}", w.text());
        row.note = if row.note.is_empty() {
            s
        } else {
            format!("{}; {s}", row.note)
        };
    }
    row
}

fn counters(h: &Hosts) -> Result<TxCounters, BenchError> {
    Ok(tx_counters(&h.client, &h.link_c)?.plus(tx_counters(&h.server, &h.link_s)?))
}

/// Bulk (iperf3 -n 100M) and 471-byte request/response: IP bytes on the link per
/// application byte. Run over the TUN pump: a TUN device without `IFF_VNET_HDR` carries
/// no GSO super-packets, so its counters see every packet as it would be on a wire (veth
/// counts a GSO skb once, even with `gso_max_segs 1`).
fn wire_rows(ctx: &Ctx, h: &Hosts, path: &str) -> Vec<Wire> {
    eprintln!("bench: wire efficiency {path}");
    let mut out = Vec::new();
    let mut bulk = Wire {
        load: "bulk (iperf3 -n 100M -b 200M)".into(),
        path: path.into(),
        ..Default::default()
    };
    let mut rr = Wire {
        load: format!("{RR_MSG}-byte request/response ×{RR_COUNT}"),
        path: path.into(),
        ..Default::default()
    };
    let r = (|| -> Result<(u64, TxCounters), BenchError> {
        let c0 = counters(h)?;
        let (run, _, _) = iperf(
            ctx,
            h,
            &["-n", "100M", "-b", "200M"],
            false,
            &[],
            None,
            None,
        )?;
        Ok((run.sent, counters(h)?.since(c0)))
    })();
    if let Some((app, c)) = note_err(r, &mut bulk.note) {
        bulk.app = app;
        bulk.ip = c.bytes;
        bulk.packets = c.packets;
        if c.dropped > 0 {
            bulk.note = format!("{} packets lost in TUN queues", c.dropped);
        }
    }
    out.push(bulk);
    let r = (|| -> Result<TxCounters, BenchError> {
        ctx.check("request/response")?;
        let c0 = counters(h)?;
        let target = format!("{}:{RR_PORT}", h.server_addr());
        let cmd = h.client.command(
            &ctx.bins.bench(),
            &["rr", &target, &RR_MSG.to_string(), &RR_COUNT.to_string()],
        );
        let o = run_bounded("rr worker", cmd, Duration::from_secs(120))?;
        if line_with(&o, "RR").is_none() {
            return Err(BenchError::Step {
                what: "rr worker output",
                detail: o,
            });
        }
        // Let the last ACKs and the FIN exchange pass.
        std::thread::sleep(Duration::from_millis(300));
        Ok(counters(h)?.since(c0))
    })();
    if let Some(c) = note_err(r, &mut rr.note) {
        rr.app = 2 * RR_MSG as u64 * RR_COUNT;
        rr.ip = c.bytes;
        rr.packets = c.packets;
        if c.dropped > 0 {
            rr.note = format!("{} packets lost in TUN queues", c.dropped);
        }
    }
    out.push(rr);
    out
}

fn hold_rows(ctx: &Ctx, h: &Hosts, cd: &Daemon, sd: &Daemon) -> Vec<Hold> {
    eprintln!("bench: idle connections");
    let rss = |asked, held, secs, note: String| Hold {
        asked,
        held,
        rss_c: rss_kib(cd.pid()).unwrap_or(0),
        rss_s: rss_kib(sd.pid()).unwrap_or(0),
        secs,
        note,
    };
    let mut rows = vec![rss(0, 0, 0.0, String::new())];
    let mut servers = Vec::new();
    for p in HOLD_PORTS {
        match h.server_worker(&ctx.bins, &["holdsrv", &p.to_string()]) {
            Ok(c) => servers.push(c),
            Err(e) => {
                rows.push(rss(0, 0, 0.0, format!("failed: hold server: {e}")));
                return rows;
            }
        }
    }
    let mut holders: Vec<Child> = Vec::new();
    let mut held_total = 0;
    let mut secs_total = 0.0;
    for &target in &ctx.hold {
        let start = Instant::now();
        let mut note = String::new();
        let want = usize::try_from(target.div_ceil(PER_HOLDER)).unwrap_or(0);
        let mut new = Vec::new();
        while holders.len() + new.len() < want.min(HOLD_PORTS.len()) {
            let port = HOLD_PORTS
                .get(holders.len() + new.len())
                .copied()
                .unwrap_or(6001);
            let addr = format!("{}:{port}", h.server_addr());
            // Each holder needs PER_HOLDER fds; raise the soft limit to the hard one.
            let script = format!(
                "ulimit -n $(ulimit -Hn); exec '{}' hold {addr} {PER_HOLDER} 16",
                ctx.bins.bench.display()
            );
            match h.client.spawn("sh", &["-c", &script]) {
                Ok(c) => new.push(c),
                Err(e) => note = format!("failed: spawn holder: {e}"),
            }
        }
        let left = ctx.deadline.saturating_duration_since(Instant::now());
        let wait = Duration::from_secs(240).min(left);
        for c in &new {
            match c.wait_line("HELD", wait.saturating_sub(start.elapsed())) {
                Ok(line) => {
                    held_total += field(&line, "ok")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    let f = field(&line, "fail").unwrap_or("?");
                    if f != "0" {
                        let kinds = field(&line, "errors").unwrap_or("?");
                        note.push_str(&format!("{f} connects failed ({kinds}); "));
                    }
                }
                Err(e) => note.push_str(&format!("holder: {e}; ")),
            }
        }
        holders.extend(new);
        secs_total += start.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_secs(2));
        rows.push(rss(target, held_total, secs_total, note));
        if held_total < target {
            break;
        }
    }
    drop(holders);
    drop(servers);
    rows
}

/// Runs every section and returns the results.
pub(crate) fn run_all(ctx: &Ctx) -> Results {
    let mut res = Results::default();
    if let Err(e) = veth_sections(ctx, &mut res) {
        res.notes.push(format!("veth sections aborted: {e}"));
    }
    for mtu in [1500u16, 9000, 65000]
        .into_iter()
        .filter(|_| ctx.want("pump"))
    {
        let name = format!("TUN pump, MTU {mtu}");
        let r = (|| -> Result<Tput, BenchError> {
            ctx.check("TUN pump")?;
            let h = Hosts::pump(&ctx.bins, mtu)?;
            let _srv = iperf_server(&h)?;
            let pid: Vec<u32> = h.link_pid().into_iter().collect();
            Ok(tput_row(ctx, &h, &name, false, &pid, &[], None))
        })();
        match r {
            // Keep the pump rows right after the veth baseline.
            Ok(row) => res.tput.insert(pump_index(&res.tput), row),
            Err(e) => res.tput.push(Tput {
                name,
                note: format!("failed: {e}"),
                ..Default::default()
            }),
        }
    }
    if ctx.want("ttfb") {
        if let Err(e) = emu_sections(ctx, &mut res) {
            res.notes.push(format!("linkemu sections aborted: {e}"));
        }
    }
    if ctx.want("wire") {
        if let Err(e) = wire_sections(ctx, &mut res) {
            res.notes.push(format!("wire sections aborted: {e}"));
        }
    }
    res
}

fn wire_sections(ctx: &Ctx, res: &mut Results) -> Result<(), BenchError> {
    ctx.check("wire")?;
    let h = Hosts::pump(&ctx.bins, 1500)?;
    let dir = TempDir::new()?;
    let _iperf = iperf_server(&h)?;
    let _rr = h.server_worker(
        &ctx.bins,
        &["serve", &RR_PORT.to_string(), &RR_MSG.to_string(), "4"],
    )?;
    res.wire.extend(wire_rows(ctx, &h, "plain kernel TCP"));
    let fronts = [IPERF_PORT.to_string(), RR_PORT.to_string()];
    let (cd, sd) = Daemon::pair(
        &ctx.bins,
        &h,
        &dir,
        &aead_toml(Some("aes-128-gcm")),
        &["--front", &fronts[0], "--front", &fronts[1]],
    )?;
    res.wire
        .extend(wire_rows(ctx, &h, "tcpcryptd encrypted, AES-128-GCM"));
    for (who, d) in [("client", cd), ("server", sd)] {
        if let Err(e) = d.stop() {
            res.notes.push(format!("{who} daemon (wire) stop: {e}"));
        }
    }
    Ok(())
}

fn pump_index(rows: &[Tput]) -> usize {
    rows.iter()
        .position(|r| r.name.starts_with("tcpcryptd"))
        .unwrap_or(rows.len())
}

fn veth_sections(ctx: &Ctx, res: &mut Results) -> Result<(), BenchError> {
    let h = Hosts::veth()?;
    let dir = TempDir::new()?;
    let _iperf = iperf_server(&h)?;
    let _conn = h.server_worker(&ctx.bins, &["serve", &CONN_PORT.to_string(), "1", "80"])?;
    let route = h.cidr();

    let (tput, conns) = (ctx.want("tput"), ctx.want("conns"));
    let hold = ctx.want("hold") && !ctx.hold.is_empty();

    // 1. No daemon.
    if tput {
        res.tput.push(tput_row(
            ctx,
            &h,
            "veth, plain kernel TCP",
            false,
            &[],
            &[],
            None,
        ));
    }
    if conns {
        res.conns
            .push(conns_row(ctx, &h, "plain kernel TCP", &[], None, None));
    }

    // 2. Client daemon only: the server host does not run tcpcrypt, the relay falls back.
    if tput || conns {
        let cd = Daemon::start(
            &ctx.bins,
            &h.client,
            &dir,
            "client",
            None,
            &["--route", &route],
        )?;
        if tput {
            res.tput.push(tput_row(
                ctx,
                &h,
                "tcpcryptd relaying plain (server without daemon)",
                false,
                &[cd.pid()],
                &[("client", &cd)],
                None,
            ));
        }
        if conns {
            res.conns.push(conns_row(
                ctx,
                &h,
                "tcpcryptd relaying plain",
                &[cd.pid()],
                None,
                None,
            ));
        }
        match cd.stop() {
            // The engine's failure counters (its whole life; the iperf3 runs fail none).
            Ok(c) if conns => {
                if let Some(row) = res.conns.last_mut() {
                    let c = if c.is_empty() { "none" } else { c.as_str() };
                    row.note
                        .push_str(&format!("; engine failure counters: client {c}"));
                }
            }
            Ok(_) => {}
            Err(e) => res
                .notes
                .push(format!("client daemon (plain relay) stop: {e}")),
        }
    }

    // 3. Both daemons, one AEAD each.
    let mut fronts: Vec<String> = vec![
        IPERF_PORT.to_string(),
        CONN_PORT.to_string(),
        RR_PORT.to_string(),
    ];
    fronts.extend(HOLD_PORTS.iter().map(u16::to_string));
    let mut front_args = Vec::new();
    for p in &fronts {
        front_args.extend(["--front", p.as_str()]);
    }
    for (i, (label, aead)) in AEADS.iter().enumerate() {
        if !(tput || (i == 0 && (conns || hold))) {
            continue;
        }
        ctx.check("encrypted runs")?;
        let (cd, sd) = Daemon::pair(&ctx.bins, &h, &dir, &aead_toml(Some(aead)), &front_args)?;
        let pids = [cd.pid(), sd.pid()];
        let perf = (i == 0).then_some("aes128");
        if tput {
            res.tput.push(tput_row(
                ctx,
                &h,
                &format!("tcpcryptd encrypted, {label}"),
                false,
                &pids,
                &[("client", &cd), ("server", &sd)],
                perf,
            ));
            if i == 0 {
                res.tput.push(tput_row(
                    ctx,
                    &h,
                    &format!("tcpcryptd encrypted, {label}, IPv6"),
                    true,
                    &pids,
                    &[("client", &cd), ("server", &sd)],
                    None,
                ));
            }
        }
        if i == 0 && conns {
            res.conns.push(conns_row(
                ctx,
                &h,
                "tcpcryptd encrypted, fresh X25519",
                &pids,
                Some("conns"),
                Some(&cd),
            ));
        }
        if i == 0 && hold {
            res.hold = hold_rows(ctx, &h, &cd, &sd);
        }
        // The counters cover the daemons' whole life: attribute them to the connections
        // row only when nothing else ran on these daemons.
        let only_conns = i == 0 && conns && !tput && !hold;
        stop_and_note(res, label, cd, sd, only_conns);
    }
    // 3b. Both daemons with RFC 8548 §3.5 resumption (AES-128-GCM): the sequential run
    //     starts with one fresh handshake, then each connection can resume the last ticket.
    if conns {
        ctx.check("encrypted resumed runs")?;
        let toml = format!("[crypto]\naead = [\"{}\"]\nresumption = true\n", AEADS[0].1);
        let (cd, sd) = Daemon::pair(&ctx.bins, &h, &dir, &toml, &front_args)?;
        let pids = [cd.pid(), sd.pid()];
        res.conns.push(conns_row(
            ctx,
            &h,
            RESUMED_ROW,
            &pids,
            Some("conns-resumed"),
            Some(&cd),
        ));
        stop_and_note(res, "resumed", cd, sd, true);
    }
    // 4. The inner leg at other MTUs than the default 9000 (tcpc0 at 1500 / 65000 on both
    //    hosts; the outer leg stays 1500).
    for mtu in [1500, 65000] {
        if !tput {
            break;
        }
        ctx.check("other inner MTU")?;
        let toml = format!("[tun]\nmtu = {mtu}\n[crypto]\naead = [\"aes-128-gcm\"]\n");
        let (cd, sd) = Daemon::pair(&ctx.bins, &h, &dir, &toml, &front_args)?;
        let pids = [cd.pid(), sd.pid()];
        res.tput.push(tput_row(
            ctx,
            &h,
            &format!("tcpcryptd encrypted, AES-128-GCM, tcpc0 MTU {mtu}"),
            false,
            &pids,
            &[("client", &cd), ("server", &sd)],
            None,
        ));
        for (who, d) in [("client", cd), ("server", sd)] {
            if let Err(e) = d.stop() {
                res.notes
                    .push(format!("{who} daemon (MTU {mtu}) stop: {e}"));
            }
        }
    }
    Ok(())
}

/// Stops both daemons; with `to_conns_row`, the engines' nonzero failure counters go into
/// the note of the last connections row.
fn stop_and_note(res: &mut Results, label: &str, cd: Daemon, sd: Daemon, to_conns_row: bool) {
    let mut counters = Vec::new();
    for (who, d) in [("client", cd), ("server", sd)] {
        match d.stop() {
            Ok(c) => counters.push(format!(
                "{who} {}",
                if c.is_empty() { "none" } else { c.as_str() }
            )),
            Err(e) => res.notes.push(format!("{who} daemon ({label}) stop: {e}")),
        }
    }
    if let (true, Some(row)) = (to_conns_row && !counters.is_empty(), res.conns.last_mut()) {
        row.note = format!(
            "{}; engine failure counters: {}",
            row.note,
            counters.join("; ")
        );
    }
}

fn emu_sections(ctx: &Ctx, res: &mut Results) -> Result<(), BenchError> {
    ctx.check("linkemu")?;
    let h = Hosts::emu(&ctx.bins, 10)?;
    let dir = TempDir::new()?;
    let _conn = h.server_worker(&ctx.bins, &["serve", &CONN_PORT.to_string(), "1", "4"])?;
    let rtt = netns_tests::ping_min_rtt(&h.client, h.server_addr(), 5)?;
    res.emu_rtt_ms = Some(rtt.as_secs_f64() * 1e3);
    res.ttfb.push(ttfb_row(ctx, &h, "plain kernel TCP", None));
    let front = CONN_PORT.to_string();
    let (cd, sd) = Daemon::pair(&ctx.bins, &h, &dir, "", &["--front", &front])?;
    res.ttfb.push(ttfb_row(
        ctx,
        &h,
        "tcpcryptd encrypted, fresh X25519",
        Some(&cd),
    ));
    for (who, d) in [("client", cd), ("server", sd)] {
        if let Err(e) = d.stop() {
            res.notes.push(format!("{who} daemon (linkemu) stop: {e}"));
        }
    }
    // The same with RFC 8548 §3.5 resumption on both hosts: the first sample is a fresh
    // handshake that leaves a ticket in both caches; the later ones can resume.
    ctx.check("linkemu resumed")?;
    let toml = "[crypto]\nresumption = true\n";
    let (cd, sd) = Daemon::pair(&ctx.bins, &h, &dir, toml, &["--front", &front])?;
    res.ttfb.push(ttfb_row(ctx, &h, RESUMED_ROW, Some(&cd)));
    for (who, d) in [("client", cd), ("server", sd)] {
        if let Err(e) = d.stop() {
            res.notes
                .push(format!("{who} daemon (linkemu, resumed) stop: {e}"));
        }
    }
    Ok(())
}

/// Median of a TTFB row.
pub(crate) fn ttfb_median(t: &Ttfb) -> Option<f64> {
    median(&t.ms)
}
