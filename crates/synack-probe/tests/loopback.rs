//! Probes on loopback, which needs no privileges: causes and resources.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use synack_probe::{AttemptConfig, Cause, attempt};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn no_descriptor_leaks_after_100k_attempts() {
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open: SocketAddr = listener.local_addr().unwrap();
    // A port nobody listens on: bind, note it, close.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cfg = AttemptConfig {
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let before = open_fds();
    let (mut established, mut refused) = (0u32, 0u32);
    for i in 0..100_000u32 {
        // Mostly refused (no accept queue to drain); every 100th established
        // and accepted, so the accept queue never fills.
        if i % 100 == 0 {
            let r = attempt(open, &cfg, &mut poll, &mut events);
            assert_eq!(r.cause, Cause::Established, "attempt {i}");
            drop(listener.accept().unwrap());
            established += 1;
        } else {
            let r = attempt(closed, &cfg, &mut poll, &mut events);
            assert_eq!(r.cause, Cause::Refused, "attempt {i}");
            refused += 1;
        }
    }
    assert_eq!((established, refused), (1_000, 99_000));
    assert_eq!(open_fds(), before, "descriptors leaked");
}
