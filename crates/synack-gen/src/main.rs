//! `synack-gen`: writes the bundled sample or a benchmark capture.
//!
//!   synack-gen sample samples/handshakes.pcapng
//!   synack-gen bench --bytes 1200000000 --seed 1 /tmp/bench.pcap
//!   synack-gen flood --flows 2000000 [--established] /tmp/flood.pcap

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use synack_capture::{LinkType, PcapNgWriter, PcapWriter};
use synack_gen::flood::FloodKind;

#[derive(Parser)]
#[command(about = "Deterministic handshake captures for synack's sample and benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the bundled sample (pcapng): every outcome class
    Sample { out: PathBuf },
    /// Write a large mixed capture (pcap, ns timestamps)
    Bench {
        out: PathBuf,
        /// Stop after about this many bytes
        #[arg(long, default_value_t = 1_200_000_000)]
        bytes: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Write many flows that stay open (pcap): a spoofed SYN flood, or
    /// handshakes that complete and are never closed
    Flood {
        out: PathBuf,
        /// How many flows
        #[arg(long, default_value_t = 2_000_000)]
        flows: u64,
        /// New flows a second of capture time
        #[arg(long, default_value_t = 200_000)]
        rate: u64,
        /// Complete each handshake (SYN, SYN-ACK, ACK) instead of a lone SYN
        #[arg(long)]
        established: bool,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Sample { out } => {
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut w = PcapNgWriter::new(
                BufWriter::new(file),
                LinkType::ETHERNET,
                262_144,
                "synack-gen sample",
            )?;
            for (t, f) in synack_gen::scenario::sample_packets() {
                w.write(t, &f)?;
            }
            std::io::Write::flush(&mut w.into_inner())?;
        }
        Cmd::Bench { out, bytes, seed } => {
            let mut totals = None;
            write_pcap(&out, |write| {
                totals = Some(synack_gen::stream::generate(seed, bytes, write));
            })?;
            if let Some(totals) = totals {
                eprintln!(
                    "{}: {} packets, {} bytes, {} attempts {:?}",
                    out.display(),
                    totals.packets,
                    totals.bytes,
                    totals.attempts,
                    totals.by_outcome
                );
            }
        }
        Cmd::Flood {
            out,
            flows,
            rate,
            established,
            seed,
        } => {
            let kind = if established {
                FloodKind::Established
            } else {
                FloodKind::Syn
            };
            write_pcap(&out, |write| {
                synack_gen::flood::generate(seed, flows, rate, kind, write);
            })?;
        }
    }
    Ok(())
}

/// Writes the packets `fill` gives into a new pcap file (Ethernet, ns
/// timestamps); the first write error ends it.
fn write_pcap(out: &Path, fill: impl FnOnce(&mut dyn FnMut(i64, &[u8]))) -> Result<()> {
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = PcapWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        LinkType::ETHERNET,
        262_144,
    )?;
    let mut err = None;
    fill(&mut |t, f| {
        if err.is_none() {
            err = w.write(t, f).err();
        }
    });
    if let Some(e) = err {
        return Err(e).with_context(|| format!("writing {}", out.display()));
    }
    std::io::Write::flush(&mut w.into_inner())?;
    Ok(())
}
