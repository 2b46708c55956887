//! /proc/net/snmp and /proc/net/netstat text of any shape: the parser
//! keeps what matches, reports the rest, and never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut counters = synack_host::Counters::default();
    synack_host::counters::parse_into(&text, "fuzz", &mut counters);
    // Every value kept came from a name it was paired with.
    assert!(counters.values.keys().all(|k| k.contains('.')));
});
