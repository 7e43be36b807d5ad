//! `tcpcrypt`, the operator's CLI: `status [--json]` and `sessid LOCAL REMOTE` over the
//! control socket. Exit 0 on success, 1 when the daemon is unreachable or has no session ID
//! for the connection, 2 on a bad command line.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{self, CliCommand, Invocation};
use crate::config::Config;
use crate::control::client;
use crate::control::proto::{ConnStatus, Request, Response};

/// The table printed by `tcpcrypt status`.
pub fn format_table(conns: &[ConnStatus]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<46} {:<46} {:<12} {:<9} {:<8} {:<18} {:>12} {:>12}",
        "LOCAL", "REMOTE", "STATE", "ENCRYPTED", "TEP", "CIPHER", "TX", "RX"
    );
    for c in conns {
        let _ = writeln!(
            s,
            "{:<46} {:<46} {:<12} {:<9} {:<8} {:<18} {:>12} {:>12}",
            c.local.to_string(),
            c.remote.to_string(),
            c.state,
            if c.encrypted { "yes" } else { "no" },
            c.tep.as_deref().unwrap_or("-"),
            c.cipher.as_deref().unwrap_or("-"),
            c.tx_bytes,
            c.rx_bytes
        );
    }
    let _ = writeln!(s, "{} connection(s)", conns.len());
    s
}

fn default_control() -> PathBuf {
    Config::embedded_default()
        .map(|c| c.control)
        .unwrap_or_else(|_| PathBuf::from(crate::control::client::DEFAULT_CONTROL_PATH))
}

/// `main` of `tcpcrypt`.
pub fn main_with_args<I: IntoIterator<Item = OsString>>(argv: I) -> ExitCode {
    let a = match args::parse_cli(argv) {
        Ok(Invocation::Run(a)) => a,
        Ok(Invocation::Help) => {
            println!("{}", args::CLI_USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!("tcpcrypt {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tcpcrypt: error: {e}");
            eprintln!("{}", args::CLI_USAGE);
            return ExitCode::from(2);
        }
    };
    let path = a.control.unwrap_or_else(default_control);
    let request = match a.command {
        CliCommand::Status { .. } => Request::Status,
        CliCommand::Sessid { local, remote } => Request::Sessid { local, remote },
    };
    let response = match client::request(&path, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tcpcrypt: error: {e}");
            return ExitCode::from(1);
        }
    };
    match (a.command, response) {
        (CliCommand::Status { json }, Response::Status { connections, .. }) => {
            if json {
                match serde_json::to_string_pretty(&connections) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("tcpcrypt: error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", format_table(&connections));
            }
            ExitCode::SUCCESS
        }
        (CliCommand::Sessid { .. }, Response::Sessid { session_id }) => {
            println!("{session_id}");
            ExitCode::SUCCESS
        }
        (_, Response::Error { error }) => {
            eprintln!("tcpcrypt: {}", error.message());
            ExitCode::from(1)
        }
        _ => {
            eprintln!("tcpcrypt: error: unexpected response from tcpcryptd");
            ExitCode::from(1)
        }
    }
}
