//! Our pcap and pcapng readers against a second one, pcap-parser, on
//! generated files (both byte orders, both pcap resolutions, pcapng
//! sections with several interfaces, timestamp resolutions and offsets,
//! enhanced and simple packet blocks, blocks without packets) and on the
//! same files damaged: cut short or with bytes changed. Whole files must
//! read alike to the end; damaged ones must agree on every packet both
//! readers return (either may stop sooner; neither may misread).

mod support;

use proptest::prelude::*;
use support::pcap_oracle::{agree, oracle, ours};

#[derive(Clone, Debug)]
struct Pkt {
    iface: usize,
    secs: u32,
    frac: u32,
    data: Vec<u8>,
    extra_wire: u32,
    simple: bool,
}

fn pkt() -> impl Strategy<Value = Pkt> {
    (
        0usize..3,
        0u32..2_000_000_000,
        0u32..1_000_000_000,
        proptest::collection::vec(any::<u8>(), 0..80),
        prop_oneof![Just(0u32), 1u32..1000],
        prop::bool::weighted(0.15),
    )
        .prop_map(|(iface, secs, frac, data, extra_wire, simple)| Pkt {
            iface,
            secs,
            frac,
            data,
            extra_wire,
            simple,
        })
}

fn pcap_file(big: bool, nanos: bool, link: u32, pkts: &[Pkt]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&w16(2));
    f.extend_from_slice(&w16(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&w32(65535));
    f.extend_from_slice(&w32(link));
    for p in pkts {
        let frac = if nanos { p.frac } else { p.frac / 1000 };
        f.extend_from_slice(&w32(p.secs));
        f.extend_from_slice(&w32(frac));
        f.extend_from_slice(&w32(p.data.len() as u32));
        f.extend_from_slice(&w32(p.data.len() as u32 + p.extra_wire));
        f.extend_from_slice(&p.data);
    }
    f
}

/// One pcapng block: type, total length, body padded to 4 bytes, length.
fn block(big: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&w32(kind));
    b.extend_from_slice(&w32(total));
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&w32(total));
    b
}

/// An option: code, length, value padded to 4 bytes.
fn option(big: bool, code: u16, value: &[u8]) -> Vec<u8> {
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut o = Vec::new();
    o.extend_from_slice(&w16(code));
    o.extend_from_slice(&w16(value.len() as u16));
    o.extend_from_slice(value);
    o.resize(4 + value.len().div_ceil(4) * 4, 0);
    o
}

#[derive(Clone, Debug)]
struct Iface {
    link: u32,
    snaplen: u32,
    /// None: the default (microseconds).
    tsresol: Option<u8>,
    tsoffset: Option<u32>,
}

fn iface() -> impl Strategy<Value = Iface> {
    (
        prop::sample::select(vec![1u32, 101, 113, 276, 228]),
        prop_oneof![Just(0u32), Just(262_144), 16u32..64],
        prop::option::of(prop::sample::select(vec![
            0u8,
            3,
            6,
            9,
            12,
            0x80 | 10,
            0x80 | 30,
        ])),
        prop::option::of(0u32..100_000),
    )
        .prop_map(|(link, snaplen, tsresol, tsoffset)| Iface {
            link,
            snaplen,
            tsresol,
            tsoffset,
        })
}

fn pcapng_file(sections: &[(bool, Vec<Iface>, Vec<Pkt>)]) -> Vec<u8> {
    let mut f = Vec::new();
    for (big, ifaces, pkts) in sections {
        let big = *big;
        let w16 = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w64 = |v: u64| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut shb = Vec::new();
        shb.extend_from_slice(&w32(0x1a2b_3c4d));
        shb.extend_from_slice(&w16(1));
        shb.extend_from_slice(&w16(0));
        shb.extend_from_slice(&w64(u64::MAX)); // section length unknown
        shb.extend_from_slice(&option(big, 4, b"synack oracle test")); // shb_userappl
        shb.extend_from_slice(&option(big, 0, &[]));
        f.extend_from_slice(&block(big, 0x0a0d_0d0a, &shb));
        for i in ifaces {
            let mut idb = Vec::new();
            idb.extend_from_slice(&w16(i.link as u16));
            idb.extend_from_slice(&w16(0));
            idb.extend_from_slice(&w32(i.snaplen));
            idb.extend_from_slice(&option(big, 2, b"eth0")); // if_name
            if let Some(r) = i.tsresol {
                idb.extend_from_slice(&option(big, 9, &[r]));
            }
            if let Some(o) = i.tsoffset {
                idb.extend_from_slice(&option(big, 14, &w64(u64::from(o))));
            }
            idb.extend_from_slice(&option(big, 0, &[]));
            f.extend_from_slice(&block(big, 1, &idb));
        }
        for (n, p) in pkts.iter().enumerate() {
            if ifaces.is_empty() {
                break;
            }
            if n % 7 == 3 {
                // A block without packets: a name resolution block.
                f.extend_from_slice(&block(big, 4, &[0; 4]));
            }
            let wire = p.data.len() as u32 + p.extra_wire;
            if p.simple {
                let mut spb = Vec::new();
                spb.extend_from_slice(&w32(p.data.len() as u32));
                spb.extend_from_slice(&p.data);
                f.extend_from_slice(&block(big, 3, &spb));
                continue;
            }
            let i = &ifaces[p.iface % ifaces.len()];
            // Units of the interface's resolution (wrapping past 2^64 at
            // the finest ones: any value is a timestamp).
            let units: u64 = match i.tsresol.unwrap_or(6) {
                r if r & 0x80 != 0 => {
                    (u64::from(p.secs) << (r & 0x7f)) + u64::from(p.frac % (1 << (r & 0x7f)))
                }
                r => {
                    let per_s = 10u64.pow(u32::from(r));
                    u64::from(p.secs)
                        .wrapping_mul(per_s)
                        .wrapping_add(u64::from(p.frac) % per_s)
                }
            };
            let mut epb = Vec::new();
            epb.extend_from_slice(&w32((p.iface % ifaces.len()) as u32));
            epb.extend_from_slice(&w32((units >> 32) as u32));
            epb.extend_from_slice(&w32(units as u32));
            epb.extend_from_slice(&w32(p.data.len() as u32));
            epb.extend_from_slice(&w32(wire));
            epb.extend_from_slice(&p.data);
            epb.resize(20 + p.data.len().div_ceil(4) * 4, 0);
            if n % 2 == 0 {
                epb.extend_from_slice(&option(big, 1, b"a comment"));
                epb.extend_from_slice(&option(big, 0, &[]));
            }
            f.extend_from_slice(&block(big, 6, &epb));
        }
    }
    f
}

fn section() -> impl Strategy<Value = (bool, Vec<Iface>, Vec<Pkt>)> {
    (
        any::<bool>(),
        proptest::collection::vec(iface(), 1..4),
        proptest::collection::vec(pkt(), 0..12),
    )
}

/// A capture file of either format.
fn capture() -> impl Strategy<Value = Vec<u8>> {
    let pcap = (
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![1u32, 101, 113, 0x1000_0001]),
        proptest::collection::vec(pkt(), 0..16),
    )
        .prop_map(|(big, nanos, link, pkts)| pcap_file(big, nanos, link, &pkts));
    let pcapng = proptest::collection::vec(section(), 1..3).prop_map(|s| pcapng_file(&s));
    prop_oneof![pcap, pcapng]
}

/// Damage: cut the file, or overwrite a few bytes.
#[derive(Clone, Debug)]
enum Damage {
    Cut(prop::sample::Index),
    Bytes(Vec<(prop::sample::Index, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Damage::Cut),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
            .prop_map(Damage::Bytes),
    ]
}

proptest! {
    // PROPTEST_CASES=100000 for a longer search.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(600)
    ))]

    #[test]
    fn whole_files_read_alike_to_the_end(file in capture()) {
        let (a, b) = (ours(&file), oracle(&file));
        prop_assert!(a.clean, "ours stopped: {:?} packets", a.packets.len());
        prop_assert!(b.clean, "pcap-parser stopped: {:?} packets", b.packets.len());
        prop_assert_eq!(a.packets.len(), b.packets.len());
        agree(&a, &b).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn damaged_files_agree_on_every_packet_both_return(file in capture(), hurt in damage()) {
        let mut file = file;
        match hurt {
            Damage::Cut(at) => file.truncate(at.index(file.len() + 1)),
            Damage::Bytes(changes) => {
                for (at, value) in changes {
                    let i = at.index(file.len());
                    file[i] = value;
                }
            }
        }
        let (a, b) = (ours(&file), oracle(&file));
        agree(&a, &b).map_err(TestCaseError::fail)?;
    }
}
