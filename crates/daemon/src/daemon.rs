//! `tcpcryptd` from start to exit: arguments and config (exit 2 on error), pre-flight checks
//! (exit 1), TUN device, kernel plumbing, engine, control socket, the event loop until
//! SIGINT/SIGTERM, then teardown in reverse and exit 0.

use std::ffi::OsString;
use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::args::{self, ArgError, DaemonArgs, Invocation};
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::control::server::{BindError, ControlServer};
use crate::event_loop::{self, LoopError};
use crate::plumbing::{self, preflight, preflight::EnvError, SetupError};
use crate::relay_engine::{self, RelayConfigError};
use crate::tun::{Legs, Tun, TunError};

/// Everything that stops the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Bad command line (exit 2).
    #[error(transparent)]
    Args(#[from] ArgError),
    /// Bad configuration (exit 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The environment does not allow running (exit 1).
    #[error(transparent)]
    Env(#[from] EnvError),
    /// The TUN device could not be opened (exit 1).
    #[error(transparent)]
    Tun(#[from] TunError),
    /// A plumbing step failed (exit 1).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The control socket could not be bound (exit 1).
    #[error(transparent)]
    Control(#[from] BindError),
    /// The relay engine could not be configured (exit 1).
    #[error(transparent)]
    Engine(#[from] RelayConfigError),
    /// Signal handlers could not be installed (exit 1).
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The event loop failed (exit 1).
    #[error(transparent)]
    Loop(#[from] LoopError),
}

impl DaemonError {
    /// The process exit code: 2 for arguments and config, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Args(_) | Self::Config(_) => 2,
            _ => 1,
        }
    }
}

/// Parses arguments and loads the configuration (no side effects).
pub fn configure<I: IntoIterator<Item = OsString>>(argv: I) -> Result<Option<Config>, DaemonError> {
    let a: DaemonArgs = match args::parse_daemon(argv)? {
        Invocation::Run(a) => a,
        Invocation::Help => {
            println!("{}", args::DAEMON_USAGE);
            return Ok(None);
        }
        Invocation::Version => {
            println!("tcpcryptd {}", env!("CARGO_PKG_VERSION"));
            return Ok(None);
        }
    };
    let mut config = Config::load(a.config.as_deref())?;
    a.apply(&mut config)?;
    Ok(Some(config))
}

/// Runs the daemon with `config` until a signal; tears everything down before returning.
pub fn run(config: &Config) -> Result<(), DaemonError> {
    // Installed first, so a signal during setup is not lost and still leads to teardown.
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(DaemonError::Signals)?;
    let mut relay_config = relay_engine::relay_config(config)?;
    preflight::check(&config.tun.name, &config.control)?;
    let tun = Tun::open(&config.tun.name, config.tun.mtu, config.tun.offload)?;
    let mut plumbing = plumbing::setup(config)?;
    // With a virtio-net header the kernel vouches for (or the daemon checks) every TCP
    // checksum it hands over and completes those the daemon writes (crate::rx_offload).
    relay_config.checksum_offload = relay::ChecksumOffload {
        rx_trusted: tun.offload(),
        tx_partial: tun.offload(),
    };
    let mut engine = relay::Engine::new(relay_config);
    let mut control = ControlServer::bind(&config.control)?;
    tracing::info!(
        tun = tun.name(),
        offload = tun.offload(),
        control = %config.control.display(),
        tep = ?config.crypto.tep,
        aead = ?config.crypto.aead,
        "tcpcryptd ready"
    );
    let clock = Clock::new();
    let legs = Legs::new(config.addresses.stack_v4, config.addresses.stack_v6);
    let result = event_loop::run(&mut engine, &tun, &legs, &mut control, &mut signals, &clock);
    // Teardown in reverse: control socket (status fails from here on), plumbing, TUN.
    drop(control);
    plumbing.teardown();
    drop(tun);
    let (signal, io) = result?;
    tracing::info!(
        signal,
        inner = ?io.inner,
        outer = ?io.outer,
        read_errors = io.read_errors,
        write_errors = io.write_errors,
        engine = ?engine.stats(),
        "tcpcryptd stopped"
    );
    Ok(())
}

/// Installs the log subscriber: `RUST_LOG` filter, default `info`, to stderr.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `main` of `tcpcryptd`: one-line error on stderr and the exit code of the contract.
pub fn main_with_args<I: IntoIterator<Item = OsString>>(argv: I) -> ExitCode {
    let result = configure(argv).and_then(|config| match config {
        Some(c) => {
            init_logging();
            run(&c)
        }
        None => Ok(()),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpcryptd: error: {e}");
            if e.exit_code() == 2 {
                eprintln!("{}", args::DAEMON_USAGE);
            }
            ExitCode::from(e.exit_code())
        }
    }
}
