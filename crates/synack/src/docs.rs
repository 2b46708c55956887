//! `synack completions SHELL` and `synack man`: shell completions and the
//! manual page, generated from the same clap definition as `--help`, so
//! they cannot drift from the flags.

use crate::cli::Cli;
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;
use std::process::ExitCode;

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "synack", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The page of `synack` or of one of its commands (`synack-probe`).
pub fn man(command: Option<&str>) -> Result<ExitCode> {
    let top = Cli::command();
    let page = match command {
        None => top,
        Some(name) => {
            let Some(sub) = top.find_subcommand(name) else {
                let names: Vec<&str> = top.get_subcommands().map(|c| c.get_name()).collect();
                anyhow::bail!("no command `{name}`: one of {}", names.join(", "));
            };
            sub.clone()
                .display_name(format!("synack-{name}"))
                .bin_name(format!("synack {name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(page).render(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
