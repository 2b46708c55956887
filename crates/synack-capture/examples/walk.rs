//! Walks every packet of a capture and decodes it, without tracking: the
//! floor that `analyze` cannot beat. `cargo run --release --example walk FILE`
use synack_capture::CaptureReader;

fn main() {
    let path = std::env::args().nth(1).expect("usage: walk FILE");
    let mut r = CaptureReader::open(std::path::Path::new(&path)).expect("open");
    let (mut n, mut tcp) = (0u64, 0u64);
    let start = std::time::Instant::now();
    while let Ok(Some(p)) = r.next_packet() {
        n += 1;
        if let Ok(synack_wire::Decoded::Tcp(s)) = synack_wire::decode(p.link, p.data) {
            tcp += u64::from(s.tcp.flags().syn());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = r.position() as f64;
    println!(
        "{n} packets, {tcp} SYNs, {:.2} s, {:.0} MB/s",
        secs,
        bytes / secs / 1e6
    );
}
