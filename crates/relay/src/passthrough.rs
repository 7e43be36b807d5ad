//! Where a packet read from the TUN goes (DESIGN.md "Data path"): TCP to the stack; UDP and
//! ICMP of routed subnets through stateless translation between the kernel-side and the
//! stack address (not encrypted); ICMP echo to the stack's addresses and ICMP errors about
//! TCP (PMTU, RFC 1191 / RFC 8201) to the stack.

use smoltcp::wire::{IpAddress, IpProtocol};
use stack::wire::ip::IpView;

use crate::config::Config;

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Give it to the TCP/IP stack.
    Stack,
    /// Replace address `from` by `to` (header and ICMP quote) and send it back out.
    Translate {
        /// The address to replace.
        from: IpAddress,
        /// Its replacement.
        to: IpAddress,
    },
    /// Not ours (e.g. IPv6 router solicitations): drop.
    Drop,
}

/// ICMP message classes that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IcmpClass {
    EchoRequest,
    EchoReply,
    /// An error quoting a packet of this transport protocol.
    Error(Option<u8>),
    Other,
}

fn icmp_class(view: &IpView<'_>) -> IcmpClass {
    let Some(&kind) = view.payload.first() else {
        return IcmpClass::Other;
    };
    let quoted = view.payload.get(8..).unwrap_or_default();
    match view.protocol {
        IpProtocol::Icmp => match kind {
            8 => IcmpClass::EchoRequest,
            0 => IcmpClass::EchoReply,
            3 | 11 | 12 => IcmpClass::Error(quoted.get(9).copied()),
            _ => IcmpClass::Other,
        },
        _ => match kind {
            128 => IcmpClass::EchoRequest,
            129 => IcmpClass::EchoReply,
            1..=4 => IcmpClass::Error(quoted.get(6).copied()),
            _ => IcmpClass::Other,
        },
    }
}

const TCP: u8 = 6;

/// Classify a parsed packet.
pub fn classify(config: &Config, view: &IpView<'_>) -> Action {
    let routed = config.route(view.dst).is_some();
    let from_kernel = config.is_kernel(&view.src);
    let to_stack = config.is_stack(&view.dst);
    match view.protocol {
        IpProtocol::Tcp => Action::Stack,
        IpProtocol::Udp => {
            if from_kernel && routed {
                Action::Translate {
                    from: view.src,
                    to: config.stack_addr(&view.src),
                }
            } else if to_stack {
                Action::Translate {
                    from: view.dst,
                    to: config.kernel_addr(&view.dst),
                }
            } else {
                Action::Drop
            }
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 => {
            let class = icmp_class(view);
            if from_kernel && routed && class != IcmpClass::Other {
                return Action::Translate {
                    from: view.src,
                    to: config.stack_addr(&view.src),
                };
            }
            match class {
                IcmpClass::EchoRequest => Action::Stack,
                IcmpClass::Error(Some(TCP)) => Action::Stack,
                IcmpClass::EchoReply | IcmpClass::Error(_) if to_stack => Action::Translate {
                    from: view.dst,
                    to: config.kernel_addr(&view.dst),
                },
                _ => Action::Drop,
            }
        }
        _ => Action::Drop,
    }
}
