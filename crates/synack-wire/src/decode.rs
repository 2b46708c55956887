//! One call from a captured frame to what the handshake tracker consumes:
//! a TCP segment with its addressing, or an ICMP error quoting one. Every
//! other frame comes back as a [`Skip`] reason, which callers count.

use crate::icmp::{self, IcmpError as IcmpView};
use crate::ip::{self, IpHeader, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::link::{self, LinkType, Network};
use crate::tcp::TcpView;
use crate::tunnel::{self, Tunnels};

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
    Gre,
    Erspan,
    Vxlan,
    Geneve,
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
            Part::Gre => "gre",
            Part::Erspan => "erspan",
            Part::Vxlan => "vxlan",
            Part::Geneve => "geneve",
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
    decode_tunneled(link, frame, &mut Tunnels::default())
}

/// Decodes `frame` of link type `link`, unwrapping tunnels to the innermost
/// IP datagram; `through` gets every encapsulation crossed, whether or not
/// the packet inside turns out to be for the tracker.
pub fn decode_tunneled<'a>(
    link: LinkType,
    frame: &'a [u8],
    through: &mut Tunnels,
) -> Result<Decoded<'a>, Skip> {
    let start = link::network_layer(link, frame)?;
    let mut vlan = start.vlan;
    let mut iph = match start.network {
        Network::Ipv4 => ip::ipv4(frame, start.offset)?,
        Network::Ipv6 => ip::ipv6(frame, start.offset)?,
    };
    let mut depth = 0;
    while !iph.later_fragment && iph.protocol != PROTO_TCP {
        let Some(inner) = tunnel::inner(frame, &iph)? else {
            break;
        };
        depth += 1;
        if depth > tunnel::MAX_DEPTH {
            return Err(Skip::Malformed(Part::Ip));
        }
        *through = through.union(inner.through);
        vlan = inner.vlan.unwrap_or(vlan);
        iph = inner.ip;
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
                vlan,
                ip: iph,
                tcp,
                payload_len,
            }))
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let error = icmp::icmp_error(frame, &iph)?;
            Ok(Decoded::Icmp { vlan, error })
        }
        _ => Err(Skip::NotTcp),
    }
}
