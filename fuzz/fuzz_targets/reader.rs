//! Capture bytes of any shape through the readers and the tracker: no
//! panic, no unbounded allocation, errors only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synack_capture::CaptureReader;
use synack_core::{Tracker, TrackerConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::new("fuzz".into(), data) else {
        return;
    };
    let mut tracker = Tracker::new(TrackerConfig {
        max_flows: 64,
        ..TrackerConfig::default()
    });
    let mut out = Vec::new();
    while let Ok(Some(p)) = reader.next_packet() {
        tracker.handle_frame(p.ts_ns, p.link, p.data, &mut out);
        out.clear();
    }
    tracker.finish(&mut out);
    for h in &out {
        let _ = h.elapsed_ns();
    }
});
