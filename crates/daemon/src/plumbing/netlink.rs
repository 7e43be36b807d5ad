//! rtnetlink (NETLINK_ROUTE) requests for links, addresses, routes and rules, synchronous:
//! one request, then read until its acknowledgement (or the end of a dump). Message types
//! from `netlink-packet-route`, the socket from `netlink-sys`; see rtnetlink(7).

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::cidr::{Cidr, IfAddr};

/// A failed netlink request.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket could not be opened, or send/receive failed.
    #[error("netlink socket: {0}")]
    Socket(io::Error),
    /// The kernel refused the request.
    #[error("{0}")]
    Refused(io::Error),
    /// A reply did not parse.
    #[error("malformed netlink reply")]
    Decode,
}

impl NetlinkError {
    /// The kernel's errno, if it refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::Refused(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

/// Which traffic a policy rule selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSelector {
    /// `iif lo`: locally originated packets.
    IifLo,
    /// `from ADDR` (a host address).
    From(IpAddr),
}

fn family(v6: bool) -> AddressFamily {
    if v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    }
}

/// The table field of route and rule headers: the number if it fits, else `RT_TABLE_UNSPEC`
/// with the real number in the `Table` attribute (as iproute2 does).
fn header_table(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(0)
}

/// An rtnetlink socket.
#[derive(Debug)]
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// Opens and connects a NETLINK_ROUTE socket (in the caller's network namespace).
    pub fn open() -> Result<Self, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Socket)?;
        socket.bind_auto().map_err(NetlinkError::Socket)?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Socket)?;
        Ok(Self { socket, seq: 0 })
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<u32, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(NetlinkError::Socket)?;
        Ok(self.seq)
    }

    /// Reads replies to `seq`, passing each inner message to `each`, until the ack (`Ok`),
    /// a NACK (`Refused`) or the end of a dump.
    fn replies(
        &mut self,
        seq: u32,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> Result<(), NetlinkError> {
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(NetlinkError::Socket)?;
            let mut offset = 0usize;
            while let Some(rest) = buf.get(offset..).filter(|r| !r.is_empty()) {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(rest)
                    .map_err(|_| NetlinkError::Decode)?;
                let len = usize::try_from(msg.header.length).map_err(|_| NetlinkError::Decode)?;
                if len == 0 {
                    return Err(NetlinkError::Decode);
                }
                offset = offset.saturating_add((len + 3) & !3);
                if msg.header.sequence_number != seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(()),
                            Some(_) => Err(NetlinkError::Refused(e.to_io())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::InnerMessage(m) => each(m),
                    _ => {}
                }
            }
        }
    }

    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), NetlinkError> {
        let seq = self.send(msg, flags | NLM_F_ACK)?;
        self.replies(seq, |_| {})
    }

    fn dump(&mut self, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        let seq = self.send(msg, NLM_F_DUMP)?;
        let mut out = Vec::new();
        self.replies(seq, |m| out.push(m))?;
        Ok(out)
    }

    /// The index of interface `name`; `Refused(ENODEV)` if there is none.
    pub fn link_index(&mut self, name: &str) -> Result<u32, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let seq = self.send(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK)?;
        let mut index = None;
        self.replies(seq, |m| {
            if let RouteNetlinkMessage::NewLink(l) = m {
                index = Some(l.header.index);
            }
        })?;
        index.ok_or(NetlinkError::Decode)
    }

    /// Sets the MTU and the up/down state of link `index`.
    pub fn set_link(&mut self, index: u32, mtu: Option<u16>, up: bool) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        msg.header.change_mask = LinkFlags::Up;
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(u32::from(m)));
        }
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Adds or deletes address `addr` on link `index` (IPv6 without DAD).
    pub fn address(&mut self, add: bool, index: u32, addr: IfAddr) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr.addr.is_ipv6());
        msg.header.prefix_len = addr.prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr.addr));
        msg.attributes.push(AddressAttribute::Address(addr.addr));
        if addr.addr.is_ipv6() {
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        if add {
            self.request(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            )
        } else {
            self.request(RouteNetlinkMessage::DelAddress(msg), 0)
        }
    }

    /// Adds or deletes the route `dest` (`None`: default) via link `index` in `table`.
    pub fn route(
        &mut self,
        add: bool,
        index: u32,
        dest: Option<Cidr>,
        v6: bool,
        table: u32,
    ) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(v6);
        msg.header.destination_prefix_length = dest.map_or(0, |c| c.prefix());
        msg.header.table = header_table(table);
        if add {
            msg.header.protocol = RouteProtocol::Boot;
            msg.header.scope = if v6 {
                RouteScope::Universe
            } else {
                RouteScope::Link
            };
            msg.header.kind = RouteType::Unicast;
        } else {
            msg.header.scope = RouteScope::NoWhere;
        }
        if let Some(c) = dest {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(c.addr())));
        }
        msg.attributes.push(RouteAttribute::Oif(index));
        msg.attributes.push(RouteAttribute::Table(table));
        if add {
            self.request(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            )
        } else {
            self.request(RouteNetlinkMessage::DelRoute(msg), 0)
        }
    }

    /// Adds or deletes the rule `SELECTOR lookup table pref pref`.
    pub fn rule(
        &mut self,
        add: bool,
        v6: bool,
        selector: RuleSelector,
        table: u32,
        pref: u32,
    ) -> Result<(), NetlinkError> {
        let mut msg = RuleMessage::default();
        msg.header.family = family(v6);
        msg.header.table = header_table(table);
        msg.header.action = RuleAction::ToTable;
        match selector {
            RuleSelector::IifLo => msg.attributes.push(RuleAttribute::Iifname("lo".into())),
            RuleSelector::From(a) => {
                msg.header.src_len = if a.is_ipv6() { 128 } else { 32 };
                msg.attributes.push(RuleAttribute::Source(a));
            }
        }
        msg.attributes.push(RuleAttribute::Priority(pref));
        msg.attributes.push(RuleAttribute::Table(table));
        if add {
            self.request(RouteNetlinkMessage::NewRule(msg), NLM_F_CREATE | NLM_F_EXCL)
        } else {
            self.request(RouteNetlinkMessage::DelRule(msg), 0)
        }
    }

    /// Deletes one rule with preference `pref` (any selector); `Refused(ENOENT)` if none.
    pub fn delete_rule_pref(&mut self, v6: bool, pref: u32) -> Result<(), NetlinkError> {
        let mut msg = RuleMessage::default();
        msg.header.family = family(v6);
        msg.attributes.push(RuleAttribute::Priority(pref));
        self.request(RouteNetlinkMessage::DelRule(msg), 0)
    }

    /// Deletes every route in `table` of one family; returns how many.
    pub fn flush_table(&mut self, v6: bool, table: u32) -> Result<usize, NetlinkError> {
        let mut q = RouteMessage::default();
        q.header.address_family = family(v6);
        let mut n = 0;
        for m in self.dump(RouteNetlinkMessage::GetRoute(q))? {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            let t = r
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                })
                .unwrap_or(u32::from(r.header.table));
            if t == table {
                self.request(RouteNetlinkMessage::DelRoute(r), 0)?;
                n += 1;
            }
        }
        Ok(n)
    }
}
