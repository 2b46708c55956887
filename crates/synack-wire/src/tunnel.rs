//! Tunnels: the encapsulations that port mirroring and cloud traffic
//! mirroring deliver, unwrapped to the IP datagram inside. Given an IP
//! header, [`inner`] says whether its payload is a tunnel and, if so, where
//! the inner IP header is; the decoder calls it until the payload is not a
//! tunnel. Known here:
//!
//! * IPv4 in IP (RFC 2003, protocol 4) and IPv6 in IP (RFC 4213 6in4 and
//!   6to4, protocol 41);
//! * GRE (RFC 2784 with RFC 2890's key and sequence number) carrying IP,
//!   MPLS or Ethernet (transparent bridging, 0x6558), and ERSPAN type I
//!   (0x88be without a sequence number), II (0x88be) and III (0x22eb);
//! * VXLAN (RFC 7348, UDP 4789, and Linux's older default 8472);
//! * Geneve (RFC 8926, UDP 6081);
//! * Teredo (RFC 4380, IPv6 in UDP 3544).
//!
//! Inner offsets are into the same frame, and every inner header is bounded
//! by the outer datagram: an inner length field can never reach past it.
//! The record's VLAN becomes the tags of the innermost Ethernet frame (the
//! tenant's, not the underlay's).

use crate::be16;
use crate::ip::{self, IpHeader, PROTO_UDP};
use crate::link::{self, Network, NetworkStart};
use crate::{Part, Skip};

const PROTO_IPV4_IN_IP: u8 = 4;
const PROTO_IPV6_IN_IP: u8 = 41;
const PROTO_GRE: u8 = 47;

const VXLAN_PORT: u16 = 4789;
/// Linux's VXLAN port when none is configured (flannel and older setups).
const VXLAN_LINUX_PORT: u16 = 8472;
const GENEVE_PORT: u16 = 6081;
const TEREDO_PORT: u16 = 3544;

const ETHERTYPE_TRANSPARENT_BRIDGING: u16 = 0x6558;
const ETHERTYPE_ERSPAN_II: u16 = 0x88be;
const ETHERTYPE_ERSPAN_III: u16 = 0x22eb;

/// How many tunnels deep the decoder follows (a VXLAN in GRE in IPIP is
/// three); past it, the packet is counted as malformed.
pub const MAX_DEPTH: usize = 8;

/// One kind of encapsulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tunnel {
    /// IPv4 in IP, protocol 4.
    IpInIp,
    /// IPv6 in IP, protocol 41 (6in4, 6to4, ISATAP).
    Ipv6InIp,
    Gre,
    ErspanI,
    ErspanII,
    ErspanIII,
    Vxlan,
    Geneve,
    Teredo,
}

impl Tunnel {
    pub const ALL: [Tunnel; 9] = [
        Tunnel::IpInIp,
        Tunnel::Ipv6InIp,
        Tunnel::Gre,
        Tunnel::ErspanI,
        Tunnel::ErspanII,
        Tunnel::ErspanIII,
        Tunnel::Vxlan,
        Tunnel::Geneve,
        Tunnel::Teredo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tunnel::IpInIp => "IPv4-in-IP",
            Tunnel::Ipv6InIp => "IPv6-in-IP (6in4)",
            Tunnel::Gre => "GRE",
            Tunnel::ErspanI => "ERSPAN I",
            Tunnel::ErspanII => "ERSPAN II",
            Tunnel::ErspanIII => "ERSPAN III",
            Tunnel::Vxlan => "VXLAN",
            Tunnel::Geneve => "Geneve",
            Tunnel::Teredo => "Teredo",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl std::fmt::Display for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of encapsulations one packet came through (ERSPAN inside GRE
/// counts both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tunnels(u16);

impl Tunnels {
    pub fn insert(&mut self, t: Tunnel) {
        self.0 |= t.bit();
    }
    pub fn contains(self, t: Tunnel) -> bool {
        self.0 & t.bit() != 0
    }
    pub fn union(self, other: Tunnels) -> Tunnels {
        Tunnels(self.0 | other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Tunnel> {
        Tunnel::ALL.into_iter().filter(move |t| self.contains(*t))
    }
}

/// What a tunnel holds: the inner IP header, the VLAN tags of an inner
/// Ethernet frame, and which encapsulations were crossed to reach it.
#[derive(Clone, Copy, Debug)]
pub struct Inner {
    pub ip: IpHeader,
    pub vlan: Option<u32>,
    pub through: Tunnels,
}

/// The tunnel payload of `outer`, if it is one. `Ok(None)` means the
/// payload is no tunnel (plain TCP, other UDP, ...); an error means it is a
/// tunnel whose inner headers are cut or make no sense.
pub fn inner(frame: &[u8], outer: &IpHeader) -> Result<Option<Inner>, Skip> {
    // Bounded by the outer datagram (Ethernet padding after it is not ours).
    let frame = frame
        .get(..outer.payload_end)
        .ok_or(Skip::Truncated(Part::Ip))?;
    let at = outer.payload_start;
    let mut through = Tunnels::default();
    let start = match outer.protocol {
        PROTO_IPV4_IN_IP => {
            through.insert(Tunnel::IpInIp);
            plain(Network::Ipv4, at)
        }
        PROTO_IPV6_IN_IP => {
            through.insert(Tunnel::Ipv6InIp);
            plain(Network::Ipv6, at)
        }
        PROTO_GRE => match gre(frame, at, &mut through)? {
            Some(start) => start,
            None => return Ok(None),
        },
        PROTO_UDP => match udp(frame, at, &mut through)? {
            Some(start) => start,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let mut ip = match start.0.network {
        Network::Ipv4 => ip::ipv4(frame, start.0.offset)?,
        Network::Ipv6 => ip::ipv6(frame, start.0.offset)?,
    };
    // The inner datagram cannot be longer than the outer one says it is.
    ip.claimed_end = ip.claimed_end.min(outer.claimed_end);
    Ok(Some(Inner {
        ip,
        vlan: start.1.then_some(start.0.vlan),
        through,
    }))
}

/// An inner network layer and whether it came out of an Ethernet frame.
type Start = (NetworkStart, bool);

fn plain(network: Network, offset: usize) -> Start {
    let start = NetworkStart {
        network,
        offset,
        vlan: 0,
    };
    (start, false)
}

fn ethernet(frame: &[u8], at: usize) -> Result<Start, Skip> {
    Ok((link::ethernet(frame, at, 0)?, true))
}

/// GRE (RFC 2784; key and sequence number, RFC 2890). Version 1 (PPTP) and
/// source routing (RFC 1701) are not followed.
fn gre(frame: &[u8], at: usize, through: &mut Tunnels) -> Result<Option<Start>, Skip> {
    let h = frame.get(at..at + 4).ok_or(Skip::Truncated(Part::Gre))?;
    let (checksum, routing, key, sequence) = (
        h[0] & 0x80 != 0,
        h[0] & 0x40 != 0,
        h[0] & 0x20 != 0,
        h[0] & 0x10 != 0,
    );
    if routing || h[1] & 0x07 != 0 {
        return Ok(None);
    }
    through.insert(Tunnel::Gre);
    let protocol = be16(h, 2);
    let payload = at + 4 + 4 * (usize::from(checksum) + usize::from(key) + usize::from(sequence));
    if frame.len() < payload {
        return Err(Skip::Truncated(Part::Gre));
    }
    let start = match protocol {
        ETHERTYPE_TRANSPARENT_BRIDGING => ethernet(frame, payload)?,
        // Type I has no header of its own and no sequence number.
        ETHERTYPE_ERSPAN_II if !sequence => {
            through.insert(Tunnel::ErspanI);
            ethernet(frame, payload)?
        }
        ETHERTYPE_ERSPAN_II => {
            through.insert(Tunnel::ErspanII);
            ethernet(frame, payload + 8)?
        }
        ETHERTYPE_ERSPAN_III => {
            through.insert(Tunnel::ErspanIII);
            let h = frame
                .get(payload..payload + 12)
                .ok_or(Skip::Truncated(Part::Erspan))?;
            // The O bit: an 8-byte platform-specific subheader follows.
            let subheader = if h[11] & 1 != 0 { 8 } else { 0 };
            ethernet(frame, payload + 12 + subheader)?
        }
        // IPv4, IPv6, MPLS, VLAN: what an Ethernet type says.
        ethertype => (
            link::ethertype_payload(frame, ethertype, payload, 0)?,
            false,
        ),
    };
    Ok(Some(start))
}

/// VXLAN, Geneve or Teredo by UDP port; other UDP is not a tunnel.
fn udp(frame: &[u8], at: usize, through: &mut Tunnels) -> Result<Option<Start>, Skip> {
    let Some(h) = frame.get(at..at + 8) else {
        return Ok(None);
    };
    let (src_port, dst_port) = (be16(h, 0), be16(h, 2));
    let payload = at + 8;
    match dst_port {
        VXLAN_PORT | VXLAN_LINUX_PORT => {
            let v = frame
                .get(payload..payload + 8)
                .ok_or(Skip::Truncated(Part::Vxlan))?;
            // RFC 7348: the I flag set, the reserved bits zero. Checked so
            // that other traffic on 8472 is not misread.
            if v[0] & 0x08 == 0 || v[0] & !0x08 != 0 || v[1..4] != [0, 0, 0] || v[7] != 0 {
                return Ok(None);
            }
            through.insert(Tunnel::Vxlan);
            ethernet(frame, payload + 8).map(Some)
        }
        GENEVE_PORT => {
            let g = frame
                .get(payload..payload + 8)
                .ok_or(Skip::Truncated(Part::Geneve))?;
            if g[0] >> 6 != 0 {
                return Ok(None); // an unknown Geneve version
            }
            through.insert(Tunnel::Geneve);
            let inner = payload + 8 + usize::from(g[0] & 0x3f) * 4;
            if frame.len() < inner {
                return Err(Skip::Truncated(Part::Geneve));
            }
            match be16(g, 2) {
                ETHERTYPE_TRANSPARENT_BRIDGING => ethernet(frame, inner).map(Some),
                ethertype => Ok(Some((
                    link::ethertype_payload(frame, ethertype, inner, 0)?,
                    false,
                ))),
            }
        }
        _ => {
            let start = teredo(
                frame,
                at,
                src_port == TEREDO_PORT || dst_port == TEREDO_PORT,
            );
            if start.is_some() {
                through.insert(Tunnel::Teredo);
            }
            Ok(start)
        }
    }
}

/// IPv6 carried by Teredo: optional authentication and origin-indication
/// headers (RFC 4380 section 5.1.1), then IPv6. Relays talk from other
/// ports, so off the Teredo port only a bare IPv6 header that fills the
/// datagram exactly and has an end in the Teredo prefix 2001::/32 is taken,
/// so that other UDP is never misread.
fn teredo(frame: &[u8], udp_at: usize, on_teredo_port: bool) -> Option<Start> {
    let udp = frame.get(udp_at..)?;
    if udp.len() < 8 + 40 {
        return None;
    }
    let mut at = 8;
    if be16(udp, at) == 0x0001 {
        // Authentication: indicator, id and auth lengths, nonce, confirmation.
        let id_len = usize::from(*udp.get(at + 2)?);
        let auth_len = usize::from(*udp.get(at + 3)?);
        at += 4 + id_len + auth_len + 8 + 1;
    }
    if udp.len() >= at + 2 && be16(udp, at) == 0x0000 {
        at += 8; // origin indication
    }
    if udp.get(at).is_none_or(|b| b >> 4 != 6) {
        return None;
    }
    if !on_teredo_port {
        let v6 = &udp[at..];
        let exact = v6.len() >= 40 && usize::from(be16(v6, 4)) + 40 == v6.len();
        let teredo_prefix = |o: usize| v6[o..o + 4] == [0x20, 0x01, 0, 0];
        if !(exact && (teredo_prefix(8) || teredo_prefix(24))) {
            return None;
        }
    }
    Some(plain(Network::Ipv6, udp_at + at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::{TcpSegmentSpec, encapsulate, ethernet_tcp};
    use crate::{Decoded, LinkType, TcpFlags, decode_tunneled};
    use std::net::IpAddr;

    fn syn(client: &str, server: &str, vlan: Option<u16>) -> Vec<u8> {
        let mut f = Vec::new();
        let spec = TcpSegmentSpec {
            payload: b"hello",
            vlan,
            ..TcpSegmentSpec::new(
                client.parse().unwrap(),
                server.parse().unwrap(),
                1000,
                0,
                TcpFlags::SYN,
            )
        };
        ethernet_tcp(&mut f, &spec);
        f
    }

    /// Server address and port, sequence number, payload length, VLAN.
    type Seen = (IpAddr, u16, u32, u32, u32);

    fn decoded(frame: &[u8]) -> (Result<Seen, Skip>, Tunnels) {
        let mut through = Tunnels::default();
        let r = decode_tunneled(LinkType::ETHERNET, frame, &mut through).map(|d| match d {
            Decoded::Tcp(s) => (
                s.ip.dst,
                s.tcp.dst_port(),
                s.tcp.seq(),
                s.payload_len,
                s.vlan,
            ),
            Decoded::Icmp { .. } => panic!("a SYN decoded as ICMP"),
        });
        (r, through)
    }

    const UNDERLAYS: [(&str, &str); 2] =
        [("192.0.2.1", "192.0.2.2"), ("2001:db8::1", "2001:db8::2")];

    #[test]
    fn every_tunnel_gives_the_inner_segment_and_names_itself() {
        for tunnel in Tunnel::ALL {
            let inner_v6 = tunnel == Tunnel::Teredo || tunnel == Tunnel::Ipv6InIp;
            let (c, s) = if inner_v6 {
                ("[2001:0:5ef5:79fb::1]:40000", "[2001:db8:1::2]:443")
            } else {
                ("10.0.0.1:40000", "10.0.0.2:443")
            };
            let vlan = (!matches!(
                tunnel,
                Tunnel::IpInIp | Tunnel::Ipv6InIp | Tunnel::Gre | Tunnel::Teredo
            ))
            .then_some(12);
            let bare = syn(c, s, vlan);
            let (want, none) = decoded(&bare);
            assert!(want.is_ok() && none.is_empty());
            for (os, od) in UNDERLAYS {
                let wrapped = encapsulate(tunnel, os.parse().unwrap(), od.parse().unwrap(), &bare);
                let (got, through) = decoded(&wrapped);
                assert_eq!(got, want, "{tunnel} over {os}");
                assert!(through.contains(tunnel), "{tunnel}: {through:?}");
                let gre_based = matches!(
                    tunnel,
                    Tunnel::ErspanI | Tunnel::ErspanII | Tunnel::ErspanIII
                );
                assert_eq!(
                    through.iter().count(),
                    1 + usize::from(gre_based),
                    "{through:?}"
                );
                // Cut anywhere, the frame is skipped with a reason, never a panic,
                // and never taken for a different segment.
                for len in 0..wrapped.len() {
                    let (cut, _) = decoded(&wrapped[..len]);
                    if let Ok(seg) = cut {
                        assert_eq!(
                            (seg.0, seg.1, seg.2),
                            (want.unwrap().0, want.unwrap().1, want.unwrap().2)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_inner_ethernet_vlan_is_the_records_not_the_underlays() {
        let bare = syn("10.0.0.1:40000", "10.0.0.2:443", Some(300));
        let mut wrapped = encapsulate(
            Tunnel::Vxlan,
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            &bare,
        );
        // Tag the underlay with VLAN 7.
        wrapped.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        assert_eq!(decoded(&wrapped).0.unwrap().4, 300);
    }

    #[test]
    fn tunnels_nest_up_to_the_depth_limit() {
        let mut frame = syn("10.0.0.1:40000", "10.0.0.2:443", None);
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        frame = encapsulate(Tunnel::Geneve, a, b, &frame);
        frame = encapsulate(Tunnel::Vxlan, a, b, &frame);
        frame = encapsulate(Tunnel::IpInIp, a, b, &frame);
        let (got, through) = decoded(&frame);
        assert_eq!(got.unwrap().0, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            through.iter().collect::<Vec<_>>(),
            [Tunnel::IpInIp, Tunnel::Vxlan, Tunnel::Geneve]
        );
        for _ in 0..MAX_DEPTH {
            frame = encapsulate(Tunnel::IpInIp, a, b, &frame);
        }
        assert_eq!(decoded(&frame).0, Err(Skip::Malformed(Part::Ip)));
    }

    #[test]
    fn other_udp_on_the_linux_vxlan_port_is_not_a_tunnel() {
        let bare = syn("10.0.0.1:40000", "10.0.0.2:443", None);
        let mut wrapped = encapsulate(
            Tunnel::Vxlan,
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            &bare,
        );
        // Port 8472 with the VXLAN header intact is VXLAN; with a reserved
        // byte set, it is some other protocol.
        let udp = 14 + 20;
        wrapped[udp + 2..udp + 4].copy_from_slice(&8472u16.to_be_bytes());
        assert!(decoded(&wrapped).1.contains(Tunnel::Vxlan));
        wrapped[udp + 8 + 1] = 1;
        assert_eq!(decoded(&wrapped), (Err(Skip::NotTcp), Tunnels::default()));
    }
}
