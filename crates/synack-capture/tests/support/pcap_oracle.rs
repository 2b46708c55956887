//! pcap-parser as a second reader of pcap and pcapng: the packets it finds,
//! in the terms our reader reports them, and the comparison of the two.
//! Shared by the differential property test and the `reader_oracle` fuzz
//! target.

use pcap_parser::pcapng::{Block, OptionCode, parse_block_be, parse_block_le};
use pcap_parser::traits::PcapNGPacketBlock;
use pcap_parser::{PcapBlockOwned, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};

/// One packet as a reader reports it. `ts_ns` is None where the format
/// has no timestamp (pcapng simple packet blocks) or the oracle cannot say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub ts_ns: Option<i64>,
    pub link: u32,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// What a reader made of a capture: its packets, and whether it read to
/// the end without an error. `judged` is false when the oracle met
/// something it does not read (an obsolete packet block), so only the
/// packets before it can be compared.
#[derive(Debug)]
pub struct Reading {
    pub packets: Vec<Seen>,
    pub clean: bool,
    pub judged: bool,
}

/// Our reader.
pub fn ours(bytes: &[u8]) -> Reading {
    let mut packets = Vec::new();
    let Ok(mut r) = synack_capture::CaptureReader::new("oracle".into(), bytes) else {
        return Reading {
            packets,
            clean: false,
            judged: true,
        };
    };
    loop {
        match r.next_packet() {
            Ok(Some(p)) => packets.push(Seen {
                ts_ns: Some(p.ts_ns),
                link: p.link.0,
                data: p.data.to_vec(),
                wire_len: p.wire_len,
            }),
            Ok(None) => break,
            Err(_) => {
                return Reading {
                    packets,
                    clean: false,
                    judged: true,
                };
            }
        }
    }
    Reading {
        packets,
        clean: true,
        judged: true,
    }
}

/// pcap-parser's reading of `bytes`.
pub fn oracle(bytes: &[u8]) -> Reading {
    if bytes.len() >= 4 && bytes[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
        pcapng(bytes)
    } else {
        pcap(bytes)
    }
}

fn pcap(bytes: &[u8]) -> Reading {
    let mut reading = Reading {
        packets: Vec::new(),
        clean: false,
        judged: true,
    };
    let Ok((mut rest, header)) = parse_pcap_header(bytes) else {
        return reading;
    };
    // The link type's upper bits carry FCS information, not the type.
    let link = (header.network.0 as u32) & 0xffff;
    let frac_ns: i64 = if header.is_nanosecond_precision() {
        1
    } else {
        1000
    };
    while !rest.is_empty() {
        let frame = if header.is_bigendian() {
            parse_pcap_frame_be(rest)
        } else {
            parse_pcap_frame(rest)
        };
        let Ok((next, block)) = frame else {
            return reading;
        };
        reading.packets.push(Seen {
            ts_ns: Some(
                i64::from(block.ts_sec) * 1_000_000_000 + i64::from(block.ts_usec) * frac_ns,
            ),
            link,
            data: block.data.to_vec(),
            wire_len: block.origlen,
        });
        rest = next;
    }
    reading.clean = true;
    reading
}

#[derive(Clone, Copy)]
struct Interface {
    link: u32,
    snaplen: u32,
    resolution: Option<u64>,
    offset_s: i64,
}

fn pcapng(bytes: &[u8]) -> Reading {
    let mut reading = Reading {
        packets: Vec::new(),
        clean: false,
        judged: true,
    };
    let (mut rest, mut big_endian) = (bytes, false);
    let mut interfaces: Vec<Interface> = Vec::new();
    while !rest.is_empty() {
        // A section header tells its own byte order (either parser reads
        // it); the blocks after it follow that order.
        let parse = if big_endian {
            parse_block_be
        } else {
            parse_block_le
        };
        let Ok((next, block)) = parse(rest) else {
            return reading;
        };
        match PcapBlockOwned::from(block) {
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                big_endian = shb.big_endian();
                interfaces.clear();
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                // pcap-parser takes the padding for the value when an
                // if_tsresol or if_tsoffset option has the wrong length,
                // and reads on past opt_endofopt; ours ignores such an
                // option and stops at the end marker. Neither is the
                // file's word.
                let end = idb
                    .options
                    .iter()
                    .position(|o| o.code == OptionCode::EndOfOpt);
                let misfit = end.is_some_and(|at| at + 1 < idb.options.len())
                    || idb.options.iter().any(|o| {
                        (o.code == OptionCode::IfTsresol && o.len != 1)
                            || (o.code == OptionCode::IfTsoffset && o.len != 8)
                    });
                if misfit {
                    reading.judged = false;
                    return reading;
                }
                interfaces.push(Interface {
                    link: idb.linktype.0 as u32 & 0xffff,
                    snaplen: idb.snaplen,
                    resolution: idb.ts_resolution(),
                    // pcap-parser 0.17 reads if_tsoffset as little-endian in
                    // every section (found by this test); a big-endian
                    // section's value is the other way round.
                    offset_s: if big_endian {
                        idb.ts_offset().swap_bytes()
                    } else {
                        idb.ts_offset()
                    },
                });
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = interfaces.get(epb.if_id as usize) else {
                    return reading;
                };
                let units = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ts_ns = iface.resolution.map(|res| {
                    let ns = i128::from(units) * 1_000_000_000 / i128::from(res)
                        + i128::from(iface.offset_s) * 1_000_000_000;
                    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
                });
                reading.packets.push(Seen {
                    ts_ns,
                    link: iface.link,
                    data: epb.packet_data().to_vec(),
                    wire_len: epb.origlen,
                });
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = interfaces.first() else {
                    return reading;
                };
                let mut data = spb.packet_data();
                if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                    data = &data[..iface.snaplen as usize];
                }
                reading.packets.push(Seen {
                    ts_ns: None,
                    link: iface.link,
                    data: data.to_vec(),
                    wire_len: spb.origlen,
                });
            }
            // (pcap-parser keeps the type as read little-endian.)
            PcapBlockOwned::NG(Block::Unknown(u))
                if u.block_type == 2 || u.block_type == 2u32.swap_bytes() =>
            {
                // The obsolete packet block: ours reads it, pcap-parser not.
                reading.judged = false;
                return reading;
            }
            _ => {}
        }
        rest = next;
    }
    reading.clean = true;
    reading
}

/// The packets both readers found agree, packet by packet, as far as both
/// got (a damaged file may stop one earlier than the other). Returns how
/// many were compared, or the first difference.
pub fn agree(ours: &Reading, theirs: &Reading) -> Result<usize, String> {
    let n = ours.packets.len().min(theirs.packets.len());
    for (i, (a, b)) in ours.packets[..n]
        .iter()
        .zip(&theirs.packets[..n])
        .enumerate()
    {
        let ts_differs = matches!((a.ts_ns, b.ts_ns), (Some(x), Some(y)) if x != y);
        // A record that claims fewer bytes on the wire than it holds is
        // counted by ours and taken at its captured length; pcap-parser
        // passes the field on as it is.
        let wire = b.wire_len.max(b.data.len() as u32);
        if ts_differs || a.link != b.link || a.data != b.data || a.wire_len != wire {
            return Err(format!("packet {}: ours {a:?}, pcap-parser {b:?}", i + 1));
        }
    }
    Ok(n)
}
