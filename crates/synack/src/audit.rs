//! `synack audit`: the handshake sysctls and listeners of one namespace,
//! judged (rules in `synack_host::audit`), as a table or JSON.

use crate::cli::{AuditArgs, HostFormat};
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use synack_host::SnapshotOptions;
use synack_host::audit::{Level, audit};

pub fn run(args: &AuditArgs) -> Result<ExitCode> {
    crate::watch::enter(&args.netns)?;
    // The whole socket table too: ephemeral ports per destination.
    let snap = crate::watch::take(SnapshotOptions {
        states: true,
        ..SnapshotOptions::listeners_only()
    })?;
    let findings = audit(&snap);
    let mut out = std::io::stdout().lock();
    match args.format {
        HostFormat::Json => {
            let list: Vec<_> = findings
                .iter()
                .map(|f| {
                    json!({"level": f.level.as_str(), "subject": f.subject, "value": f.value,
                           "reason": f.reason, "fix": (!f.fix.is_empty()).then_some(&f.fix)})
                })
                .collect();
            writeln!(
                out,
                "{:#}",
                json!({"findings": list, "problems": snap.problems})
            )?;
        }
        HostFormat::Table => {
            for f in &findings {
                writeln!(
                    out,
                    "{:<8} {} = {}\n         {}",
                    f.level.as_str(),
                    f.subject,
                    f.value,
                    f.reason
                )?;
                if !f.fix.is_empty() {
                    writeln!(out, "         fix: {}", f.fix)?;
                }
            }
            for p in &snap.problems {
                writeln!(out, "could not read: {p}")?;
            }
        }
    }
    // Exit 1 when something needs fixing, for scripts.
    Ok(if findings.iter().any(|f| f.level >= Level::Warning) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
