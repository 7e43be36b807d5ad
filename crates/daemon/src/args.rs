//! Command lines of `tcpcryptd` and `tcpcrypt` (issue 4, "Command-line contract").
//!
//! ```text
//! tcpcryptd [--config FILE] [--tun NAME] [--route CIDR]... [--require CIDR]...
//!           [--front PORT]... [--control PATH]
//! tcpcrypt [--control PATH] status [--json]
//! tcpcrypt [--control PATH] sessid LOCAL REMOTE
//! ```
//! Flags take their value as the next argument or after `=`. Errors are one line; the
//! binaries exit 2 on them.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cidr::{Cidr, CidrError};
use crate::config::{Config, ConfigError};

/// Usage text of `tcpcryptd`.
pub const DAEMON_USAGE: &str = "usage: tcpcryptd [--config FILE] [--tun NAME] [--route CIDR]... \
[--require CIDR]... [--front PORT]... [--control PATH]";

/// Usage text of `tcpcrypt`.
pub const CLI_USAGE: &str = "usage: tcpcrypt [--control PATH] status [--json]\n       \
tcpcrypt [--control PATH] sessid LOCAL REMOTE";

/// A rejected command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A flag we do not know.
    #[error("unknown flag `{0}`")]
    UnknownFlag(String),
    /// A flag given without its value.
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    /// A flag's value is malformed.
    #[error("{flag}: bad value `{value}`: {reason}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A CIDR flag's value is malformed.
    #[error("{flag}: bad CIDR `{value}`: {reason}")]
    BadCidr {
        /// The flag.
        flag: &'static str,
        /// The value as given.
        value: String,
        /// Why.
        reason: CidrError,
    },
    /// A positional argument where none is expected, or a missing one.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// No subcommand, or an unknown one (CLI).
    #[error("expected a command: status or sessid")]
    NoCommand,
    /// `sessid` without both addresses.
    #[error("sessid needs LOCAL and REMOTE (ip:port or [ipv6]:port)")]
    SessidArgs,
    /// An argument that is not valid UTF-8.
    #[error("argument is not valid UTF-8")]
    NotUtf8,
}

/// What a command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation<T> {
    /// Run with these arguments.
    Run(T),
    /// Print usage and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
}

/// `tcpcryptd`'s flags. Each list flag, when given at least once, replaces the config's list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonArgs {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--tun NAME`.
    pub tun: Option<String>,
    /// `--route CIDR`.
    pub route: Vec<Cidr>,
    /// `--require CIDR`.
    pub require: Vec<Cidr>,
    /// `--front PORT`.
    pub front: Vec<u16>,
    /// `--control PATH`.
    pub control: Option<PathBuf>,
}

/// Splits `--flag=value` / `--flag value`; `None` for a positional.
struct Args {
    items: std::vec::IntoIter<String>,
    pending: Option<String>,
}

impl Args {
    fn new<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> Result<Self, ArgError> {
        let items = args
            .into_iter()
            .map(|a| a.into_string().map_err(|_| ArgError::NotUtf8))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            items: items.into_iter(),
            pending: None,
        })
    }

    /// Next argument; for `--flag=value` yields `--flag` and keeps `value` for [`Self::value`].
    fn next(&mut self) -> Option<String> {
        let a = self.items.next()?;
        if a.starts_with("--") {
            if let Some((f, v)) = a.split_once('=') {
                self.pending = Some(v.to_owned());
                return Some(f.to_owned());
            }
        }
        Some(a)
    }

    fn value(&mut self, flag: &'static str) -> Result<String, ArgError> {
        if let Some(v) = self.pending.take() {
            return Ok(v);
        }
        self.items.next().ok_or(ArgError::MissingValue(flag))
    }

    /// Rejects `--flag=value` on a flag that takes none.
    fn no_value(&mut self, flag: &str) -> Result<(), ArgError> {
        match self.pending.take() {
            Some(_) => Err(ArgError::Unexpected(format!("{flag}=..."))),
            None => Ok(()),
        }
    }
}

fn cidr(flag: &'static str, value: String) -> Result<Cidr, ArgError> {
    value.parse().map_err(|reason| ArgError::BadCidr {
        flag,
        value,
        reason,
    })
}

/// Parses `tcpcryptd`'s arguments (without the program name).
pub fn parse_daemon<I: IntoIterator<Item = std::ffi::OsString>>(
    args: I,
) -> Result<Invocation<DaemonArgs>, ArgError> {
    let mut it = Args::new(args)?;
    let mut out = DaemonArgs::default();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "--config" => out.config = Some(it.value("--config")?.into()),
            "--tun" => out.tun = Some(it.value("--tun")?),
            "--route" => out.route.push(cidr("--route", it.value("--route")?)?),
            "--require" => out.require.push(cidr("--require", it.value("--require")?)?),
            "--front" => {
                let v = it.value("--front")?;
                let port = v.parse::<u16>().ok().filter(|p| *p != 0);
                out.front.push(port.ok_or(ArgError::BadValue {
                    flag: "--front",
                    value: v,
                    reason: "expected a TCP port 1..=65535",
                })?);
            }
            "--control" => out.control = Some(it.value("--control")?.into()),
            f if f.starts_with('-') => return Err(ArgError::UnknownFlag(f.to_owned())),
            _ => return Err(ArgError::Unexpected(a)),
        }
    }
    Ok(Invocation::Run(out))
}

impl DaemonArgs {
    /// Applies the flags over `config` and re-validates it.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(t) = &self.tun {
            config.tun.name.clone_from(t);
        }
        if !self.route.is_empty() {
            config.policy.route.clone_from(&self.route);
        }
        if !self.require.is_empty() {
            config.policy.require.clone_from(&self.require);
        }
        if !self.front.is_empty() {
            config.policy.front.clone_from(&self.front);
        }
        if let Some(c) = &self.control {
            config.control.clone_from(c);
        }
        config.validate()
    }
}

/// A `tcpcrypt` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliCommand {
    /// `status [--json]`.
    Status {
        /// Print JSON instead of a table.
        json: bool,
    },
    /// `sessid LOCAL REMOTE`.
    Sessid {
        /// The application's local address.
        local: SocketAddr,
        /// The application's remote address.
        remote: SocketAddr,
    },
}

/// `tcpcrypt`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliArgs {
    /// `--control PATH`, if given.
    pub control: Option<PathBuf>,
    /// The command.
    pub command: CliCommand,
}

fn sockaddr(value: String) -> Result<SocketAddr, ArgError> {
    value.parse().map_err(|_| ArgError::BadValue {
        flag: "sessid",
        value,
        reason: "expected ip:port or [ipv6]:port",
    })
}

/// Parses `tcpcrypt`'s arguments (without the program name).
pub fn parse_cli<I: IntoIterator<Item = std::ffi::OsString>>(
    args: I,
) -> Result<Invocation<CliArgs>, ArgError> {
    let mut it = Args::new(args)?;
    let mut control = None;
    let mut json = false;
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => return Ok(Invocation::Version),
            "--control" => control = Some(PathBuf::from(it.value("--control")?)),
            "--json" => {
                it.no_value("--json")?;
                json = true;
            }
            f if f.starts_with("--") => return Err(ArgError::UnknownFlag(f.to_owned())),
            _ => positional.push(a),
        }
    }
    let mut pos = positional.into_iter();
    let command = match pos.next().as_deref() {
        Some("status") => CliCommand::Status { json },
        Some("sessid") => {
            let local = sockaddr(pos.next().ok_or(ArgError::SessidArgs)?)?;
            let remote = sockaddr(pos.next().ok_or(ArgError::SessidArgs)?)?;
            if json {
                return Err(ArgError::Unexpected("--json".to_owned()));
            }
            CliCommand::Sessid { local, remote }
        }
        Some(other) => return Err(ArgError::Unexpected(other.to_owned())),
        None => return Err(ArgError::NoCommand),
    };
    if let Some(extra) = pos.next() {
        return Err(ArgError::Unexpected(extra));
    }
    Ok(Invocation::Run(CliArgs { control, command }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn d(args: &[&str]) -> Result<Invocation<DaemonArgs>, ArgError> {
        parse_daemon(args.iter().map(Into::into))
    }

    fn c(args: &[&str]) -> Result<Invocation<CliArgs>, ArgError> {
        parse_cli(args.iter().map(Into::into))
    }

    #[test]
    fn daemon_flags_parse_in_both_forms() {
        let Invocation::Run(a) = d(&[
            "--tun",
            "tcpx",
            "--route=192.0.2.0/24",
            "--route",
            "2001:db8::/32",
            "--require",
            "198.51.100.0/24",
            "--front",
            "8080",
            "--front=443",
            "--control",
            "/tmp/c.sock",
            "--config",
            "/etc/x.toml",
        ])
        .unwrap() else {
            panic!("not run")
        };
        assert_eq!(a.tun.as_deref(), Some("tcpx"));
        assert_eq!(a.route.len(), 2);
        assert_eq!(a.require.len(), 1);
        assert_eq!(a.front, vec![8080, 443]);
        assert_eq!(a.control, Some(PathBuf::from("/tmp/c.sock")));
        assert_eq!(a.config, Some(PathBuf::from("/etc/x.toml")));
        assert_eq!(d(&[]).unwrap(), Invocation::Run(DaemonArgs::default()));
        assert_eq!(d(&["--help"]).unwrap(), Invocation::Help);
    }

    #[test]
    fn daemon_flag_errors() {
        assert_eq!(
            d(&["--bogus"]),
            Err(ArgError::UnknownFlag("--bogus".into()))
        );
        assert_eq!(d(&["--route"]), Err(ArgError::MissingValue("--route")));
        assert!(matches!(
            d(&["--route", "10.0.0.0/99"]),
            Err(ArgError::BadCidr {
                flag: "--route",
                reason: CidrError::BadPrefix,
                ..
            })
        ));
        assert!(matches!(
            d(&["--require", "banana"]),
            Err(ArgError::BadCidr {
                flag: "--require",
                ..
            })
        ));
        assert!(matches!(
            d(&["--front", "0"]),
            Err(ArgError::BadValue {
                flag: "--front",
                ..
            })
        ));
        assert_eq!(d(&["extra"]), Err(ArgError::Unexpected("extra".into())));
        for e in [d(&["--bogus"]), d(&["--route", "x"]), d(&["--front", "x"])] {
            assert!(!e.unwrap_err().to_string().contains('\n'));
        }
    }

    #[test]
    fn flags_override_config_lists() {
        let mut cfg =
            Config::from_text(Some("[policy]\nroute = [\"192.0.2.0/24\"]\nfront = [22]")).unwrap();
        let Invocation::Run(a) = d(&["--front", "8080", "--tun", "tcpz"]).unwrap() else {
            panic!()
        };
        a.apply(&mut cfg).unwrap();
        assert_eq!(cfg.policy.front, vec![8080]);
        assert_eq!(cfg.policy.route.len(), 1, "no --route: config list kept");
        assert_eq!(cfg.tun.name, "tcpz");
        let Invocation::Run(bad) = d(&["--tun", "way-too-long-name0"]).unwrap() else {
            panic!()
        };
        assert!(matches!(
            bad.apply(&mut cfg),
            Err(ConfigError::BadValue {
                key: "tun.name",
                ..
            })
        ));
    }

    #[test]
    fn cli_commands_parse() {
        assert_eq!(
            c(&["status"]).unwrap(),
            Invocation::Run(CliArgs {
                control: None,
                command: CliCommand::Status { json: false }
            })
        );
        assert_eq!(
            c(&["--control", "/x", "status", "--json"]).unwrap(),
            Invocation::Run(CliArgs {
                control: Some("/x".into()),
                command: CliCommand::Status { json: true }
            })
        );
        let Invocation::Run(s) = c(&["sessid", "10.0.0.1:5555", "[fd00::2]:80"]).unwrap() else {
            panic!()
        };
        assert_eq!(
            s.command,
            CliCommand::Sessid {
                local: "10.0.0.1:5555".parse().unwrap(),
                remote: "[fd00::2]:80".parse().unwrap()
            }
        );
    }

    #[test]
    fn cli_errors() {
        assert_eq!(c(&[]), Err(ArgError::NoCommand));
        assert_eq!(c(&["sessid", "1.2.3.4:5"]), Err(ArgError::SessidArgs));
        assert!(matches!(
            c(&["sessid", "1.2.3.4", "1.2.3.4:5"]),
            Err(ArgError::BadValue { .. })
        ));
        assert_eq!(c(&["frob"]), Err(ArgError::Unexpected("frob".into())));
        assert_eq!(c(&["status", "x"]), Err(ArgError::Unexpected("x".into())));
        assert_eq!(
            c(&["--jsn", "status"]),
            Err(ArgError::UnknownFlag("--jsn".into()))
        );
    }
}
