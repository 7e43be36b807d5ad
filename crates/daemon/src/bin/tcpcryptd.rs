//! `tcpcryptd`: transparent tcpcrypt through the TUN device `tcpc0` (see `docs/OPERATOR.md`).

use std::process::ExitCode;

fn main() -> ExitCode {
    daemon::daemon::main_with_args(std::env::args_os().skip(1))
}
