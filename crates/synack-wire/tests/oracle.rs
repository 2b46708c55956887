//! Property tests with etherparse as the oracle: frames it builds decode to
//! the same fields here, and arbitrary bytes never panic the decoder and
//! agree with etherparse wherever both decode a TCP header.

use etherparse::{PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice};
use proptest::prelude::*;
use std::net::IpAddr;
use synack_wire::{Decoded, LinkType, decode};

#[derive(Debug, Clone)]
struct Case {
    v6: bool,
    vlan: Option<u16>,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    window: u16,
    mss: Option<u16>,
    wscale: Option<u8>,
    sack: bool,
    ts: Option<(u32, u32)>,
    payload: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            proptest::option::of(1u16..4095),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
        ),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            proptest::option::of(any::<u32>()),
        ),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<u16>()),
        (
            proptest::option::of(any::<u16>()),
            proptest::option::of(0u8..15),
            any::<bool>(),
        ),
        (
            proptest::option::of(any::<(u32, u32)>()),
            proptest::collection::vec(any::<u8>(), 0..200),
        ),
    )
        .prop_map(
            |(
                (v6, vlan, src, dst),
                (sport, dport, seq, ack),
                (syn, fin, rst, window),
                (mss, wscale, sack),
                (ts, payload),
            )| Case {
                v6,
                vlan,
                src,
                dst,
                sport,
                dport,
                seq,
                ack,
                syn,
                fin,
                rst,
                window,
                mss,
                wscale,
                sack,
                ts,
                payload,
            },
        )
}

fn build(c: &Case) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut opts = Vec::new();
    if let Some(m) = c.mss {
        opts.push(TcpOptionElement::MaximumSegmentSize(m));
    }
    if c.sack {
        opts.push(TcpOptionElement::SelectiveAcknowledgementPermitted);
    }
    if let Some((a, b)) = c.ts {
        opts.push(TcpOptionElement::Timestamp(a, b));
    }
    if let Some(w) = c.wscale {
        opts.push(TcpOptionElement::Noop);
        opts.push(TcpOptionElement::WindowScale(w));
    }
    let mut out = Vec::new();
    macro_rules! finish {
        ($ip:expr) => {{
            let mut t = $ip.tcp(c.sport, c.dport, c.seq, c.window);
            if c.syn {
                t = t.syn();
            }
            if c.fin {
                t = t.fin();
            }
            if c.rst {
                t = t.rst();
            }
            if let Some(a) = c.ack {
                t = t.ack(a);
            }
            let t = t.options(&opts).expect("options fit");
            t.write(&mut out, &c.payload).expect("write");
        }};
    }
    match (c.v6, c.vlan) {
        (false, None) => {
            let s: [u8; 4] = c.src[..4].try_into().unwrap();
            let d: [u8; 4] = c.dst[..4].try_into().unwrap();
            finish!(eth.ipv4(s, d, 64))
        }
        (false, Some(v)) => {
            let s: [u8; 4] = c.src[..4].try_into().unwrap();
            let d: [u8; 4] = c.dst[..4].try_into().unwrap();
            finish!(
                eth.single_vlan(etherparse::VlanId::try_new(v).unwrap())
                    .ipv4(s, d, 64)
            )
        }
        (true, None) => finish!(eth.ipv6(c.src, c.dst, 64)),
        (true, Some(v)) => finish!(
            eth.single_vlan(etherparse::VlanId::try_new(v).unwrap())
                .ipv6(c.src, c.dst, 64)
        ),
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_built_by_etherparse_decode_identically(c in case()) {
        let frame = build(&c);
        let Ok(Decoded::Tcp(seg)) = decode(LinkType::ETHERNET, &frame) else {
            panic!("not decoded as TCP: {c:?}");
        };
        let (src, dst) = if c.v6 {
            (IpAddr::from(c.src), IpAddr::from(c.dst))
        } else {
            (IpAddr::from(<[u8; 4]>::try_from(&c.src[..4]).unwrap()), IpAddr::from(<[u8; 4]>::try_from(&c.dst[..4]).unwrap()))
        };
        prop_assert_eq!((seg.ip.src, seg.ip.dst), (src, dst));
        prop_assert_eq!(seg.vlan, u32::from(c.vlan.unwrap_or(0)));
        let t = seg.tcp;
        prop_assert_eq!((t.src_port(), t.dst_port(), t.seq(), t.window()), (c.sport, c.dport, c.seq, c.window));
        let f = t.flags();
        prop_assert_eq!((f.syn(), f.fin(), f.rst(), f.ack()), (c.syn, c.fin, c.rst, c.ack.is_some()));
        if let Some(a) = c.ack {
            prop_assert_eq!(t.ack(), a);
        }
        prop_assert_eq!(seg.payload_len as usize, c.payload.len());
        prop_assert_eq!(t.payload(), &c.payload[..]);
        let o = t.options();
        prop_assert_eq!((o.mss, o.wscale, o.sack_permitted, o.timestamps), (c.mss, c.wscale, c.sack, c.ts));
        prop_assert!(!o.malformed);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_agree_with_etherparse(
        bytes in proptest::collection::vec(any::<u8>(), 0..128),
        link in prop_oneof![Just(0u32), Just(1), Just(101), Just(108), Just(113), Just(228), Just(229), Just(276)],
    ) {
        let ours = decode(LinkType(link), &bytes);
        if link == 1
            && let Ok(Decoded::Tcp(seg)) = ours
            && let Ok(theirs) = SlicedPacket::from_ethernet(&bytes)
            && let Some(TransportSlice::Tcp(tcp)) = theirs.transport
        {
            prop_assert_eq!(seg.tcp.src_port(), tcp.source_port());
            prop_assert_eq!(seg.tcp.seq(), tcp.sequence_number());
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(c in case(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut frame = build(&c);
        for (at, v) in flips {
            let n = frame.len();
            frame[at % n] = v;
        }
        frame.truncate(cut % (frame.len() + 1));
        let _ = decode(LinkType::ETHERNET, &frame);
    }
}
