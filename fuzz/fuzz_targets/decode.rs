//! One frame of any bytes through the decoder and the tracker; the first
//! byte picks the link type.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synack_core::{Tracker, TrackerConfig};
use synack_wire::{LinkType, decode};

const LINKS: [u32; 10] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType(LINKS[usize::from(pick) % LINKS.len()]);
    if let Ok(synack_wire::Decoded::Tcp(seg)) = decode(link, frame) {
        let o = seg.tcp.options();
        let _ = (o.raw_option(34), o.unknown_kinds(), seg.tcp.payload().len());
    }
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut out = Vec::new();
    // Twice, so the second frame meets the flow the first one created.
    tracker.handle_frame(1, link, frame, &mut out);
    tracker.handle_frame(2, link, frame, &mut out);
    tracker.finish(&mut out);
});
