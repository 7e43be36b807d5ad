//! Checks made before anything is changed, each a distinct one-line error and exit 1
//! (issue 4): privileges, `/dev/net/tun`, the interface name, a live control socket.

use std::path::{Path, PathBuf};

use crate::plumbing::netlink::Netlink;

/// CAP_NET_ADMIN's bit in the capability sets (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

/// Why the daemon cannot start here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// Neither root nor CAP_NET_ADMIN.
    #[error("not permitted: tcpcryptd needs root or CAP_NET_ADMIN")]
    NotPrivileged,
    /// `/dev/net/tun` is missing.
    #[error("/dev/net/tun does not exist (is the tun module loaded?)")]
    NoTunDevice,
    /// An interface with the TUN device's name exists already.
    #[error("interface name `{0}` is taken: an interface with that name already exists")]
    InterfaceTaken(String),
    /// Another daemon answers on the control socket.
    #[error("control socket {} is in use by a running daemon", .0.display())]
    ControlInUse(PathBuf),
}

/// Whether the effective capability set holds CAP_NET_ADMIN (from `/proc/self/status`).
pub fn has_net_admin() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// Whether an interface named `name` exists in this network namespace (asked over
/// rtnetlink; if the question fails, opening the TUN device will tell).
pub fn interface_exists(name: &str) -> bool {
    Netlink::open()
        .and_then(|mut nl| nl.link_index(name))
        .is_ok()
}

/// Whether a process accepts connections on the Unix socket at `path`.
pub fn control_socket_live(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// All checks, in order: privileges, `/dev/net/tun`, interface name, control socket.
pub fn check(tun: &str, control: &Path) -> Result<(), EnvError> {
    if !has_net_admin() {
        return Err(EnvError::NotPrivileged);
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err(EnvError::NoTunDevice);
    }
    if interface_exists(tun) {
        return Err(EnvError::InterfaceTaken(tun.to_owned()));
    }
    if control_socket_live(control) {
        return Err(EnvError::ControlInUse(control.to_owned()));
    }
    Ok(())
}
