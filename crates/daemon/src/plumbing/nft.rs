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
    let tun = p.tun;
    // (nft address family, nfproto, the stack's address) per IP family.
    let families = [
        ("ip", "ipv4", p.stack_v4.to_string()),
        ("ip6", "ipv6", p.stack_v6.to_string()),
    ];
    let mut s = String::new();
    // `add` then `delete` makes the delete succeed whether or not the table exists.
    let _ = writeln!(s, "add table {TABLE}");
    let _ = writeln!(s, "delete table {TABLE}");
    let _ = writeln!(s, "table {TABLE} {{");
    let masquerade = families
        .iter()
        .map(|(fam, _, stack)| format!("{fam} saddr {stack} oifname != \"{tun}\" masquerade"));
    chain(&mut s, "post", "postrouting priority srcnat", masquerade);
    if !p.front.is_empty() {
        let ports = p
            .front
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let dnat = families.iter().map(|(fam, proto, stack)| {
            format!(
                "iifname != \"{tun}\" fib daddr type local meta nfproto {proto} tcp dport {{ {ports} }} dnat {fam} to {stack}"
            )
        });
        chain(&mut s, "pre", "prerouting priority dstnat", dnat);
    }
    let _ = writeln!(s, "}}");
    s
}

/// Appends the NAT base chain `name` on `hook` (`HOOK priority PRIO`), policy accept, with
/// `rules`.
fn chain(s: &mut String, name: &str, hook: &str, rules: impl Iterator<Item = String>) {
    let _ = writeln!(s, "  chain {name} {{");
    let _ = writeln!(s, "    type nat hook {hook}; policy accept;");
    for rule in rules {
        let _ = writeln!(s, "    {rule}");
    }
    let _ = writeln!(s, "  }}");
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

    #[test]
    fn ruleset_text_is_exact() {
        let r = ruleset(&NftParams {
            tun: "tcpc0",
            stack_v4: Ipv4Addr::new(10, 77, 0, 2),
            stack_v6: "fd77::2".parse().unwrap_or(Ipv6Addr::UNSPECIFIED),
            front: &[8080, 443],
        });
        let want = "add table inet tcpcrypt\n\
                    delete table inet tcpcrypt\n\
                    table inet tcpcrypt {\n  \
                    chain post {\n    \
                    type nat hook postrouting priority srcnat; policy accept;\n    \
                    ip saddr 10.77.0.2 oifname != \"tcpc0\" masquerade\n    \
                    ip6 saddr fd77::2 oifname != \"tcpc0\" masquerade\n  \
                    }\n  \
                    chain pre {\n    \
                    type nat hook prerouting priority dstnat; policy accept;\n    \
                    iifname != \"tcpc0\" fib daddr type local meta nfproto ipv4 tcp dport { 8080, 443 } dnat ip to 10.77.0.2\n    \
                    iifname != \"tcpc0\" fib daddr type local meta nfproto ipv6 tcp dport { 8080, 443 } dnat ip6 to fd77::2\n  \
                    }\n\
                    }\n";
        assert_eq!(r, want);
    }
}
