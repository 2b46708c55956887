pub mod pcap_oracle;
