//! Helpers of the readers' tests; each test file uses some of them.
#![allow(dead_code)]

pub mod files;
pub mod pcap_oracle;
