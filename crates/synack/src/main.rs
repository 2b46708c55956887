//! The `synack` command: argument parsing and dispatch. The work happens in
//! the library crates; rendering lives in `output/`.

#![forbid(unsafe_code)]

mod analyze;
mod annotate;
mod audit;
mod capture;
mod cli;
mod dashboard;
mod docs;
mod doctor;
mod drill;
mod export;
mod harden;
mod inputs;
mod lab;
mod ladder;
mod matrix;
mod netns;
mod probe;
mod trace;
mod watch;

use clap::Parser;
use std::process::ExitCode;
/// Every printer lives in the render crate.
use synack_render as output;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Analyze(args) => match &args.flow {
            Some(selector) => ladder::run(&args, selector),
            None => analyze::run(&args),
        },
        cli::Command::Report(r) => analyze::run(&cli::AnalyzeArgs {
            files: r.files,
            format: cli::Format::Summary,
            filter: r.filter,
            flow: None,
            output: None,
            max_flows: None,
            verify_checksums: false,
            no_progress: r.no_progress,
            annotate: None,
            report: Some(r.output),
            report_only: true,
        }),
        cli::Command::Lab(args) => lab::run(&args),
        cli::Command::Probe(args) => probe::run(&args),
        cli::Command::Capture(args) => capture::run(&args),
        cli::Command::Watch(args) => watch::run(&args),
        cli::Command::Audit(args) => audit::run(&args),
        cli::Command::Harden(args) => harden::run(&args),
        cli::Command::Doctor(args) => doctor::run(&args),
        cli::Command::Export(args) => export::run(&args),
        cli::Command::Trace(args) => trace::run(&args),
        cli::Command::Completions(args) => docs::completions(args.shell),
        cli::Command::Man(args) => docs::man(args.command.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`synack ... | head`) is not an error.
            if err.chain().any(|e| {
                e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("synack: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
