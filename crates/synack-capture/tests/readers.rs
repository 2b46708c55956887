//! The readers against files written byte by byte: both pcap byte orders
//! and resolutions, pcapng sections of either byte order with several
//! interfaces and timestamp resolutions, every packet block kind, and each
//! kind of damage reported with its packet number and offset.

mod support;

use support::files::{Ng, pcap};
use synack_capture::{CaptureError, CaptureReader, Format, LinkType, PcapNgWriter, PcapWriter};

/// (timestamp, link type, bytes, offset) of each packet read.
type Read = (i64, u32, Vec<u8>, u64);

fn read_all(bytes: &[u8]) -> (Vec<Read>, Option<CaptureError>) {
    let mut r = match CaptureReader::new("test".into(), bytes) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((p.ts_ns, p.link.0, p.data.to_vec(), p.offset)),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn pcap_both_byte_orders_and_resolutions() {
    for big in [false, true] {
        for nanos in [false, true] {
            let f = pcap(big, nanos, 1, &[(10, 5, b"abc"), (11, 7, b"defg")]);
            let (pkts, err) = read_all(&f);
            assert!(err.is_none(), "{err:?}");
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(pkts.len(), 2);
            assert_eq!(pkts[0].0, 10_000_000_000 + 5 * unit);
            assert_eq!(pkts[1].0, 11_000_000_000 + 7 * unit);
            assert_eq!(pkts[1].2, b"defg");
            assert_eq!(pkts[0].1, 1);
            assert_eq!((pkts[0].3, pkts[1].3), (24, 24 + 16 + 3));
        }
    }
}

#[test]
fn pcap_link_type_ignores_fcs_bits() {
    let f = pcap(false, false, 0x1400_0071, &[(1, 0, b"x")]);
    assert_eq!(read_all(&f).0[0].1, 113);
}

#[test]
fn pcapng_sections_interfaces_and_resolutions() {
    let mut f = Vec::new();
    // Section 1, little-endian: microsecond default and millisecond interfaces.
    let mut a = Ng::new(false);
    a.shb();
    a.idb(1, None);
    a.idb(101, Some(3));
    a.epb(0, 1_500_000, b"one");
    a.epb(1, 2_500, b"two");
    a.block(5, &[0; 8]); // an interface statistics block: skipped
    f.extend_from_slice(&a.out);
    // Section 2, big-endian: nanoseconds and a power-of-two resolution.
    let mut b = Ng::new(true);
    b.shb();
    b.idb(113, Some(9));
    b.idb(1, Some(0x80 | 10));
    b.epb(0, 3_000_000_007, b"three");
    b.epb(1, 4 * 1024 + 512, b"four");
    // A simple packet block uses interface 0 of its section.
    let mut spb = b.w32(4).to_vec();
    spb.extend_from_slice(b"five");
    b.block(3, &spb);
    // An obsolete packet block.
    let mut pb = b.w16(1).to_vec();
    pb.extend_from_slice(&b.w16(0));
    pb.extend_from_slice(&b.w32(0));
    pb.extend_from_slice(&b.w32(1024));
    pb.extend_from_slice(&b.w32(3));
    pb.extend_from_slice(&b.w32(3));
    pb.extend_from_slice(b"six");
    b.block(2, &pb);
    f.extend_from_slice(&b.out);

    let mut r = CaptureReader::new("ng".into(), &f[..]).unwrap();
    assert_eq!(r.format(), Format::PcapNg);
    let mut got = Vec::new();
    while let Some(p) = r.next_packet().unwrap() {
        got.push((p.ts_ns, p.link.0, p.data.to_vec()));
    }
    assert_eq!(r.stats().skipped_blocks, 1);
    assert_eq!(
        got,
        vec![
            (1_500_000_000, 1, b"one".to_vec()),
            (2_500_000_000, 101, b"two".to_vec()),
            (3_000_000_007, 113, b"three".to_vec()),
            (4_500_000_000, 1, b"four".to_vec()),
            (0, 113, b"five".to_vec()),
            (1_000_000_000, 1, b"six".to_vec()),
        ]
    );
    assert_eq!(r.stats().backwards_timestamps, 1);
}

#[test]
fn writers_round_trip() {
    let mut a = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
    a.write(1_700_000_000_123_456_789, b"hello").unwrap();
    let (p, e) = read_all(&a.into_inner());
    assert!(e.is_none());
    assert_eq!(p[0].0, 1_700_000_000_123_456_789);
    let mut b = PcapNgWriter::new(Vec::new(), LinkType::ETHERNET, 65535, "test").unwrap();
    b.write(1_700_000_000_123_456_789, b"hello!").unwrap();
    let (p, e) = read_all(&b.into_inner());
    assert!(e.is_none());
    assert_eq!(
        (p[0].0, p[0].2.as_slice()),
        (1_700_000_000_123_456_789, &b"hello!"[..])
    );
}

fn damage(e: Option<CaptureError>) -> (u64, u64, String) {
    match e {
        Some(CaptureError::Damaged {
            packet,
            offset,
            what,
            ..
        }) => (packet, offset, what),
        other => panic!("expected damage, got {other:?}"),
    }
}

#[test]
fn truncated_record_keeps_earlier_packets_and_names_the_place() {
    let f = pcap(false, false, 1, &[(1, 0, b"first"), (2, 0, b"second")]);
    let cut = &f[..f.len() - 3];
    let (pkts, err) = read_all(cut);
    assert_eq!(pkts.len(), 1);
    let (packet, offset, what) = damage(err);
    assert_eq!((packet, offset), (2, 24 + 16 + 5));
    assert!(what.contains("truncated record"), "{what}");
    // Cut inside the record header.
    let (pkts, err) = read_all(&f[..24 + 16 + 5 + 10]);
    assert_eq!(pkts.len(), 1);
    assert!(damage(err).2.contains("record header"));
}

#[test]
fn impossible_record_length_is_damage() {
    let mut f = pcap(false, false, 1, &[(1, 0, b"ok")]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&0x4000_0000u32.to_le_bytes());
    f.extend_from_slice(&0x4000_0000u32.to_le_bytes());
    let (pkts, err) = read_all(&f);
    assert_eq!(pkts.len(), 1);
    let what = damage(err).2;
    assert!(
        what.contains("more than the 262144 this file allows"),
        "{what}"
    );
}

#[test]
fn over_snaplen_records_are_counted_not_fatal() {
    let mut f = pcap(false, false, 1, &[(1, 0, &[7u8; 100])]);
    f[16..20].copy_from_slice(&50u32.to_le_bytes());
    let mut r = CaptureReader::new("t".into(), &f[..]).unwrap();
    assert!(r.next_packet().unwrap().is_some());
    assert_eq!(r.stats().over_snaplen, 1);
}

#[test]
fn bad_magic_empty_and_short_headers() {
    assert!(matches!(read_all(b"").1, Some(CaptureError::Empty { .. })));
    assert!(matches!(
        read_all(b"GET / HTTP/1.1\r\n").1,
        Some(CaptureError::BadMagic { .. })
    ));
    let f = pcap(false, false, 1, &[]);
    // A file cut inside its own header holds no packet: it is said so,
    // not reported as damage after "packet 0".
    let (p, e) = read_all(&f[..10]);
    assert!(p.is_empty());
    assert!(
        matches!(
            e,
            Some(CaptureError::CutHeader {
                got: 10,
                want: 24,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn pcapng_damage_cases() {
    let mut a = Ng::new(false);
    a.shb();
    a.idb(1, None);
    a.epb(0, 1, b"ok");
    a.epb(3, 2, b"bad interface");
    let (p, e) = read_all(&a.out);
    assert_eq!(p.len(), 1);
    assert!(damage(e).2.contains("interface 3"));

    let mut b = Ng::new(false);
    b.shb();
    b.idb(1, None);
    b.epb(0, 1, b"ok");
    let n = b.out.len();
    b.out[n - 4] ^= 0xff; // trailing length differs
    assert!(damage(read_all(&b.out).1).2.contains("trailing length"));

    let mut c = Ng::new(false);
    c.shb();
    c.idb(1, None);
    c.epb(0, 1, b"ok");
    let len = c.out.len();
    let (_, e) = read_all(&c.out[..len - 6]);
    assert!(damage(e).2.contains("truncated block"));
}

#[test]
fn directories_and_missing_files_are_clear_errors() {
    let dir = std::env::temp_dir();
    let e = CaptureReader::open(&dir)
        .err()
        .expect("a directory is not a capture");
    assert!(e.to_string().contains("directory"), "{e}");
    let e = CaptureReader::open(std::path::Path::new("/nonexistent/x.pcap"))
        .err()
        .expect("missing");
    assert!(e.to_string().contains("/nonexistent/x.pcap"), "{e}");
    assert!(!e.is_damage());
}

#[test]
fn records_larger_than_a_chunk_stream_through() {
    // A pcapng block bigger than the 4 MiB read chunk forces the buffer to grow.
    let mut a = Ng::new(false);
    a.shb();
    a.idb(1, None);
    let big = vec![0xabu8; 5 << 20];
    a.epb(0, 1, &big);
    a.epb(0, 2, b"after");
    let (p, e) = read_all(&a.out);
    assert!(e.is_none(), "{e:?}");
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].2.len(), 5 << 20);
    assert_eq!(p[1].2, b"after");
}

/// (timestamp, bytes) of each packet written.
type Written = Vec<(i64, Vec<u8>)>;

/// A function that compresses a whole file.
type Compressor = fn(&[u8]) -> Vec<u8>;

/// A pcap and a pcapng of a few thousand packets (more than a read chunk
/// once compressed), with their packets as written.
fn captures_to_compress() -> Vec<(Vec<u8>, Written)> {
    let packets: Written = (0..3000u32)
        .map(|i| {
            let data: Vec<u8> = (0..(60 + i % 200)).map(|b| (b ^ i) as u8).collect();
            (1_700_000_000_000_000_000 + i64::from(i) * 1_000_003, data)
        })
        .collect();
    let mut a = PcapWriter::new(Vec::new(), LinkType::ETHERNET, 65535).unwrap();
    let mut b = PcapNgWriter::new(Vec::new(), LinkType::ETHERNET, 65535, "test").unwrap();
    for (t, d) in &packets {
        a.write(*t, d).unwrap();
        b.write(*t, d).unwrap();
    }
    vec![(a.into_inner(), packets.clone()), (b.into_inner(), packets)]
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

fn lz4(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_zstd_and_lz4_captures_read_as_their_contents() {
    use synack_capture::Compression;
    let compressors: [(Compression, Compressor); 3] = [
        (Compression::Gzip, gzip),
        (Compression::Zstd, zstd),
        (Compression::Lz4, lz4),
    ];
    for (plain, written) in captures_to_compress() {
        for (kind, compress) in compressors {
            let packed = compress(&plain);
            assert_ne!(packed[..4], plain[..4]);
            let mut r = CaptureReader::new("c".into(), &packed[..]).unwrap();
            assert_eq!(r.compression(), kind);
            assert!(r.name().contains(kind.name()), "{}", r.name());
            let mut got = Vec::new();
            while let Some(p) = r.next_packet().unwrap() {
                got.push((p.ts_ns, p.data.to_vec()));
            }
            assert_eq!(got, written, "{kind:?}");
            // Progress counts the bytes of the file as stored.
            assert_eq!(r.position(), packed.len() as u64, "{kind:?}");
        }
    }
}

#[test]
fn a_cut_compressed_capture_keeps_what_came_before_the_cut() {
    let (plain, written) = captures_to_compress().remove(0);
    let packed = gzip(&plain);
    let cut = &packed[..packed.len() / 2];
    let (got, err) = read_all(cut);
    assert!(
        got.len() > 100 && got.len() < written.len(),
        "{}",
        got.len()
    );
    for (g, w) in got.iter().zip(&written) {
        assert_eq!((g.0, &g.2), (w.0, &w.1));
    }
    let err = err.expect("the cut is reported").to_string();
    assert!(err.contains("gzip-compressed"), "{err}");
}
