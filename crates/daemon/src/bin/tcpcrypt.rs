//! `tcpcrypt`: query a running `tcpcryptd` (`status [--json]`, `sessid LOCAL REMOTE`).

use std::process::ExitCode;

fn main() -> ExitCode {
    daemon::cli::main_with_args(std::env::args_os().skip(1))
}
