//! One call from a captured frame to what the handshake tracker consumes:
//! a TCP segment with its addressing, or an ICMP error quoting one. Every
//! other frame comes back as a [`Skip`] reason, which callers count.

use crate::be16;
use crate::icmp::{self, IcmpError as IcmpView};
use crate::ip::{self, IpHeader, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use crate::link::{self, LinkType, Network};
use crate::tcp::TcpView;

pub use crate::icmp::IcmpError;

/// Why a frame carries nothing for the tracker. `Truncated` and `Malformed`
/// name the part of the frame where the bytes ran out or made no sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// A link type the decoder does not know (its LINKTYPE_ number).
    UnsupportedLinkType(u32),
    NotIp,
    NotTcp,
    /// A non-first IP fragment: counted and skipped, never reassembled.
    Fragment,
    Truncated(Part),
    Malformed(Part),
}

/// The part of a frame where decoding stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Ethernet,
    Vlan,
    Mpls,
    Pppoe,
    LinuxSll,
    LinuxSll2,
    NullLoopback,
    Ip,
    Ipv4,
    Ipv4Options,
    Ipv4HeaderLength,
    Ipv4TotalLength,
    Ipv4Version,
    Ipv6,
    Ipv6Version,
    Ipv6ExtensionHeader,
    Ipv6FragmentHeader,
    Ipv6AuthenticationHeader,
    Icmp,
    IcmpQuotedTcp,
    Tcp,
    TcpOptions,
    TcpDataOffset,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Ethernet => "ethernet",
            Part::Vlan => "vlan",
            Part::Mpls => "mpls",
            Part::Pppoe => "pppoe",
            Part::LinuxSll => "linux-sll",
            Part::LinuxSll2 => "linux-sll2",
            Part::NullLoopback => "null/loopback",
            Part::Ip => "ip",
            Part::Ipv4 => "ipv4",
            Part::Ipv4Options => "ipv4 options",
            Part::Ipv4HeaderLength => "ipv4 header length",
            Part::Ipv4TotalLength => "ipv4 total length",
            Part::Ipv4Version => "ipv4 version",
            Part::Ipv6 => "ipv6",
            Part::Ipv6Version => "ipv6 version",
            Part::Ipv6ExtensionHeader => "ipv6 extension header",
            Part::Ipv6FragmentHeader => "ipv6 fragment header",
            Part::Ipv6AuthenticationHeader => "ipv6 authentication header",
            Part::Icmp => "icmp",
            Part::IcmpQuotedTcp => "icmp quoted tcp",
            Part::Tcp => "tcp",
            Part::TcpOptions => "tcp options",
            Part::TcpDataOffset => "tcp data offset",
        }
    }
}

impl Skip {
    /// True for reasons that mean damaged or cut packets rather than
    /// traffic that is simply not TCP.
    pub fn is_damage(self) -> bool {
        matches!(self, Skip::Truncated(_) | Skip::Malformed(_))
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::UnsupportedLinkType(t) => write!(f, "unsupported link type {t}"),
            Skip::NotIp => write!(f, "not IP"),
            Skip::NotTcp => write!(f, "not TCP"),
            Skip::Fragment => write!(f, "non-first IP fragment"),
            Skip::Truncated(part) => write!(f, "truncated {}", part.as_str()),
            Skip::Malformed(part) => write!(f, "malformed {}", part.as_str()),
        }
    }
}

/// A TCP segment and where it was seen.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub vlan: u32,
    pub ip: IpHeader,
    pub tcp: TcpView<'a>,
    /// Payload length as sent (from the IP length), even when the capture
    /// kept fewer bytes.
    pub payload_len: u32,
}

/// What a frame holds for the tracker.
#[derive(Clone, Copy, Debug)]
pub enum Decoded<'a> {
    Tcp(Segment<'a>),
    Icmp { vlan: u32, error: IcmpView },
}

/// Decodes `frame` of link type `link`.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, Skip> {
    let start = link::network_layer(link, frame)?;
    let mut iph = match start.network {
        Network::Ipv4 => ip::ipv4(frame, start.offset)?,
        Network::Ipv6 => ip::ipv6(frame, start.offset)?,
    };
    if iph.protocol == PROTO_UDP && !iph.later_fragment {
        iph = teredo(frame, &iph)?;
    }
    if iph.later_fragment {
        return Err(Skip::Fragment);
    }
    match iph.protocol {
        PROTO_TCP => {
            let bytes = frame
                .get(iph.payload_start..iph.payload_end)
                .ok_or(Skip::Truncated(Part::Tcp))?;
            let tcp = TcpView::new_checked(bytes)?;
            let claimed = iph.claimed_end.saturating_sub(iph.payload_start);
            let payload_len = claimed.saturating_sub(tcp.header_len()) as u32;
            Ok(Decoded::Tcp(Segment {
                vlan: start.vlan,
                ip: iph,
                tcp,
                payload_len,
            }))
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let error = icmp::icmp_error(frame, &iph)?;
            Ok(Decoded::Icmp {
                vlan: start.vlan,
                error,
            })
        }
        _ => Err(Skip::NotTcp),
    }
}

/// The UDP port of Teredo (RFC 4380), which tunnels IPv6 in IPv4 UDP.
const TEREDO_PORT: u16 = 3544;

/// Unwraps IPv6 carried by Teredo: UDP port 3544, optional authentication
/// and origin-indication headers (RFC 4380 section 5.1.1), then IPv6.
/// Other UDP is not for us.
fn teredo(frame: &[u8], outer: &IpHeader) -> Result<IpHeader, Skip> {
    let udp = frame
        .get(outer.payload_start..outer.payload_end)
        .ok_or(Skip::NotTcp)?;
    if udp.len() < 8 + 40 {
        return Err(Skip::NotTcp);
    }
    let on_teredo_port = be16(udp, 0) == TEREDO_PORT || be16(udp, 2) == TEREDO_PORT;
    let mut at = 8;
    if be16(udp, at) == 0x0001 {
        // Authentication: indicator, id and auth lengths, nonce, confirmation.
        let id_len = usize::from(*udp.get(at + 2).ok_or(Skip::NotTcp)?);
        let auth_len = usize::from(*udp.get(at + 3).ok_or(Skip::NotTcp)?);
        at += 4 + id_len + auth_len + 8 + 1;
    }
    if udp.len() >= at + 2 && be16(udp, at) == 0x0000 {
        at += 8; // origin indication
    }
    if udp.get(at).is_none_or(|b| b >> 4 != 6) {
        return Err(Skip::NotTcp);
    }
    if !on_teredo_port {
        // Relays talk from other ports: accept only a bare IPv6 header that
        // fills the datagram exactly and has an end in the Teredo prefix
        // 2001::/32, so that other UDP is never misread.
        let v6 = &udp[at..];
        let exact = v6.len() >= 40 && usize::from(be16(v6, 4)) + 40 == v6.len();
        let teredo_prefix = |o: usize| v6[o..o + 4] == [0x20, 0x01, 0, 0];
        if !(exact && (teredo_prefix(8) || teredo_prefix(24))) {
            return Err(Skip::NotTcp);
        }
    }
    let mut inner = ip::ipv6(frame, outer.payload_start + at)?;
    inner.payload_end = inner.payload_end.min(outer.payload_end);
    inner.claimed_end = inner.claimed_end.min(outer.payload_end);
    Ok(inner)
}
