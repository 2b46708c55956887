//! `synack lab matrix`: the user's client command once per standard fault
//! (synack_lab::matrix runs the rows), a verdict per row against the
//! application's time budget, and a table or JSON records.

use crate::cli::{LabMatrixArgs, MatrixFormat};
use anyhow::{Result, bail};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use synack_lab::matrix::{Fault, RowConfig, RowResult, run_all};

/// What a row means for the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Succeeded within the budget.
    Ok,
    /// Failed on a fault that does not pass, within the budget.
    Failed,
    /// Took longer than the budget.
    OverBudget,
    /// Failed where a retry, the next address or patience gets through.
    GaveUpTooSoon,
    /// Still running at the limit.
    Killed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Failed => "failed",
            Verdict::OverBudget => "over budget",
            Verdict::GaveUpTooSoon => "gave up too soon",
            Verdict::Killed => "killed",
        }
    }

    fn is_problem(self) -> bool {
        matches!(
            self,
            Verdict::OverBudget | Verdict::GaveUpTooSoon | Verdict::Killed
        )
    }
}

pub fn verdict(r: &RowResult, budget: Option<Duration>) -> Verdict {
    if r.killed {
        return Verdict::Killed;
    }
    if budget.is_some_and(|b| r.elapsed > b) {
        return Verdict::OverBudget;
    }
    match (r.exit == Some(0), r.fault.recoverable()) {
        (true, _) => Verdict::Ok,
        (false, true) => Verdict::GaveUpTooSoon,
        (false, false) => Verdict::Failed,
    }
}

pub fn run(a: &LabMatrixArgs) -> Result<ExitCode> {
    if !synack_sys::is_root() {
        bail!(
            "synack lab matrix builds network namespaces and needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run it with sudo"
        );
    }
    let faults: Vec<Fault> = if a.only.is_empty() {
        Fault::ALL.to_vec()
    } else {
        a.only
            .iter()
            .map(|code| {
                Fault::parse(code.trim()).ok_or_else(|| {
                    let known: Vec<&str> = Fault::ALL.iter().map(|f| f.code()).collect();
                    anyhow::anyhow!("--only {code:?}: not a fault; one of {}", known.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    let stale = synack_lab::Lab::remove_stale();
    if !stale.is_empty() {
        eprintln!(
            "synack lab: removed {} namespace(s) left by killed runs",
            stale.len()
        );
    }
    let cfg = RowConfig {
        command: a.client.clone(),
        port: a.port,
        limit: a.limit,
        body: a.body,
        stop: Some(synack_sys::stop_on_signals()),
        server: a.server.clone(),
    };
    eprintln!(
        "synack lab matrix: {} faults, {} at a time, each command killed after {}",
        faults.len(),
        a.jobs,
        crate::output::human_ns(a.limit.as_nanos() as i64)
    );
    let results = run_all(&faults, &cfg, a.jobs as usize);
    let mut out = std::io::stdout().lock();
    let mut problems = false;
    let mut errors = 0;
    // The SYNs column is as wide as its widest cell.
    let syn_width = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| syns_text(&r.syns).chars().count())
        .max()
        .unwrap_or(0)
        .max("SYNs sent (to)".len());
    if a.format == MatrixFormat::Table {
        writeln!(
            out,
            "{:<19} {:>5} {:>9}  {:<syn_width$} {:<5} {:<17} last stderr line",
            "fault", "exit", "time", "SYNs sent (to)", "conn", "verdict"
        )?;
    }
    for (fault, r) in faults.iter().zip(&results) {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                errors += 1;
                eprintln!("synack lab matrix: {}: {e}", fault.code());
                continue;
            }
        };
        let v = verdict(r, a.expect_timeout);
        problems |= v.is_problem();
        match a.format {
            MatrixFormat::Table => writeln!(
                out,
                "{:<19} {:>5} {:>9}  {:<syn_width$} {:<5} {:<17} {}",
                fault.code(),
                r.exit.map_or("-".to_string(), |c| c.to_string()),
                format!("{:.3}s", r.elapsed.as_secs_f64()),
                syns_text(&r.syns),
                if r.connected { "yes" } else { "no" },
                v.as_str(),
                r.last_stderr
            )?,
            MatrixFormat::Json => writeln!(out, "{}", json(r, v))?,
        }
    }
    if a.format == MatrixFormat::Table {
        if let Some(b) = a.expect_timeout {
            writeln!(out, "budget: {:.3}s", b.as_secs_f64())?;
        }
        writeln!(
            out,
            "faults: {}",
            faults
                .iter()
                .map(|f| format!("{} = {}", f.code(), f.describe()))
                .collect::<Vec<_>>()
                .join("; ")
        )?;
    }
    if cfg
        .stop
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    {
        eprintln!("synack lab matrix: interrupted; every lab is torn down");
        return Ok(ExitCode::from(130));
    }
    if errors > 0 {
        bail!("{errors} row(s) could not run (above)");
    }
    Ok(if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn syns_text(syns: &[(std::net::IpAddr, u32)]) -> String {
    if syns.is_empty() {
        return "none".into();
    }
    syns.iter()
        .map(|(a, n)| format!("{n} → {a}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json(r: &RowResult, v: Verdict) -> String {
    let syns: Vec<serde_json::Value> = r
        .syns
        .iter()
        .map(|(a, n)| serde_json::json!({"address": a.to_string(), "syns": n}))
        .collect();
    serde_json::json!({
        "fault": r.fault.code(),
        "description": r.fault.describe(),
        "elapsed_ms": (r.elapsed.as_secs_f64() * 1e6).round() / 1e3,
        "exit": r.exit,
        "killed": r.killed,
        "last_stderr": r.last_stderr,
        "syns": syns,
        "connected": r.connected,
        "verdict": v.as_str(),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fault: Fault, exit: Option<i32>, secs: f64, killed: bool) -> RowResult {
        RowResult {
            fault,
            elapsed: Duration::from_secs_f64(secs),
            exit,
            killed,
            last_stderr: String::new(),
            syns: Vec::new(),
            connected: exit == Some(0),
        }
    }

    #[test]
    fn verdicts_weigh_the_fault_and_the_budget() {
        let budget = Some(Duration::from_secs(5));
        assert_eq!(
            verdict(&row(Fault::Baseline, Some(0), 0.1, false), budget),
            Verdict::Ok
        );
        assert_eq!(
            verdict(&row(Fault::SynBlackHole, Some(28), 3.0, false), budget),
            Verdict::Failed
        );
        assert_eq!(
            verdict(&row(Fault::SynBlackHole, Some(28), 130.0, false), budget),
            Verdict::OverBudget
        );
        assert_eq!(
            verdict(&row(Fault::FirstSynLost, Some(7), 0.5, false), budget),
            Verdict::GaveUpTooSoon
        );
        assert_eq!(
            verdict(&row(Fault::Rst, None, 180.0, true), None),
            Verdict::Killed
        );
    }
}
