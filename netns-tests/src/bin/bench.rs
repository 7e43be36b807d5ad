//! `bench`: the end-to-end netns benchmark of issue 5 (not a test; run by hand).
//!
//! ```sh
//! sudo cargo run --release -p netns-tests --bin bench            # as root
//! ```
//!
//! Builds the release binaries (`tcpcryptd`, `linkemu`), then in one run, each step bounded
//! in time: single-stream iperf3 throughput over a plain veth, over a minimal TUN pump of our
//! own (MTU 1500 / 9000 / 65000), through `tcpcryptd` relaying plain, and through two
//! daemons encrypting with each AEAD (AES-128-GCM over IPv6 too), with the machine's CPU
//! use and a speed probe next to each run; new connections per second (sequential, 64 parallel);
//! time to first byte over `linkemu` at 20 ms RTT; daemon RSS with 10 000 and 50 000 idle
//! connections; CPU seconds per GB; bytes on the wire per application byte for bulk and
//! 471-byte request/response. Prints a markdown block and writes it into the
//! "End to end (netns bench)" section of docs/BENCHMARKS.md.
//!
//! Flags: `--secs N` (iperf3 -t, default 5), `--hold 10000,50000` (`--hold 0` skips),
//! `--perf` (perf profiles of both daemons during the AES-128-GCM run, into the target
//! dir), `--no-build`, `--no-write`, `--out FILE`, `--budget-min N` (default 25),
//! `--only tput,pump,conns,ttfb,hold,wire` (a subset of the sections; for trials),
//! `--daemon PATH` (run this `tcpcryptd` binary instead of the one built, e.g. an older
//! build for an A/B comparison under the same load).
//!
//! Everything lives in namespaces named `tcx<pid>...`, removed on exit, on error and on
//! SIGINT/SIGTERM. The same binary provides the worker modes it runs inside the namespaces
//! (`bench pump|serve|conns|ttfb|rr|hold|holdsrv ...`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

#[path = "../bench/measure.rs"]
mod measure;
#[path = "../bench/report.rs"]
mod report;
#[path = "../bench/sections.rs"]
mod sections;
#[path = "../bench/topo.rs"]
mod topo;
#[path = "../bench/workers.rs"]
mod workers;

use measure::BenchError;
use topo::Bins;

#[derive(Debug)]
struct Opts {
    secs: u64,
    hold: Vec<u64>,
    perf: bool,
    build: bool,
    write: bool,
    out: PathBuf,
    budget: Duration,
    only: Option<Vec<String>>,
    daemon: Option<PathBuf>,
}

const USAGE: &str = "bench [--secs N] [--hold N,N|0] [--perf] [--no-build] [--no-write] \
[--out FILE] [--budget-min N] [--only tput,pump,conns,ttfb,hold,wire] [--daemon PATH]";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn parse_opts(args: &[String]) -> Option<Opts> {
    let mut o = Opts {
        secs: 5,
        hold: vec![10_000, 50_000],
        perf: false,
        build: true,
        write: true,
        out: workspace_root().join("docs/BENCHMARKS.md"),
        budget: Duration::from_secs(25 * 60),
        only: None,
        daemon: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--secs" => o.secs = it.next()?.parse().ok()?,
            "--hold" => {
                o.hold = it
                    .next()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<Vec<u64>, _>>()
                    .ok()?
                    .into_iter()
                    .filter(|n| *n > 0)
                    .collect();
            }
            "--perf" => o.perf = true,
            "--only" => o.only = Some(it.next()?.split(',').map(str::to_owned).collect()),
            "--no-build" => o.build = false,
            "--no-write" => o.write = false,
            "--out" => o.out = PathBuf::from(it.next()?),
            "--daemon" => o.daemon = Some(PathBuf::from(it.next()?)),
            "--budget-min" => o.budget = Duration::from_secs(60 * it.next()?.parse::<u64>().ok()?),
            _ => return None,
        }
    }
    Some(o)
}

/// `cargo build --release` of `tcpcryptd`, `linkemu` and `bench` (not every binary of the
/// two packages) into the target dir this binary runs from.
fn build(exe_dir: &Path) -> Result<(), BenchError> {
    let target = exe_dir.parent().unwrap_or(exe_dir);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: building release binaries into {}", target.display());
    let st = Command::new(cargo)
        .args(["build", "--release", "-p", "daemon", "-p", "netns-tests"])
        .args(["--bin", "tcpcryptd", "--bin", "linkemu", "--bin", "bench"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(workspace_root())
        .status()
        .map_err(|source| BenchError::Io {
            what: "run cargo build",
            source,
        })?;
    if st.success() {
        Ok(())
    } else {
        Err(BenchError::Step {
            what: "cargo build",
            detail: st.to_string(),
        })
    }
}

/// On SIGINT/SIGTERM: kill what runs in our namespaces, delete them, exit 130.
fn install_signal_cleanup() -> Result<(), BenchError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|source| {
        BenchError::Io {
            what: "install signal handler",
            source,
        }
    })?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            eprintln!("bench: interrupted, cleaning up");
            remove_own_namespaces();
            std::process::exit(130);
        }
    });
    Ok(())
}

fn remove_own_namespaces() {
    let own = format!("{}{}", netns_tests::PREFIX, std::process::id());
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for name in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&own))
    {
        if let Ok(p) = Command::new("ip").args(["netns", "pids", name]).output() {
            for pid in String::from_utf8_lossy(&p.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", name]).status();
    }
}

fn sh(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn orchestrate(o: &Opts) -> Result<(), BenchError> {
    if let Err(reason) = netns_tests::require_env(&["iperf3", "nft", "ping"]) {
        return Err(BenchError::Step {
            what: "environment",
            detail: reason.to_string(),
        });
    }
    install_signal_cleanup()?;
    let exe = std::env::current_exe().map_err(|source| BenchError::Io {
        what: "find own executable",
        source,
    })?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if o.build {
        build(&dir)?;
    }
    let bins = Bins {
        daemon: o.daemon.clone().unwrap_or_else(|| dir.join("tcpcryptd")),
        linkemu: dir.join("linkemu"),
        bench: exe.clone(),
    };
    let start = Instant::now();
    let mut m = report::Machine {
        date: sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu: cpu_model(),
        nproc: std::thread::available_parallelism().map_or(0, usize::from),
        kernel: sh("uname", &["-r"]),
        load_start: loadavg(),
        secs: o.secs,
        ..Default::default()
    };
    let ctx = sections::Ctx {
        bins,
        secs: o.secs,
        hold: o.hold.clone(),
        only: o.only.clone(),
        perf_dir: o.perf.then(|| dir.join("bench-perf")),
        tck: measure::clk_tck(),
        deadline: start + o.budget,
    };
    if let Some(p) = &ctx.perf_dir {
        let _ = std::fs::create_dir_all(p);
    }
    let res = sections::run_all(&ctx);
    m.load_end = loadavg();
    m.wall_secs = start.elapsed().as_secs_f64();
    let block = report::render(&m, &res);
    println!("{}\n\n{block}", report::HEADING);
    if o.write {
        report::write_into(&o.out, &block).map_err(|source| BenchError::Io {
            what: "write BENCHMARKS.md",
            source,
        })?;
        eprintln!("bench: wrote {}", o.out.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(mode) = args.first() {
        if let Some(r) = workers::dispatch(mode, args.get(1..).unwrap_or_default()) {
            return match r {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("bench {mode}: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
    let Some(opts) = parse_opts(&args) else {
        eprintln!("usage: {USAGE}");
        return ExitCode::from(2);
    };
    match orchestrate(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
