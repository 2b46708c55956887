//! Link layers: from a frame of a given pcap LINKTYPE to the network-layer
//! payload. Handles Ethernet with 802.1Q / 802.1ad (QinQ) tags, MPLS label
//! stacks, PPPoE sessions, Cisco FabricPath, Linux cooked SLL and SLL2, raw
//! IP and BSD null/loopback.

use crate::decode::Part;
use crate::{Skip, be16};

/// pcap LINKTYPE values understood here (tcpdump.org/linktypes.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW_OPENBSD: LinkType = LinkType(12);
    pub const RAW_BSD: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// True for the link types [`network_layer`] can walk.
    pub fn is_supported(self) -> bool {
        matches!(self.0, 0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276)
    }
}

/// Which network protocol a link layer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Ipv4,
    Ipv6,
}

/// Where the network layer starts in a frame, and the VLAN tags on the way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetworkStart {
    pub network: Network,
    pub offset: usize,
    /// Outer and inner 802.1Q/802.1ad VLAN ids packed as `outer << 12 | inner`
    /// (0 when untagged), so QinQ-separated flows stay apart.
    pub vlan: u32,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MC: u16 = 0x8848;
const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_FABRICPATH: u16 = 0x8903;

/// Finds the network layer inside `frame` of link type `link`.
pub fn network_layer(link: LinkType, frame: &[u8]) -> Result<NetworkStart, Skip> {
    match link {
        LinkType::ETHERNET => ethernet(frame, 0, 0),
        LinkType::LINUX_SLL => {
            // 16-byte header; protocol (ethertype) in the last two bytes.
            if frame.len() < 16 {
                return Err(Skip::Truncated(Part::LinuxSll));
            }
            ethertype_payload(frame, be16(frame, 14), 16, 0)
        }
        LinkType::LINUX_SLL2 => {
            // 20-byte header; protocol (ethertype) first.
            if frame.len() < 20 {
                return Err(Skip::Truncated(Part::LinuxSll2));
            }
            ethertype_payload(frame, be16(frame, 0), 20, 0)
        }
        LinkType::RAW | LinkType::RAW_OPENBSD | LinkType::RAW_BSD => by_version(frame, 0, 0),
        LinkType::IPV4 => Ok(NetworkStart {
            network: Network::Ipv4,
            offset: 0,
            vlan: 0,
        }),
        LinkType::IPV6 => Ok(NetworkStart {
            network: Network::Ipv6,
            offset: 0,
            vlan: 0,
        }),
        LinkType::NULL | LinkType::LOOP => {
            if frame.len() < 4 {
                return Err(Skip::Truncated(Part::NullLoopback));
            }
            // NULL carries the address family in the capturing host's byte
            // order, LOOP in network order; the values are small, so either
            // order is recognised by looking at which half is non-zero.
            let raw = [frame[0], frame[1], frame[2], frame[3]];
            let family = if raw[0] == 0 && raw[1] == 0 {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            match family {
                2 => Ok(NetworkStart {
                    network: Network::Ipv4,
                    offset: 4,
                    vlan: 0,
                }),
                // IPv6 is 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
                24 | 28 | 30 => Ok(NetworkStart {
                    network: Network::Ipv6,
                    offset: 4,
                    vlan: 0,
                }),
                _ => Err(Skip::NotIp),
            }
        }
        other => Err(Skip::UnsupportedLinkType(other.0)),
    }
}

pub(crate) fn ethernet(frame: &[u8], start: usize, vlan: u32) -> Result<NetworkStart, Skip> {
    if frame.len() < start + 14 {
        return Err(Skip::Truncated(Part::Ethernet));
    }
    ethertype_payload(frame, be16(frame, start + 12), start + 14, vlan)
}

pub(crate) fn ethertype_payload(
    frame: &[u8],
    mut ethertype: u16,
    mut at: usize,
    mut vlan: u32,
) -> Result<NetworkStart, Skip> {
    // Bounded: each tag consumes at least 4 bytes of a finite frame, and we
    // stop after 8 tags in any case.
    for _ in 0..8 {
        match ethertype {
            ETHERTYPE_IPV4 => {
                return Ok(NetworkStart {
                    network: Network::Ipv4,
                    offset: at,
                    vlan,
                });
            }
            ETHERTYPE_IPV6 => {
                return Ok(NetworkStart {
                    network: Network::Ipv6,
                    offset: at,
                    vlan,
                });
            }
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
                if frame.len() < at + 4 {
                    return Err(Skip::Truncated(Part::Vlan));
                }
                vlan = (vlan << 12) | u32::from(be16(frame, at) & 0x0fff);
                ethertype = be16(frame, at + 2);
                at += 4;
            }
            ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => {
                // Walk the label stack to the bottom-of-stack bit, then guess
                // the payload from the IP version nibble (RFC 3032 carries no
                // payload type).
                loop {
                    if frame.len() < at + 4 {
                        return Err(Skip::Truncated(Part::Mpls));
                    }
                    let bottom = frame[at + 2] & 1 == 1;
                    at += 4;
                    if bottom {
                        break;
                    }
                }
                return by_version(frame, at, vlan);
            }
            ETHERTYPE_PPPOE_SESSION => {
                // 6-byte PPPoE header (RFC 2516) then a 2-byte PPP protocol.
                if frame.len() < at + 8 {
                    return Err(Skip::Truncated(Part::Pppoe));
                }
                return match be16(frame, at + 6) {
                    0x0021 => Ok(NetworkStart {
                        network: Network::Ipv4,
                        offset: at + 8,
                        vlan,
                    }),
                    0x0057 => Ok(NetworkStart {
                        network: Network::Ipv6,
                        offset: at + 8,
                        vlan,
                    }),
                    _ => Err(Skip::NotIp),
                };
            }
            ETHERTYPE_FABRICPATH => {
                // FabricPath: 2 more bytes of tag, then a whole inner frame.
                return ethernet(frame, at + 2, vlan);
            }
            _ => return Err(Skip::NotIp),
        }
    }
    Err(Skip::Malformed(Part::Vlan))
}

fn by_version(frame: &[u8], at: usize, vlan: u32) -> Result<NetworkStart, Skip> {
    match frame.get(at).map(|b| b >> 4) {
        Some(4) => Ok(NetworkStart {
            network: Network::Ipv4,
            offset: at,
            vlan,
        }),
        Some(6) => Ok(NetworkStart {
            network: Network::Ipv6,
            offset: at,
            vlan,
        }),
        Some(_) => Err(Skip::NotIp),
        None => Err(Skip::Truncated(Part::Ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qinq_tags_pack_outer_and_inner_vlan() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
        f.extend_from_slice(&[0x45; 20]);
        let n = network_layer(LinkType::ETHERNET, &f).unwrap();
        assert_eq!(n.network, Network::Ipv4);
        assert_eq!(n.offset, 22);
        assert_eq!(n.vlan, (10 << 12) | 20);
    }

    #[test]
    fn mpls_stack_is_walked_to_bottom_of_stack() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x47]);
        f.extend_from_slice(&[0, 0, 0x10, 64, 0, 0, 0x21, 64]);
        f.push(0x60);
        let n = network_layer(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((n.network, n.offset), (Network::Ipv6, 22));
    }

    #[test]
    fn pppoe_session_carries_ipv4() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0, 0, 1, 0, 20, 0x00, 0x21]);
        let n = network_layer(LinkType::ETHERNET, &f).unwrap();
        assert_eq!((n.network, n.offset), (Network::Ipv4, 22));
    }

    #[test]
    fn null_loopback_accepts_both_byte_orders() {
        let le = [2u8, 0, 0, 0];
        let be = [0u8, 0, 0, 30];
        assert_eq!(
            network_layer(LinkType::NULL, &le).unwrap().network,
            Network::Ipv4
        );
        assert_eq!(
            network_layer(LinkType::LOOP, &be).unwrap().network,
            Network::Ipv6
        );
    }

    #[test]
    fn sll_and_sll2_read_their_protocol_field() {
        let mut sll = vec![0u8; 16];
        sll[14] = 0x86;
        sll[15] = 0xdd;
        assert_eq!(network_layer(LinkType::LINUX_SLL, &sll).unwrap().offset, 16);
        let mut sll2 = vec![0u8; 20];
        sll2[0] = 0x08;
        assert_eq!(
            network_layer(LinkType::LINUX_SLL2, &sll2).unwrap().network,
            Network::Ipv4
        );
    }

    #[test]
    fn short_frames_are_truncated_not_panics() {
        for link in [0, 1, 101, 108, 113, 276, 228] {
            for len in 0..24 {
                let _ = network_layer(LinkType(link), &vec![0x81; len]);
            }
        }
        assert_eq!(
            network_layer(LinkType::ETHERNET, &[0; 13]),
            Err(Skip::Truncated(Part::Ethernet))
        );
        assert_eq!(
            network_layer(LinkType(999), &[0; 64]),
            Err(Skip::UnsupportedLinkType(999))
        );
    }
}
