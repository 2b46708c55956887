//! Any bytes through our capture reader and through pcap-parser: every
//! packet both return must be the same packet (time, link type, bytes,
//! wire length). Seeds: fuzz/corpus/reader_oracle (pcap and pcapng of
//! both byte orders).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/synack-capture/tests/support/pcap_oracle.rs"]
mod pcap_oracle;

fuzz_target!(|data: &[u8]| {
    let (ours, theirs) = (pcap_oracle::ours(data), pcap_oracle::oracle(data));
    if let Err(difference) = pcap_oracle::agree(&ours, &theirs) {
        panic!("the readers disagree: {difference}");
    }
});
