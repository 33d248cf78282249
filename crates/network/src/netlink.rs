//! A small synchronous rtnetlink client: links, addresses and routes.
//! A socket talks to the network namespace it was opened in.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::{Error, Result};

/// An rtnetlink socket.
#[derive(Debug)]
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

fn nl_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Netlink(format!("{what}: {e}"))
}

impl Netlink {
    /// A socket in the current network namespace.
    pub fn open() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("netlink socket", e))?;
        sock.bind_auto().map_err(|e| nl_err("netlink bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| nl_err("netlink connect", e))?;
        Ok(Self { sock, seq: 1 })
    }

    /// Sends `msg` and collects the replies until the ACK or the end of a
    /// dump. A netlink error becomes `Err` with its errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        self.seq += 1;
        hdr.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        self.sock.send(&buf, 0).map_err(|e| nl_err(what, e))?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            let n = self
                .sock
                .recv(&mut &mut rbuf[..], 0)
                .map_err(|e| nl_err(what, e))?;
            let mut off = 0;
            while off < n {
                let bytes = &rbuf[off..n];
                let msg = <NetlinkMessage<RouteNetlinkMessage>>::deserialize(bytes)
                    .map_err(|e| nl_err(what, e))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Ok(out);
                }
                off += len;
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out), // the ACK
                            Some(code) => Err(Error::Netlink(format!(
                                "{what}: {}",
                                std::io::Error::from_raw_os_error(-code.get())
                            ))),
                        };
                    }
                    NetlinkPayload::InnerMessage(m) => out.push(m),
                    _ => {}
                }
            }
            if flags & NLM_F_DUMP == 0 && flags & NLM_F_ACK == 0 {
                return Ok(out);
            }
        }
    }

    /// The index of link `name`, if it exists.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), NLM_F_ACK, "getting a link") {
            Ok(v) => Ok(v.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(Error::Netlink(e)) if e.contains("No such device") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link's (index, name, mtu).
    pub fn links(&mut self) -> Result<Vec<(u32, String, u32)>> {
        let v = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "listing links",
        )?;
        Ok(v.into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => {
                    let name = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })?;
                    let mtu = l
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            LinkAttribute::Mtu(m) => Some(*m),
                            _ => None,
                        })
                        .unwrap_or(1500);
                    Some((l.header.index, name, mtu))
                }
                _ => None,
            })
            .collect())
    }

    /// Creates a bridge.
    pub fn add_bridge(&mut self, name: &str, mtu: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating bridge {name}"),
        )
        .map(drop)
    }

    /// Creates a veth pair: `host` here, attached to bridge `master`, and
    /// `peer` (named `peer_name`) created straight in the namespace `netns`.
    pub fn add_veth(
        &mut self,
        host: &str,
        peer_name: &str,
        netns: BorrowedFd<'_>,
        mtu: u32,
        master: u32,
        mac: Option<[u8; 6]>,
    ) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes.push(LinkAttribute::Mtu(mtu));
        peer.attributes
            .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        if let Some(mac) = mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes.push(LinkAttribute::Controller(master));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating veth {host}"),
        )
        .map(drop)
    }

    /// Brings link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            "setting a link up",
        )
        .map(drop)
    }

    /// Deletes link `name` (a veth's peer goes with it). Missing is fine.
    pub fn del_link(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(
            RouteNetlinkMessage::DelLink(m),
            NLM_F_ACK,
            "deleting a link",
        ) {
            Err(Error::Netlink(e)) if e.contains("No such device") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Adds `ip/prefix` to link `index`.
    pub fn add_addr(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(ip.into()));
        m.attributes.push(AddressAttribute::Address(ip.into()));
        let bcast = Ipv4Addr::from(u32::from(ip) | (u32::MAX >> prefix));
        m.attributes.push(AddressAttribute::Broadcast(bcast));
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "adding an address",
        ) {
            Err(Error::Netlink(e)) if e.contains("File exists") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Adds a default route via `gw`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "adding the default route",
        )
        .map(drop)
    }

    /// The IPv4 destination prefixes of the main table: (network, prefix).
    pub fn routes(&mut self) -> Result<Vec<(Ipv4Addr, u8)>> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        let v = self.request(
            RouteNetlinkMessage::GetRoute(m),
            NLM_F_DUMP,
            "listing routes",
        )?;
        Ok(v.into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewRoute(r) => {
                    let dst = r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                        _ => None,
                    })?;
                    Some((dst, r.header.destination_prefix_length))
                }
                _ => None,
            })
            .collect())
    }
}
