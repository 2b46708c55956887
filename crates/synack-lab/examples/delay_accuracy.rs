//! Measures how exactly the lab injects delay: for each requested RTT, N
//! handshakes through the NFQUEUE delayer, and the kernel's own `tcpi_rtt`
//! of each. Needs root. `cargo run --release -p synack-lab --example
//! delay_accuracy -- [SAMPLES]`
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;
use synack_lab::{Impairment, Lab};

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    println!("requested_ms handshake_only samples p50_ms p90_ms p99_ms max_ms min_ms realtime");
    for handshake_only in [false, true] {
        for rtt_ms in [10u64, 50, 100, 300] {
            let mut lab = Lab::up().expect("lab (needs root)");
            let addr = SocketAddr::new(lab.server_addr(false), 8080);
            let listener = lab
                .server
                .run(move || TcpListener::bind(addr))
                .unwrap()
                .unwrap();
            // Accept in the background so the queue never fills.
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    drop(s)
                }
            });
            lab.impair(Impairment::Delay {
                rtt: Duration::from_millis(rtt_ms),
                jitter: Duration::ZERO,
                handshake_only,
                one_way: false,
            })
            .unwrap();
            let mut rtts: Vec<f64> = lab
                .client
                .run(move || {
                    (0..samples)
                        .map(|_| {
                            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                                .expect("connect");
                            synack_sys::tcp::tcp_info(&s).expect("tcp_info").rtt_us as f64 / 1000.0
                        })
                        .collect()
                })
                .unwrap();
            rtts.sort_by(f64::total_cmp);
            let q = |p: f64| rtts[((rtts.len() - 1) as f64 * p).round() as usize];
            println!(
                "{rtt_ms} {handshake_only} {} {:.3} {:.3} {:.3} {:.3} {:.3} {:?}",
                rtts.len(),
                q(0.5),
                q(0.9),
                q(0.99),
                rtts[rtts.len() - 1],
                rtts[0],
                lab.delayer_realtime()
            );
        }
    }
}
