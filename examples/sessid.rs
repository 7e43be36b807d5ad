//! sessid: an unmodified-protocol application learning the tcpcrypt session ID of its own
//! connection through tcpcryptd, with the library API (`daemon::control::client`).
//!
//! It connects to ADDR:PORT (a host in a subnet `tcpcryptd` routes), then asks the daemon
//! for the session ID of exactly that `TcpStream` and prints it. Two peers that print the same
//! value share one tcpcrypt session (RFC 8548 §3.4); comparing it over an authenticated
//! channel (a password, a signature) is how an application authenticates tcpcrypt
//! (RFC 8547 §5.1, "channel binding").
//!
//! `cargo run -p tcpcrypt-examples --example sessid -- ADDR:PORT [CONTROL_SOCKET]`
//! Exit 0: encrypted (prints the ID); 1: plain or not carried by the daemon; 2: usage/error.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;

use daemon::control::client::{session_id, Protection, DEFAULT_CONTROL_PATH};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: sessid ADDR:PORT [CONTROL_SOCKET]");
        return ExitCode::from(2);
    };
    let control = PathBuf::from(
        args.next()
            .unwrap_or_else(|| DEFAULT_CONTROL_PATH.to_owned()),
    );
    let stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessid: connect {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    match session_id(&control, &stream) {
        Ok(Protection::Encrypted(id)) => {
            println!("{}", hex::encode(id));
            ExitCode::SUCCESS
        }
        Ok(Protection::Plain) => {
            eprintln!("sessid: the connection to {addr} is plain TCP (the peer has no tcpcrypt)");
            ExitCode::from(1)
        }
        Ok(Protection::Unknown) => {
            eprintln!("sessid: tcpcryptd does not carry the connection to {addr} (not routed?)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("sessid: {e}");
            ExitCode::from(2)
        }
    }
}
