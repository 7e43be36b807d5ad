//! `tcpcrypt-shim`: JSON Lines on stdin, one JSON line per case on stdout (see `docs/SHIM.md`).

use std::io::{BufRead, BufWriter, Write};

fn main() -> std::process::ExitCode {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("tcpcrypt-shim: reading stdin: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let answer = tcpcrypt_shim::handle_line(trimmed);
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return std::process::ExitCode::FAILURE;
        }
    }
    std::process::ExitCode::SUCCESS
}
