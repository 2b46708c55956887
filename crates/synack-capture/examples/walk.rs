//! Walks every packet of a capture and decodes it, without tracking: the
//! floor that `analyze` cannot beat.
//! `cargo run --release -p synack-capture --example walk FILE` (the reader
//! reads in 4 MiB chunks; a memory map was measured no faster).
use std::io::Read;
use synack_capture::CaptureReader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: walk FILE");
    walk(CaptureReader::open(std::path::Path::new(&path)).expect("a capture"));
}

fn walk<R: Read>(mut r: CaptureReader<R>) {
    let (mut n, mut syns) = (0u64, 0u64);
    let start = std::time::Instant::now();
    while let Ok(Some(p)) = r.next_packet() {
        n += 1;
        if let Ok(synack_wire::Decoded::Tcp(s)) = synack_wire::decode(p.link, p.data) {
            syns += u64::from(s.tcp.flags().syn());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = r.position() as f64;
    println!(
        "{n} packets, {syns} SYNs, {secs:.2} s, {:.0} MB/s",
        bytes / secs / 1e6
    );
}
