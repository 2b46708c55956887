//! `synack-gen`: writes the bundled sample or a benchmark capture.
//!
//!   synack-gen sample samples/handshakes.pcapng
//!   synack-gen bench --bytes 1200000000 --seed 1 /tmp/bench.pcap

#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use synack_capture::{LinkType, PcapNgWriter, PcapWriter};

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
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let mut w = PcapWriter::new(
                BufWriter::with_capacity(1 << 20, file),
                LinkType::ETHERNET,
                262_144,
            )?;
            let mut err = None;
            let totals = synack_gen::stream::generate(seed, bytes, |t, f| {
                if err.is_none() {
                    err = w.write(t, f).err();
                }
            });
            if let Some(e) = err {
                return Err(e.into());
            }
            std::io::Write::flush(&mut w.into_inner())?;
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
    Ok(())
}
