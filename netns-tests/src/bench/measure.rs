//! Measurement helpers of the bench orchestrator: bounded command runs, per-process CPU
//! time and RSS from `/proc`, link byte counters, and iperf3's JSON result.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netns_tests::{HarnessError, Netns};

/// Why a bench step failed. Each names the step.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// A harness operation failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),
    /// An OS call failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command or worker gave no usable result.
    #[error("{what}: {detail}")]
    Step {
        /// The step.
        what: &'static str,
        /// What came back (stderr, the offending line).
        detail: String,
    },
    /// The bench's overall time budget ran out before this step.
    #[error("time budget exhausted before {0}")]
    OutOfTime(&'static str),
}

/// Runs `cmd` with stdout and stderr captured, killing it after `timeout`. Returns stdout;
/// a non-zero exit or a timeout is an error carrying stderr.
pub(crate) fn run_bounded(
    what: &'static str,
    mut cmd: Command,
    timeout: Duration,
) -> Result<String, BenchError> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BenchError::Io { what, source })?;
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok(stdout),
        Some(st) => Err(BenchError::Step {
            what,
            detail: format!("{st}: {}", stderr.trim()),
        }),
        None => Err(BenchError::Step {
            what,
            detail: format!("killed after {timeout:?}: {}", stderr.trim()),
        }),
    }
}

/// The `KEY k=v ...` line of a worker's output, as its value of `key`.
pub(crate) fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The first line of `text` starting with `prefix`.
pub(crate) fn line_with<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 if unknown).
pub(crate) fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of `pid` in seconds, or `None` if the process is gone.
pub(crate) fn cpu_secs(pid: u32, tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / tck)
}

/// Resident set size of `pid` in KiB (`VmRSS`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The machine's CPU time counters (the `cpu` line of `/proc/stat`), in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MachineCpu {
    /// All time of all CPUs (user through steal; guest time is already in user).
    total: u64,
    /// Idle and I/O wait.
    idle: u64,
    /// Time the hypervisor ran something else on our vCPUs.
    steal: u64,
}

impl MachineCpu {
    /// Reads `/proc/stat`; `None` if it is unreadable or malformed.
    pub(crate) fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = f.try_into().ok()?;
        Some(Self {
            total: user + nice + system + idle + iowait + irq + softirq + steal,
            idle: idle + iowait,
            steal,
        })
    }

    /// Busy and steal shares of all CPUs since `before`, in percent.
    pub(crate) fn since(self, before: Self) -> Option<Busy> {
        let total = self.total.checked_sub(before.total).filter(|t| *t > 0)? as f64;
        let idle = self.idle.saturating_sub(before.idle) as f64;
        let steal = self.steal.saturating_sub(before.steal) as f64;
        Some(Busy {
            busy: (100.0 * (total - idle) / total).clamp(0.0, 100.0),
            steal: 100.0 * steal / total,
        })
    }
}

/// How busy all CPUs of the machine were during a measurement.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Busy {
    /// Non-idle time, % of all CPUs (100 = every vCPU busy the whole time).
    pub(crate) busy: f64,
    /// Steal time, % of all CPUs.
    pub(crate) steal: f64,
}

/// Runs `f` and returns its result with the machine's CPU use meanwhile.
pub(crate) fn with_busy<T>(f: impl FnOnce() -> T) -> (T, Option<Busy>) {
    let before = MachineCpu::now();
    let out = f();
    let busy = MachineCpu::now().zip(before).and_then(|(a, b)| a.since(b));
    (out, busy)
}

/// A fixed amount of work (integer arithmetic, then copying 128 MiB through two 4 MiB
/// buffers), timed: the median of three runs in milliseconds. Run just before a
/// measurement, it shows how fast the machine itself is at that moment (this guest has
/// slow phases in which every process runs slower: docs/BENCHMARKS.md, "The two modes").
pub(crate) fn speed_probe() -> f64 {
    let mut a = vec![1u8; 4 << 20];
    let mut b = vec![2u8; 4 << 20];
    let mut runs: Vec<f64> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15_u64);
            for _ in 0..10_000_000 {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                x = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            }
            std::hint::black_box(x);
            for i in 0..32 {
                if i % 2 == 0 {
                    b.copy_from_slice(&a);
                } else {
                    a.copy_from_slice(&b);
                }
                std::hint::black_box(&a);
            }
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs.get(1).copied().unwrap_or(0.0)
}

/// Transmit counters of a link: bytes (on a TUN device: IP packets) and packets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TxCounters {
    /// `tx_bytes`.
    pub(crate) bytes: u64,
    /// `tx_packets`.
    pub(crate) packets: u64,
    /// `tx_dropped` (queue overflow: the link lost them).
    pub(crate) dropped: u64,
}

impl TxCounters {
    /// Counter growth since `before`.
    pub(crate) fn since(self, before: Self) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(before.bytes),
            packets: self.packets.saturating_sub(before.packets),
            dropped: self.dropped.saturating_sub(before.dropped),
        }
    }

    /// Sum of two links' counters.
    pub(crate) fn plus(self, o: Self) -> Self {
        Self {
            bytes: self.bytes + o.bytes,
            packets: self.packets + o.packets,
            dropped: self.dropped + o.dropped,
        }
    }
}

/// `tx` counters of `dev` in `ns` (`ip -s -j link show dev DEV`).
pub(crate) fn tx_counters(ns: &Netns, dev: &str) -> Result<TxCounters, BenchError> {
    let out = ns.ip(&["-s", "-j", "link", "show", "dev", dev])?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| BenchError::Step {
            what: "parse ip -s -j",
            detail: e.to_string(),
        })?;
    let tx = &v[0]["stats64"]["tx"];
    match (tx["bytes"].as_u64(), tx["packets"].as_u64()) {
        (Some(bytes), Some(packets)) => Ok(TxCounters {
            bytes,
            packets,
            dropped: tx["dropped"].as_u64().unwrap_or(0),
        }),
        _ => Err(BenchError::Step {
            what: "ip -s -j link: no stats64.tx",
            detail: String::from_utf8_lossy(&out.stdout).into_owned(),
        }),
    }
}

/// The figures of one iperf3 run (`-J`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Iperf {
    /// Receiver-side throughput in bit/s.
    pub(crate) bps: f64,
    /// Bytes received.
    pub(crate) bytes: u64,
    /// Bytes sent (`-n` transfers exactly this many; the receiver's sum may end earlier).
    pub(crate) sent: u64,
    /// CPU seconds of both iperf3 processes (from their utilisation percentages).
    pub(crate) iperf_cpu: f64,
}

/// Parses iperf3's JSON output.
pub(crate) fn parse_iperf(json: &str) -> Result<Iperf, BenchError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| BenchError::Step {
        what: "parse iperf3 JSON",
        detail: e.to_string(),
    })?;
    if let Some(e) = v["error"].as_str() {
        return Err(BenchError::Step {
            what: "iperf3",
            detail: e.to_owned(),
        });
    }
    let r = &v["end"]["sum_received"];
    let cpu = &v["end"]["cpu_utilization_percent"];
    let (Some(bps), Some(bytes), Some(secs)) = (
        r["bits_per_second"].as_f64(),
        r["bytes"].as_u64(),
        r["seconds"].as_f64(),
    ) else {
        return Err(BenchError::Step {
            what: "iperf3 JSON without end.sum_received",
            detail: json.chars().take(300).collect(),
        });
    };
    let sent = v["end"]["sum_sent"]["bytes"].as_u64().unwrap_or(bytes);
    let pct =
        cpu["host_total"].as_f64().unwrap_or(0.0) + cpu["remote_total"].as_f64().unwrap_or(0.0);
    Ok(Iperf {
        bps,
        bytes,
        sent,
        iperf_cpu: pct / 100.0 * secs,
    })
}

/// Median of a sample (sorted copy); `None` when empty.
pub(crate) fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return None;
    }
    let hi = v.get(n / 2).copied()?;
    if n % 2 == 1 {
        Some(hi)
    } else {
        v.get(n / 2 - 1).map(|lo| (lo + hi) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fields_and_median() {
        let l = "CONNS ok=12 fail=0 secs=3.001";
        assert_eq!(field(l, "ok"), Some("12"));
        assert_eq!(field(l, "secs"), Some("3.001"));
        assert_eq!(field(l, "x"), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn machine_cpu_counts_a_busy_spell() {
        let (x, busy) = with_busy(|| {
            let t = Instant::now();
            let mut x = 0u64;
            while t.elapsed() < Duration::from_millis(300) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            x
        });
        assert!(x > 0);
        let b = busy.unwrap();
        // One of this machine's CPUs spun the whole time.
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        assert!(b.busy >= 100.0 / cpus * 0.8, "{b:?}");
        assert!(b.busy <= 100.0 && b.steal >= 0.0, "{b:?}");
        assert!(speed_probe() > 0.0);
    }

    #[test]
    fn own_cpu_and_rss_readable() {
        let pid = std::process::id();
        assert!(cpu_secs(pid, 100.0).is_some());
        assert!(rss_kib(pid).unwrap() > 0);
    }

    #[test]
    fn iperf_json_parses() {
        let j = r#"{"end":{"sum_received":{"bits_per_second":8e9,"bytes":5000000000,"seconds":5.0},
            "cpu_utilization_percent":{"host_total":50.0,"remote_total":30.0}}}"#;
        let r = parse_iperf(j).unwrap();
        assert_eq!(r.bytes, 5_000_000_000);
        assert!((r.iperf_cpu - 4.0).abs() < 1e-9);
        assert!(parse_iperf(r#"{"error":"unable to connect"}"#).is_err());
    }
}
