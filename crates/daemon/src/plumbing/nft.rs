//! Our nftables table `inet tcpcrypt` (DESIGN.md, "Kernel plumbing"): masquerade for the
//! stack's addresses leaving through other interfaces, and DNAT of fronted ports to the stack
//! for traffic to local addresses that does not come from the TUN device. Loaded with
//! `nft -f -`, deleted with `nft delete table inet tcpcrypt`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Family and name of our table.
pub const TABLE: &str = "inet tcpcrypt";

/// What the ruleset is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftParams<'a> {
    /// The TUN device.
    pub tun: &'a str,
    /// The stack's IPv4 address.
    pub stack_v4: Ipv4Addr,
    /// The stack's IPv6 address.
    pub stack_v6: Ipv6Addr,
    /// Fronted TCP ports.
    pub front: &'a [u16],
}

/// The ruleset text for `nft -f -`. The table is created empty and deleted first, so loading
/// it replaces any previous version atomically.
pub fn ruleset(p: &NftParams<'_>) -> String {
    let mut s = String::new();
    let tun = p.tun;
    // `add` then `delete` makes the delete succeed whether or not the table exists.
    let _ = writeln!(s, "add table {TABLE}");
    let _ = writeln!(s, "delete table {TABLE}");
    let _ = writeln!(s, "table {TABLE} {{");
    let _ = writeln!(s, "  chain post {{");
    let _ = writeln!(
        s,
        "    type nat hook postrouting priority srcnat; policy accept;"
    );
    let _ = writeln!(
        s,
        "    ip saddr {} oifname != \"{tun}\" masquerade",
        p.stack_v4
    );
    let _ = writeln!(
        s,
        "    ip6 saddr {} oifname != \"{tun}\" masquerade",
        p.stack_v6
    );
    let _ = writeln!(s, "  }}");
    if !p.front.is_empty() {
        let ports = p
            .front
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(s, "  chain pre {{");
        let _ = writeln!(
            s,
            "    type nat hook prerouting priority dstnat; policy accept;"
        );
        let _ = writeln!(
            s,
            "    iifname != \"{tun}\" fib daddr type local meta nfproto ipv4 tcp dport {{ {ports} }} dnat ip to {}",
            p.stack_v4
        );
        let _ = writeln!(
            s,
            "    iifname != \"{tun}\" fib daddr type local meta nfproto ipv6 tcp dport {{ {ports} }} dnat ip6 to {}",
            p.stack_v6
        );
        let _ = writeln!(s, "  }}");
    }
    let _ = writeln!(s, "}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerade_always_dnat_only_with_fronted_ports() {
        let p = NftParams {
            tun: "tcpc0",
            stack_v4: Ipv4Addr::new(10, 77, 0, 2),
            stack_v6: "fd77::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            front: &[],
        };
        let r = ruleset(&p);
        assert!(r.contains("ip saddr 10.77.0.2 oifname != \"tcpc0\" masquerade"));
        assert!(r.contains("ip6 saddr fd77::2 oifname != \"tcpc0\" masquerade"));
        assert!(!r.contains("dnat"));
        let r = ruleset(&NftParams {
            front: &[8080, 443],
            ..p
        });
        assert!(r.contains(
            "iifname != \"tcpc0\" fib daddr type local meta nfproto ipv4 tcp dport { 8080, 443 } dnat ip to 10.77.0.2"
        ));
        assert!(r.contains("dnat ip6 to fd77::2"));
        assert!(r.starts_with("add table inet tcpcrypt\ndelete table inet tcpcrypt\n"));
    }
}
