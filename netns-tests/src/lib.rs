//! Linux network-namespace test harness for end-to-end tests of tcpcrypt-rs.
//!
//! Everything a test creates (namespaces, veth pairs, TUN devices, processes, temp dirs) is
//! owned by an RAII guard that removes it on drop, also when the test fails. Names carry the
//! prefix [`PREFIX`], the test process id and a counter, so parallel tests and parallel test
//! binaries never collide, and [`cleanup_leftovers`] can remove what a crashed run left behind
//! (only objects whose owning pid is gone).
//!
//! Traffic stays inside namespaces the test made: 10.201.N.0/24 and fd01:0:0:N::/64.
//!
//! Skips: [`require_env`] says why the suite cannot run (not root, no `/dev/net/tun`, a tool
//! missing). The [`netns_gate!`] macro turns that into a `SKIP` line, or into a test failure when
//! `TCPCRYPT_REQUIRE_NETNS=1` (CI), so the suite can never be skipped silently.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Once};
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

pub mod pcap;

/// Prefix of every namespace, link and temp dir this harness creates.
pub const PREFIX: &str = "tcx";

/// Environment variable that turns a skip into a failure (set by CI).
pub const REQUIRE_ENV: &str = "TCPCRYPT_REQUIRE_NETNS";

/// Environment variable naming the marker file that [`mark_ran`] appends to.
pub const MARKER_ENV: &str = "TCPCRYPT_NETNS_MARKER";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static CLEANUP: Once = Once::new();

/// Errors of the harness. Each names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// An OS call failed.
    #[error("{what}: {source}")]
    Io {
        /// The step.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("command `{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: ExitStatus,
        /// Its standard error, lossily decoded.
        stderr: String,
    },
    /// A bounded wait ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long we waited.
        after: Duration,
    },
    /// A child's output did not have the expected form.
    #[error("unexpected output from {what}")]
    BadOutput {
        /// Which program.
        what: &'static str,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> HarnessError {
    move |source| HarnessError::Io { what, source }
}

/// Why the netns suite cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// The effective uid is not 0.
    #[error("not running as root")]
    NotRoot,
    /// `/dev/net/tun` does not exist.
    #[error("/dev/net/tun is missing")]
    NoTun,
    /// A required program is not on `PATH`.
    #[error("required tool `{0}` not found on PATH")]
    MissingTool(&'static str),
    /// `ip netns add` does not work (e.g. inside an unprivileged container).
    #[error("cannot create network namespaces")]
    NoNetns,
}

/// Whether `TCPCRYPT_REQUIRE_NETNS=1` is set: skips must then fail.
pub fn netns_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// `Err(NotRoot)` unless the effective uid is 0 (read from `/proc/self/status`).
pub fn require_root() -> Result<(), SkipReason> {
    let status = fs::read_to_string("/proc/self/status").map_err(|_| SkipReason::NotRoot)?;
    // "Uid:\treal\teffective\tsaved\tfs"
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1));
    match euid {
        Some("0") => Ok(()),
        _ => Err(SkipReason::NotRoot),
    }
}

fn find_tool(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .any(|dir| dir.join(tool).is_file())
}

/// Checks root, `/dev/net/tun`, `ip` plus the given `tools`, and that namespaces can be made.
/// Also removes leftovers of crashed runs (once per process).
pub fn require_env(tools: &[&'static str]) -> Result<(), SkipReason> {
    require_root()?;
    if !Path::new("/dev/net/tun").exists() {
        return Err(SkipReason::NoTun);
    }
    for tool in std::iter::once(&"ip").chain(tools) {
        if !find_tool(tool) {
            return Err(SkipReason::MissingTool(tool));
        }
    }
    cleanup_leftovers();
    Netns::new().map(drop).map_err(|_| SkipReason::NoNetns)
}

/// Appends `test` to the marker file named by `TCPCRYPT_NETNS_MARKER` (if set), so CI can
/// prove the suite ran. Call at the end of a test, after its assertions.
pub fn mark_ran(test: &str) -> Result<(), HarnessError> {
    let Some(path) = std::env::var_os(MARKER_ENV) else {
        return Ok(());
    };
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err("open marker file"))?;
    writeln!(f, "{test}").map_err(io_err("write marker file"))
}

/// Prints `SKIP test: reason` straight to the process's stderr, bypassing libtest's output
/// capture so the line is visible in a normal `cargo test` run.
pub fn report_skip(test: &str, reason: &SkipReason) {
    let line = format!("SKIP {test}: {reason} (set {REQUIRE_ENV}=1 to make this a failure)\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Gate at the top of a netns test: `netns_gate!("name", &["curl"]);`.
///
/// Prints `SKIP name: reason` and returns from the test when the environment cannot run it,
/// or panics when `TCPCRYPT_REQUIRE_NETNS=1`.
#[macro_export]
macro_rules! netns_gate {
    ($name:expr, $tools:expr) => {
        if let Err(reason) = $crate::require_env($tools) {
            if $crate::netns_required() {
                panic!(
                    "{}: netns suite required ({}=1) but cannot run: {}",
                    $name,
                    $crate::REQUIRE_ENV,
                    reason
                );
            }
            $crate::report_skip($name, &reason);
            return;
        }
    };
}

/// A fresh name `tcx<pid><kind><n>`; `kind` is one letter. At most 14 bytes for kinds used
/// by links (IFNAMSIZ is 16 including the NUL, links add a one-letter suffix).
pub fn unique_name(kind: char) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{}{kind}{n}", std::process::id())
}

/// The small number `n` for address plans (10.201.n.0/24), unique within this process.
pub fn unique_subnet() -> u8 {
    // 1..=250, wraps; tests in one process never hold 250 subnets at once.
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    u8::try_from(n % 250).map_or(1, |v| v + 1)
}

fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn is_stale(name: &str) -> bool {
    match owner_pid(name) {
        Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
        None => false,
    }
}

/// Removes namespaces, root-namespace links and temp dirs with our prefix whose owning
/// process is gone. Runs once per process; errors are ignored (best effort).
pub fn cleanup_leftovers() {
    CLEANUP.call_once(|| {
        if let Ok(out) = Command::new("ip").args(["netns", "list"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let name = line.split_whitespace().next().unwrap_or("");
                if is_stale(name) {
                    let _ = Command::new("ip").args(["netns", "del", name]).status();
                }
            }
        }
        if let Ok(out) = Command::new("ip").args(["-o", "link", "show"]).output() {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                // "12: tcx123t4a: <...>" or "13: tcx1v2a@if3: <...>"
                let name = line
                    .split(':')
                    .nth(1)
                    .map(str::trim)
                    .and_then(|n| n.split('@').next())
                    .unwrap_or("");
                if is_stale(name) {
                    let _ = Command::new("ip").args(["link", "del", name]).status();
                }
            }
        }
        if let Ok(rd) = fs::read_dir(std::env::temp_dir()) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_stale(&name) {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    });
}

fn cmd_line(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; a non-zero exit becomes [`HarnessError::Command`].
pub fn run(cmd: &mut Command) -> Result<Output, HarnessError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(io_err("spawn command"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(HarnessError::Command {
            cmd: cmd_line(cmd),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// `ip ARGS...` in the root namespace.
pub fn ip(args: &[&str]) -> Result<Output, HarnessError> {
    run(Command::new("ip").args(args))
}

/// A network namespace, deleted (with every process still in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `tcx<pid>n<k>` with `lo` up and IPv6 DAD disabled for new interfaces.
    pub fn new() -> Result<Self, HarnessError> {
        let name = unique_name('n');
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        for key in ["all", "default"] {
            ns.sysctl(&format!("net.ipv6.conf.{key}.accept_dad"), "0")?;
            ns.sysctl(&format!("net.ipv6.conf.{key}.disable_ipv6"), "0")?;
        }
        Ok(ns)
    }

    /// The namespace name (for `ip -n` / `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` running `program args` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]).args(args);
        c
    }

    /// Runs `program args` inside the namespace to completion; non-zero exit is an error.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, HarnessError> {
        run(&mut self.command(program, args))
    }

    /// `ip -n NS args...`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, HarnessError> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Sets a sysctl inside the namespace (writes `/proc/sys` from inside it).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), HarnessError> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")])
            .map(drop)
    }

    /// Spawns `program args` inside the namespace as a guarded background process
    /// (stdin and stdout piped, stderr inherited).
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Child, HarnessError> {
        Child::spawn(self.command(program, args))
    }

    /// Polls (bounded by `timeout`) until some socket in the namespace listens on TCP `port`.
    pub fn wait_tcp_listen(&self, port: u16, timeout: Duration) -> Result<(), HarnessError> {
        let start = Instant::now();
        let filter = format!("sport = :{port}");
        while start.elapsed() < timeout {
            let out = self.exec("ss", &["-H", "-l", "-t", "-n", &filter])?;
            if !out.stdout.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(HarnessError::Timeout {
            what: "TCP listener",
            after: timeout,
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// The IPv4 and IPv6 addresses of one end of a link: 10.201.N.host/24, fd01:0:0:N::host/64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    /// IPv4 address.
    pub v4: Ipv4Addr,
    /// IPv6 address.
    pub v6: Ipv6Addr,
}

impl Addrs {
    /// The address plan for host `host` (1 or 2) in subnet `n`.
    pub fn plan(n: u8, host: u8) -> Self {
        Self {
            v4: Ipv4Addr::new(10, 201, n, host),
            v6: Ipv6Addr::new(0xfd01, 0, 0, u16::from(n), 0, 0, 0, u16::from(host)),
        }
    }

    /// The address of the given family.
    pub fn get(&self, v6: bool) -> IpAddr {
        if v6 {
            IpAddr::V6(self.v6)
        } else {
            IpAddr::V4(self.v4)
        }
    }
}

/// `http://ADDR:PORT/path` with IPv6 brackets.
pub fn url(addr: IpAddr, port: u16, path: &str) -> String {
    match addr {
        IpAddr::V4(a) => format!("http://{a}:{port}/{path}"),
        IpAddr::V6(a) => format!("http://[{a}]:{port}/{path}"),
    }
}

/// Assigns both address families (IPv6 with `nodad`) to `dev` in `ns` and brings it up.
pub fn configure_link(ns: &Netns, dev: &str, addrs: Addrs) -> Result<(), HarnessError> {
    ns.sysctl(&format!("net.ipv6.conf.{dev}.accept_dad"), "0")?;
    ns.ip(&["addr", "add", &format!("{}/24", addrs.v4), "dev", dev])?;
    ns.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{}/64", addrs.v6),
        "dev",
        dev,
        "nodad",
    ])?;
    ns.ip(&["link", "set", dev, "up"]).map(drop)
}

/// A veth pair from namespace A to namespace B, addressed in 10.201.N.0/24 and fd01:0:0:N::/64
/// (A = host 1, B = host 2). Deleted on drop.
#[derive(Debug)]
pub struct Veth {
    ns_a: String,
    a: String,
    b: String,
    subnet: u8,
}

impl Veth {
    /// Creates and addresses the pair, both ends up.
    pub fn new(ns_a: &Netns, ns_b: &Netns) -> Result<Self, HarnessError> {
        let base = unique_name('v');
        let (a, b) = (format!("{base}a"), format!("{base}b"));
        ip(&[
            "link",
            "add",
            &a,
            "netns",
            ns_a.name(),
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            ns_b.name(),
        ])?;
        let veth = Self {
            ns_a: ns_a.name().to_owned(),
            a,
            b,
            subnet: unique_subnet(),
        };
        configure_link(ns_a, &veth.a, veth.addr_a())?;
        configure_link(ns_b, &veth.b, veth.addr_b())?;
        Ok(veth)
    }

    /// Interface name in namespace A.
    pub fn name_a(&self) -> &str {
        &self.a
    }

    /// Interface name in namespace B.
    pub fn name_b(&self) -> &str {
        &self.b
    }

    /// Addresses of the A end.
    pub fn addr_a(&self) -> Addrs {
        Addrs::plan(self.subnet, 1)
    }

    /// Addresses of the B end.
    pub fn addr_b(&self) -> Addrs {
        Addrs::plan(self.subnet, 2)
    }

    /// Sets `gso_max_segs 1` on both ends, so every packet on the wire is at most one MSS.
    /// Without it veth carries 64 KiB GSO super-packets and a per-packet rule such as
    /// `numgen random mod 100 < 1 drop` sees only a few dozen packets per megabyte.
    pub fn limit_gso(&self, ns_a: &Netns, ns_b: &Netns) -> Result<(), HarnessError> {
        ns_a.ip(&["link", "set", &self.a, "gso_max_segs", "1"])?;
        ns_b.ip(&["link", "set", &self.b, "gso_max_segs", "1"])
            .map(drop)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["-n", &self.ns_a, "link", "del", &self.a])
            .stderr(Stdio::null())
            .status();
    }
}

/// A background process, killed and reaped on drop. Its stdout is read line by line by a
/// helper thread so reads can be bounded in time.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Child {
    /// Spawns `cmd` with stdin and stdout piped (stderr as configured on `cmd`, default
    /// inherited).
    pub fn spawn(mut cmd: Command) -> Result<Self, HarnessError> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(io_err("spawn background process"))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Self { child, lines })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Next stdout line, waiting at most `timeout`.
    pub fn read_line(&self, timeout: Duration) -> Result<String, HarnessError> {
        self.lines
            .recv_timeout(timeout)
            .map_err(|_| HarnessError::Timeout {
                what: "a line from a child process",
                after: timeout,
            })
    }

    /// Skips stdout lines until one starts with `prefix`; returns it. Bounded by `timeout`.
    pub fn wait_line(&self, prefix: &str, timeout: Duration) -> Result<String, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.read_line(left)?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// Writes `line` and a newline to the child's stdin.
    pub fn send_line(&mut self, line: &str) -> Result<(), HarnessError> {
        let stdin = self.child.stdin.as_mut().ok_or(HarnessError::BadOutput {
            what: "child stdin already closed",
        })?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(io_err("write to child stdin"))
    }

    /// Closes the child's stdin (a polite stop request for `linkemu`).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits (bounded) for the child to exit by itself; kills it on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().map_err(io_err("wait for child"))? {
                return Ok(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(HarnessError::Timeout {
            what: "child exit",
            after: timeout,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory `$TMPDIR/tcx<pid>d<k>`, removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates the directory.
    pub fn new() -> Result<Self, HarnessError> {
        let path = std::env::temp_dir().join(unique_name('d'));
        fs::create_dir_all(&path).map_err(io_err("create temp dir"))?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `len` pseudo-random bytes from `seed` (ChaCha8) to `path`.
pub fn write_random_file(path: &Path, len: usize, seed: u64) -> Result<(), HarnessError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut f = fs::File::create(path).map_err(io_err("create data file"))?;
    let mut buf = [0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        let chunk = buf.get_mut(..n).unwrap_or_default();
        rng.fill_bytes(chunk);
        f.write_all(chunk).map_err(io_err("write data file"))?;
        left -= n;
    }
    f.sync_all().map_err(io_err("sync data file"))
}

/// SHA-256 of a file's contents, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, HarnessError> {
    let mut f = fs::File::open(path).map_err(io_err("open file to hash"))?;
    let mut h = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io_err("read file to hash"))?;
        match buf.get(..n) {
            Some([]) | None => break,
            Some(chunk) => h.update(chunk),
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Writes `len` seeded pseudo-random bytes (like [`write_random_file`]) to `path`, with
/// `marker` followed by an 8-digit block number at the start of every 256-byte block, so a
/// capture of the plaintext contains `marker` at least once in any 256 + `marker.len() + 8`
/// consecutive bytes. `marker` must be shorter than 248 bytes.
pub fn write_marked_file(
    path: &Path,
    len: usize,
    seed: u64,
    marker: &[u8],
) -> Result<(), HarnessError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut f = fs::File::create(path).map_err(io_err("create data file"))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut block = 0u64;
    let mut left = len;
    while left > 0 {
        rng.fill_bytes(&mut buf);
        for chunk in buf.chunks_mut(256) {
            let tag = format!("{block:08}");
            let stamp = marker.iter().chain(tag.as_bytes());
            for (dst, src) in chunk.iter_mut().zip(stamp) {
                *dst = *src;
            }
            block += 1;
        }
        let n = left.min(buf.len());
        f.write_all(buf.get(..n).unwrap_or_default())
            .map_err(io_err("write data file"))?;
        left -= n;
    }
    f.sync_all().map_err(io_err("sync data file"))
}

/// Path of a binary of this workspace built next to the running test executable
/// (`target/<profile>/NAME`, e.g. `linkemu` for tests of other crates, which cannot use
/// `CARGO_BIN_EXE_linkemu`). `None` if it has not been built (`cargo build -p netns-tests`;
/// `cargo test --workspace` builds it).
pub fn workspace_bin(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test-binary>
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(name);
    bin.is_file().then_some(bin)
}

/// A running `tcpdump -s 0 -U -w FILE` on one interface of a namespace; [`Tcpdump::stop`]
/// ends it (SIGINT, so the file is complete) and parses the capture. Killed on drop.
#[derive(Debug)]
pub struct Tcpdump {
    child: Child,
    file: PathBuf,
    log: PathBuf,
}

/// What [`Tcpdump::stop`] returns.
#[derive(Debug, Clone)]
pub struct CaptureResult {
    /// The parsed capture.
    pub capture: pcap::Capture,
    /// Packets tcpdump reported as dropped by the kernel (buffer overrun), if it said.
    pub kernel_dropped: Option<u64>,
}

impl Tcpdump {
    /// Starts capturing on `iface` in `ns` into `dir/NAME.pcap` with the BPF `filter`
    /// (e.g. `"tcp"`); returns once tcpdump says it is listening (bounded by 20 s).
    pub fn start(
        ns: &Netns,
        iface: &str,
        filter: &str,
        dir: &Path,
        name: &str,
    ) -> Result<Self, HarnessError> {
        let file = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.log"));
        let err = fs::File::create(&log).map_err(io_err("create tcpdump log"))?;
        let file_s = file.to_string_lossy().into_owned();
        // -B: 64 MiB kernel buffer so a fast transfer is captured without drops. -Z root:
        // Debian's tcpdump otherwise drops to user `tcpdump`, who cannot write into `dir`.
        // --immediate-mode: without it TPACKET_V3 hands packets over in blocks after a
        // timeout, and packets of the last block are lost on SIGINT.
        let mut cmd = ns.command(
            "tcpdump",
            &[
                "-n",
                "-i",
                iface,
                "-s",
                "0",
                "-U",
                "--immediate-mode",
                "-B",
                "65536",
                "-Z",
                "root",
                "-w",
                &file_s,
                filter,
            ],
        );
        cmd.stderr(err);
        let child = Child::spawn(cmd)?;
        let dump = Self { child, file, log };
        let start = Instant::now();
        let limit = Duration::from_secs(20);
        loop {
            let text = fs::read_to_string(&dump.log).unwrap_or_default();
            if text.contains("listening on") {
                return Ok(dump);
            }
            if start.elapsed() > limit {
                return Err(HarnessError::Timeout {
                    what: "tcpdump to start listening",
                    after: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops tcpdump with SIGINT, waits for it (bounded) and parses the file.
    pub fn stop(mut self) -> Result<CaptureResult, HarnessError> {
        // Let the last packets reach the capture buffer before stopping.
        std::thread::sleep(Duration::from_millis(300));
        run(Command::new("kill").args(["-INT", &self.child.id().to_string()]))?;
        self.child.wait_exit(Duration::from_secs(30))?;
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let kernel_dropped = text
            .lines()
            .find(|l| l.contains("dropped by kernel"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        let capture = pcap::read_file(&self.file).map_err(|_| HarnessError::BadOutput {
            what: "tcpdump capture file",
        })?;
        Ok(CaptureResult {
            capture,
            kernel_dropped,
        })
    }
}

/// A running `tcpcryptd` in a namespace (binaries passed in by the test, which knows them as
/// `CARGO_BIN_EXE_tcpcryptd` / `CARGO_BIN_EXE_tcpcrypt`). Killed on drop; [`Daemon::stop`]
/// is the orderly SIGTERM.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    cli_bin: PathBuf,
    control: PathBuf,
}

impl Daemon {
    /// Starts `daemon_bin --control CONTROL ARGS...` inside `ns` (`RUST_LOG` as the test's
    /// environment says, `warn` by default) and waits
    /// (bounded by 30 s) until `cli_bin --control CONTROL status` succeeds.
    pub fn start(
        daemon_bin: &str,
        cli_bin: &str,
        ns: &Netns,
        control: &Path,
        args: &[&str],
    ) -> Result<Self, HarnessError> {
        let control_s = control.to_string_lossy().into_owned();
        let mut all = vec!["--control", control_s.as_str()];
        all.extend_from_slice(args);
        let mut cmd = ns.command(daemon_bin, &all);
        let log = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        cmd.env("RUST_LOG", log);
        let mut d = Self {
            child: Child::spawn(cmd)?,
            cli_bin: PathBuf::from(cli_bin),
            control: control.to_path_buf(),
        };
        let limit = Duration::from_secs(30);
        let start = Instant::now();
        loop {
            if d.cli(&["status"])?.status.success() {
                return Ok(d);
            }
            if let Some(st) = d.child.child.try_wait().map_err(io_err("poll tcpcryptd"))? {
                return Err(HarnessError::Command {
                    cmd: format!("{daemon_bin} {}", all.join(" ")),
                    status: st,
                    stderr: "exited before it was ready".to_owned(),
                });
            }
            if start.elapsed() > limit {
                return Err(HarnessError::Timeout {
                    what: "tcpcryptd to become ready",
                    after: limit,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `tcpcrypt --control CONTROL ARGS...` (any exit status).
    pub fn cli(&self, args: &[&str]) -> Result<Output, HarnessError> {
        Command::new(&self.cli_bin)
            .arg("--control")
            .arg(&self.control)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("run tcpcrypt"))
    }

    /// The daemon's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the daemon process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits (bounded by 20 s) for the exit status.
    pub fn stop(mut self) -> Result<ExitStatus, HarnessError> {
        run(Command::new("kill").args(["-TERM", &self.child.id().to_string()]))?;
        self.child.wait_exit(Duration::from_secs(20))
    }
}

/// The kernel state of a namespace that `tcpcryptd` changes while it runs: links, policy
/// rules, routes of every table, nftables tables. Equal before start and after SIGTERM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelState {
    /// Interface names (`ip -o link`).
    pub links: Vec<String>,
    /// `ip -4 rule` and `ip -6 rule`.
    pub rules: String,
    /// `ip -4 route show table all` and `ip -6 route show table all`.
    pub routes: String,
    /// `nft list tables`.
    pub nft_tables: String,
}

impl KernelState {
    /// Snapshot of `ns`.
    pub fn of(ns: &Netns) -> Result<Self, HarnessError> {
        let text = |o: Output| String::from_utf8_lossy(&o.stdout).into_owned();
        let links = text(ns.ip(&["-o", "link", "show"])?)
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
            .collect();
        let rules = text(ns.ip(&["-4", "rule"])?) + &text(ns.ip(&["-6", "rule"])?);
        let routes = text(ns.ip(&["-4", "route", "show", "table", "all"])?)
            + &text(ns.ip(&["-6", "route", "show", "table", "all"])?);
        let nft_tables = text(ns.exec("nft", &["list", "tables"])?);
        Ok(Self {
            links,
            rules,
            routes,
            nft_tables,
        })
    }
}

/// Impairments for [`LinkEmu`]; each maps to a `linkemu` flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairments {
    /// One-way delay in milliseconds.
    pub delay_ms: u64,
    /// Uniform jitter (+/-) in milliseconds.
    pub jitter_ms: u64,
    /// Loss probability in percent.
    pub loss_pct: f64,
    /// Reordering probability in percent.
    pub reorder_pct: f64,
    /// Duplication probability in percent.
    pub dup_pct: f64,
    /// RNG seed.
    pub seed: u64,
    /// MTU of both TUN devices.
    pub mtu: u16,
}

impl Default for Impairments {
    fn default() -> Self {
        Self {
            delay_ms: 0,
            jitter_ms: 0,
            loss_pct: 0.0,
            reorder_pct: 0.0,
            dup_pct: 0.0,
            seed: 1,
            mtu: 1500,
        }
    }
}

/// Counters `linkemu` prints on a clean stop (`STATS key=value ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmuStats {
    /// Packets read from either TUN device.
    pub rx: u64,
    /// Packets written to either TUN device.
    pub tx: u64,
    /// Packets dropped by emulated loss.
    pub lost: u64,
    /// Extra copies made by emulated duplication.
    pub duplicated: u64,
    /// Packets held back for reordering.
    pub reordered: u64,
    /// Packets dropped because the queue was full, too big, or the write failed.
    pub dropped: u64,
}

impl EmuStats {
    fn parse(line: &str) -> Option<Self> {
        let mut s = Self::default();
        for kv in line.strip_prefix("STATS")?.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "rx" => s.rx = v,
                "tx" => s.tx = v,
                "lost" => s.lost = v,
                "duplicated" => s.duplicated = v,
                "reordered" => s.reordered = v,
                "dropped" => s.dropped = v,
                _ => {}
            }
        }
        Some(s)
    }
}

/// A running `linkemu` joining namespaces A and B by two TUN devices, addressed like
/// [`Veth`] (A = host 1, B = host 2 of 10.201.N.0/24 and fd01:0:0:N::/64).
#[derive(Debug)]
pub struct LinkEmu {
    child: Child,
    tun_a: String,
    tun_b: String,
    subnet: u8,
}

impl LinkEmu {
    /// Starts `linkemu` (path `bin`, e.g. `env!("CARGO_BIN_EXE_linkemu")`), waits for READY,
    /// then addresses both TUN devices.
    pub fn start(
        bin: &str,
        ns_a: &Netns,
        ns_b: &Netns,
        imp: Impairments,
    ) -> Result<Self, HarnessError> {
        let base = unique_name('t');
        let (tun_a, tun_b) = (format!("{base}a"), format!("{base}b"));
        let mut cmd = Command::new(bin);
        cmd.args(["--tun-a", &tun_a, "--ns-a", ns_a.name()])
            .args(["--tun-b", &tun_b, "--ns-b", ns_b.name()])
            .args(["--delay-ms", &imp.delay_ms.to_string()])
            .args(["--jitter-ms", &imp.jitter_ms.to_string()])
            .args(["--loss-pct", &imp.loss_pct.to_string()])
            .args(["--reorder-pct", &imp.reorder_pct.to_string()])
            .args(["--dup-pct", &imp.dup_pct.to_string()])
            .args(["--seed", &imp.seed.to_string()])
            .args(["--mtu", &imp.mtu.to_string()])
            .args(["--max-runtime-s", "600"]);
        let child = Child::spawn(cmd)?;
        let emu = Self {
            child,
            tun_a,
            tun_b,
            subnet: unique_subnet(),
        };
        emu.child.wait_line("READY", Duration::from_secs(20))?;
        configure_link(ns_a, &emu.tun_a, emu.addr_a())?;
        configure_link(ns_b, &emu.tun_b, emu.addr_b())?;
        Ok(emu)
    }

    /// TUN name in namespace A.
    pub fn name_a(&self) -> &str {
        &self.tun_a
    }

    /// TUN name in namespace B.
    pub fn name_b(&self) -> &str {
        &self.tun_b
    }

    /// Addresses of the A end.
    pub fn addr_a(&self) -> Addrs {
        Addrs::plan(self.subnet, 1)
    }

    /// Addresses of the B end.
    pub fn addr_b(&self) -> Addrs {
        Addrs::plan(self.subnet, 2)
    }

    /// Asks `linkemu` to stop (closes its stdin) and returns its counters.
    pub fn stop(mut self) -> Result<EmuStats, HarnessError> {
        self.child.close_stdin();
        let line = self.child.wait_line("STATS", Duration::from_secs(10))?;
        let _ = self.child.wait_exit(Duration::from_secs(5));
        EmuStats::parse(&line).ok_or(HarnessError::BadOutput { what: "linkemu" })
    }
}

/// Outcome of [`http_transfer`]: hashes of the served and the fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// SHA-256 (hex) of the file the server served.
    pub sent_sha256: String,
    /// SHA-256 (hex) of the file curl wrote.
    pub received_sha256: String,
    /// Size of the fetched file in bytes.
    pub received_len: u64,
}

/// Port the HTTP server of [`http_transfer`] listens on (inside the server namespace).
pub const HTTP_PORT: u16 = 8080;

/// Serves `len` seeded random bytes with `python3 -m http.server` bound to `server_addr`
/// inside `server`, fetches them with `curl` from inside `client` (at most `max_time`), and
/// returns both hashes. The server is stopped before returning.
pub fn http_transfer(
    server: &Netns,
    client: &Netns,
    server_addr: IpAddr,
    len: usize,
    seed: u64,
    max_time: Duration,
) -> Result<Transfer, HarnessError> {
    http_transfer_bound(
        server,
        client,
        server_addr,
        server_addr,
        len,
        seed,
        max_time,
    )
}

/// Like [`http_transfer`], with the server bound to `bind` (e.g. the wildcard address, for
/// a service that is reached at another address than the one it is fetched from, such as
/// one fronted through DNAT) and fetched from `server_addr`.
pub fn http_transfer_bound(
    server: &Netns,
    client: &Netns,
    bind: IpAddr,
    server_addr: IpAddr,
    len: usize,
    seed: u64,
    max_time: Duration,
) -> Result<Transfer, HarnessError> {
    let dir = TempDir::new()?;
    let www = dir.path().join("www");
    fs::create_dir_all(&www).map_err(io_err("create www dir"))?;
    let file = www.join("blob.bin");
    write_random_file(&file, len, seed)?;
    let sent_sha256 = sha256_file(&file)?;
    let (addr, port) = (bind.to_string(), HTTP_PORT.to_string());
    let www_str = www.to_string_lossy().into_owned();
    let mut cmd = server.command(
        "python3",
        &[
            "-m",
            "http.server",
            "--bind",
            &addr,
            "--directory",
            &www_str,
            &port,
        ],
    );
    cmd.stderr(Stdio::null());
    let _srv = Child::spawn(cmd)?;
    server.wait_tcp_listen(HTTP_PORT, Duration::from_secs(20))?;
    let out = dir.path().join("fetched.bin");
    let out_str = out.to_string_lossy().into_owned();
    client.exec(
        "curl",
        &[
            "-sS",
            "--fail",
            "--noproxy",
            "*",
            "--max-time",
            &max_time.as_secs().to_string(),
            "-o",
            &out_str,
            &url(server_addr, HTTP_PORT, "blob.bin"),
        ],
    )?;
    let received_len = fs::metadata(&out)
        .map_err(io_err("stat fetched file"))?
        .len();
    Ok(Transfer {
        sent_sha256,
        received_sha256: sha256_file(&out)?,
        received_len,
    })
}

/// Pings `addr` `count` times from inside `ns` (0.2 s apart) and returns the minimum RTT.
pub fn ping_min_rtt(ns: &Netns, addr: IpAddr, count: u32) -> Result<Duration, HarnessError> {
    let out = ns.exec(
        "ping",
        &[
            "-n",
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            &addr.to_string(),
        ],
    )?;
    parse_ping_min(&String::from_utf8_lossy(&out.stdout))
        .ok_or(HarnessError::BadOutput { what: "ping" })
}

/// Minimum RTT from ping's summary `rtt min/avg/max/mdev = 20.5/20.6/20.7/0.1 ms`.
fn parse_ping_min(text: &str) -> Option<Duration> {
    let line = text.lines().find(|l| l.contains("min/avg/max"))?;
    let nums = line.split('=').nth(1)?.trim();
    let min_ms: f64 = nums.split('/').next()?.trim().parse().ok()?;
    Duration::try_from_secs_f64(min_ms / 1000.0).ok()
}

/// Sum of all `counter packets N` values in `nft list table FAMILY NAME` inside `ns`.
pub fn nft_counter_packets(ns: &Netns, family: &str, table: &str) -> Result<u64, HarnessError> {
    let out = ns.exec("nft", &["list", "table", family, table])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut total = 0u64;
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "packets" {
            let n = words.next().and_then(|n| n.parse::<u64>().ok());
            total += n.ok_or(HarnessError::BadOutput { what: "nft" })?;
        }
    }
    Ok(total)
}

/// Why setting up a TUN device (or running `ip` for it) failed, in the user-space tools
/// that own one (`linkemu`, `stack_peer`).
#[derive(Debug, thiserror::Error)]
pub enum TunSetupError {
    /// A system call failed.
    #[error("{step}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// `ip` ran but exited unsuccessfully (its own message went to our stderr).
    #[error("`ip {args}` failed")]
    Ip {
        /// The arguments given to `ip`.
        args: String,
    },
}

/// `ip ARGS...` with stdin closed and stdout/stderr inherited; only the exit status counts.
pub fn ip_status(args: &[&str]) -> Result<(), TunSetupError> {
    let ok = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .status()
        .map_err(|source| TunSetupError::Io {
            step: "run ip",
            source,
        })?
        .success();
    if ok {
        Ok(())
    } else {
        Err(TunSetupError::Ip {
            args: args.join(" "),
        })
    }
}

/// Opens (creating) TUN device `name` with `mtu`, without the packet-information header, in
/// the current namespace, and makes it non-blocking. The device is not persistent: it
/// vanishes when the last fd closes.
pub fn open_tun(name: &str, mtu: u16) -> Result<tun_rs::SyncDevice, TunSetupError> {
    let io = |step| move |source| TunSetupError::Io { step, source };
    let dev = tun_rs::DeviceBuilder::new()
        .name(name)
        .mtu(mtu)
        .build_sync()
        .map_err(io("open TUN device"))?;
    dev.set_nonblocking(true)
        .map_err(io("set TUN non-blocking"))?;
    Ok(dev)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn owner_pid_parses_our_names_only() {
        assert_eq!(owner_pid("tcx1234n5"), Some(1234));
        assert_eq!(owner_pid("tcx77v0a"), Some(77));
        assert_eq!(owner_pid("eth0"), None);
        assert_eq!(owner_pid("tcxn1"), None);
    }

    #[test]
    fn unique_names_fit_ifnamsiz_with_suffix() {
        let n = unique_name('t');
        // pid_max is at most 4194304 (7 digits); a counter below 1000 keeps us at 14 + suffix.
        assert!(n.len() < 15 || std::process::id() > 4_194_304, "{n}");
        assert_ne!(unique_name('t'), unique_name('t'));
    }

    #[test]
    fn addr_plan_and_urls() {
        let a = Addrs::plan(7, 2);
        assert_eq!(a.v4, Ipv4Addr::new(10, 201, 7, 2));
        assert_eq!(a.v6.to_string(), "fd01:0:0:7::2");
        assert_eq!(url(a.get(false), 80, "f"), "http://10.201.7.2:80/f");
        assert_eq!(url(a.get(true), 80, "f"), "http://[fd01:0:0:7::2]:80/f");
    }

    #[test]
    fn ping_summary_parses() {
        let text = "3 packets transmitted, 3 received\nrtt min/avg/max/mdev = 20.517/20.552/20.577/0.025 ms\n";
        assert_eq!(parse_ping_min(text), Some(Duration::from_micros(20_517)));
        assert_eq!(parse_ping_min("100% packet loss"), None);
    }

    #[test]
    fn stats_line_parses() {
        let s = EmuStats::parse("STATS rx=10 tx=9 lost=1 duplicated=0 reordered=2 dropped=0");
        assert_eq!(
            s,
            Some(EmuStats {
                rx: 10,
                tx: 9,
                lost: 1,
                duplicated: 0,
                reordered: 2,
                dropped: 0
            })
        );
        assert_eq!(EmuStats::parse("READY"), None);
    }

    #[test]
    fn marked_file_has_a_marker_in_every_block() {
        let d = TempDir::new().unwrap();
        let p = d.path().join("m");
        let len = 100_000;
        write_marked_file(&p, len, 4, b"TCXPLAIN").unwrap();
        let data = fs::read(&p).unwrap();
        assert_eq!(data.len(), len);
        for (i, block) in data.chunks(256).enumerate() {
            let want = format!("TCXPLAIN{i:08}");
            let n = want.len().min(block.len());
            assert_eq!(&block[..n], &want.as_bytes()[..n], "block {i}");
        }
        // Any window of 256 + 16 bytes holds a whole marker.
        let w = data
            .windows(272)
            .step_by(37)
            .all(|w| pcap::contains(w, b"TCXPLAIN"));
        assert!(w);
    }

    #[test]
    fn sha256_of_known_content() {
        let d = TempDir::new().unwrap();
        let p = d.path().join("abc");
        fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let q = d.path().join("rnd");
        write_random_file(&q, 100_000, 9).unwrap();
        assert_eq!(fs::metadata(&q).unwrap().len(), 100_000);
        let r = d.path().join("rnd2");
        write_random_file(&r, 100_000, 9).unwrap();
        assert_eq!(sha256_file(&q).unwrap(), sha256_file(&r).unwrap());
    }
}
