//! Capture bytes of any shape through the readers and the tracker: no
//! panic, no unbounded allocation, errors only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synack_capture::{CaptureReader, pipeline};
use synack_core::TrackerConfig;

// The same pipeline as `synack analyze` (inputs here are small, so keeping
// every record is bounded).
fuzz_target!(|data: &[u8]| {
    let Ok(reader) = CaptureReader::new("fuzz".into(), data) else {
        return;
    };
    let config = TrackerConfig {
        max_flows: 64,
        ..TrackerConfig::default()
    };
    let (records, _damage) = pipeline::read_records(reader, config);
    for h in &records {
        let _ = h.elapsed_ns();
    }
});
