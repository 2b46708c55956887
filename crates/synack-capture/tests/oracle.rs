//! Our pcap and pcapng readers against a second one, pcap-parser, on
//! generated files (both byte orders, both pcap resolutions, pcapng
//! sections with several interfaces, timestamp resolutions and offsets,
//! enhanced and simple packet blocks, blocks without packets) and on the
//! same files damaged: cut short or with bytes changed. Whole files must
//! read alike to the end; damaged ones must agree on every packet both
//! readers return (either may stop sooner; neither may misread).

mod support;

use proptest::prelude::*;
use support::files::{Ng, pcap_with_wire};
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
    let records: Vec<_> = pkts
        .iter()
        .map(|p| {
            let frac = if nanos { p.frac } else { p.frac / 1000 };
            (
                p.secs,
                frac,
                p.data.as_slice(),
                p.data.len() as u32 + p.extra_wire,
            )
        })
        .collect();
    pcap_with_wire(big, nanos, link, &records)
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
        let mut ng = Ng::new(*big);
        let shb_options = [ng.option(4, b"synack oracle test"), ng.option(0, &[])].concat();
        ng.shb_with(&shb_options);
        for i in ifaces {
            let mut options = ng.option(2, b"eth0"); // if_name
            if let Some(r) = i.tsresol {
                options.extend_from_slice(&ng.option(9, &[r]));
            }
            if let Some(o) = i.tsoffset {
                options.extend_from_slice(&ng.option(14, &ng.w64(u64::from(o))));
            }
            options.extend_from_slice(&ng.option(0, &[]));
            ng.idb_with(i.link as u16, i.snaplen, &options);
        }
        for (n, p) in pkts.iter().enumerate() {
            if ifaces.is_empty() {
                break;
            }
            if n % 7 == 3 {
                // A block without packets: a name resolution block.
                ng.block(4, &[0; 4]);
            }
            if p.simple {
                ng.spb(&p.data);
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
            let comment = if n % 2 == 0 {
                [ng.option(1, b"a comment"), ng.option(0, &[])].concat()
            } else {
                Vec::new()
            };
            let wire = p.data.len() as u32 + p.extra_wire;
            ng.epb_with(
                (p.iface % ifaces.len()) as u32,
                units,
                &p.data,
                wire,
                &comment,
            );
        }
        f.extend_from_slice(&ng.out);
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
