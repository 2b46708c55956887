//! `synack harden`: SYN-flood defences for one namespace, from its
//! measured state, printed as a diff against what is in place; `--apply`
//! installs them (one nftables transaction, then the sysctls) and records
//! what it changed under /run/synack; `--revert` deletes its table and
//! restores the recorded sysctls, leaving the ruleset as it was.

use crate::cli::{HardenArgs, HostFormat};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use synack_host::SnapshotOptions;
use synack_host::harden::{Rules, SysctlChange, TABLE, exposed_ports, sysctl_changes};

/// Where `--apply` records what it changed, per namespace (its inode).
fn state_file() -> Result<PathBuf> {
    let inode = std::fs::metadata("/proc/self/ns/net")
        .context("reading this namespace's identity (/proc/self/ns/net)")?
        .ino();
    Ok(PathBuf::from(format!("/run/synack/harden-net{inode}.json")))
}

/// Runs nft with `args`, `input` on its stdin: its stdout, or why not.
fn nft(args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (apt-get install nftables)")?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).with_context(|| format!("setting {key}={value} ({path})"))
}

pub fn run(a: &HardenArgs) -> Result<ExitCode> {
    crate::netns::enter(a.netns.netns.as_deref())?;
    let where_ = a
        .netns
        .netns
        .as_deref()
        .map_or("this namespace".to_string(), |n| format!("namespace {n}"));
    if a.revert {
        return revert(&where_);
    }
    let snap = crate::watch::take(SnapshotOptions::listeners_only())?;
    let ports = if a.ports.is_empty() {
        exposed_ports(&snap)
    } else {
        a.ports.clone()
    };
    if ports.is_empty() {
        bail!("no listener outside loopback in {where_}: name the ports to protect with --port");
    }
    let rules = Rules::recommended(ports.clone());
    let table = rules.table(TABLE);
    // The synproxy expression is in nftables since Linux 5.3: check the
    // table against this kernel without installing it.
    let nft_ok = match nft(&["-c", "-f", "-"], Some(&table)) {
        Ok(_) => true,
        Err(e) if e.to_string().contains("synproxy") => false,
        Err(e) => return Err(e.context("checking the ruleset with nft -c")),
    };
    let in_place = nft(&["list", "table", "inet", TABLE], None).ok();
    let changes = sysctl_changes(&snap, true);
    let iptables = (!nft_ok).then(|| rules.iptables());
    match a.format {
        HostFormat::Json => println!(
            "{}",
            json!({
                "netns": a.netns.netns,
                "ports": ports,
                "sysctls": changes.iter().map(|c| json!({"key": c.key, "now": c.now, "wanted": c.wanted, "why": c.why})).collect::<Vec<_>>(),
                "nftables": nft_ok.then_some(&table),
                "iptables": iptables,
                "table_in_place": in_place.is_some(),
                "applied": a.apply,
            })
        ),
        HostFormat::Table => print!(
            "{}",
            diff(
                &where_,
                &ports,
                &changes,
                nft_ok.then_some(&table),
                iptables.as_deref(),
                in_place.is_some(),
                a.apply
            )
        ),
    }
    if a.apply {
        apply(nft_ok.then_some(&table), iptables.as_deref(), &changes)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn diff(
    where_: &str,
    ports: &[u16],
    changes: &[SysctlChange],
    table: Option<&String>,
    iptables: Option<&[String]>,
    in_place: bool,
    applying: bool,
) -> String {
    use std::fmt::Write;
    let mut t = String::new();
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let _ = writeln!(t, "synack harden: {where_}, port(s) {}", list.join(", "));
    if changes.is_empty() {
        let _ = writeln!(t, "sysctls: all as recommended");
    } else {
        let _ = writeln!(t, "sysctls:");
        for c in changes {
            let _ = writeln!(
                t,
                "- {} = {}\n+ {} = {}    # {}",
                c.key,
                c.now.as_deref().unwrap_or("(unreadable)"),
                c.key,
                c.wanted,
                c.why
            );
        }
    }
    match (table, iptables) {
        (Some(table), _) => {
            let _ = writeln!(
                t,
                "nftables (table inet {TABLE}, {}):",
                if in_place {
                    "in place: --apply replaces it"
                } else {
                    "new"
                }
            );
            for line in table.lines() {
                let _ = writeln!(t, "+ {line}");
            }
        }
        (None, Some(lines)) => {
            let _ = writeln!(
                t,
                "nftables here has no synproxy expression: the iptables-nft form instead:"
            );
            for line in lines {
                let _ = writeln!(t, "+ iptables {line}");
            }
        }
        (None, None) => {}
    }
    if !applying {
        let _ = writeln!(
            t,
            "Nothing changed. --apply installs this in {where_} only; --revert then removes exactly what it added."
        );
    }
    t
}

fn apply(
    table: Option<&String>,
    iptables: Option<&[String]>,
    changes: &[SysctlChange],
) -> Result<()> {
    if !synack_sys::is_root() {
        bail!(
            "--apply changes the firewall and sysctls: it needs root (CAP_NET_ADMIN); run it with sudo"
        );
    }
    let state = state_file()?;
    if state.exists() {
        bail!(
            "already applied here ({} exists): run --revert first",
            state.display()
        );
    }
    // One transaction: the table appears whole or not at all.
    if let Some(table) = table {
        nft(&["-f", "-"], Some(table)).context("installing the table with nft -f")?;
    }
    let mut added = Vec::new();
    for line in iptables.unwrap_or_default() {
        let args: Vec<&str> = line.split_whitespace().collect();
        let status = Command::new("iptables").args(&args).status()?;
        if !status.success() {
            undo_iptables(&added);
            bail!("iptables {line} failed");
        }
        added.push(line.clone());
    }
    let mut restored: Vec<(String, String)> = Vec::new();
    for c in changes {
        if let Err(e) = write_sysctl(c.key, &c.wanted) {
            // Leave nothing half done.
            for (key, old) in &restored {
                let _ = write_sysctl(key, old);
            }
            if table.is_some() {
                let _ = nft(&["delete", "table", "inet", TABLE], None);
            }
            undo_iptables(&added);
            return Err(e);
        }
        if let Some(old) = &c.now {
            restored.push((c.key.to_string(), old.clone()));
        }
    }
    let record = json!({
        "table": table.is_some(),
        "iptables": added,
        "sysctls": restored,
    });
    std::fs::create_dir_all("/run/synack")?;
    std::fs::write(&state, record.to_string())
        .with_context(|| format!("recording what was applied ({})", state.display()))?;
    println!("applied; recorded in {}", state.display());
    Ok(())
}

/// Deletes iptables rules added by `apply` (`-A` becomes `-D`).
fn undo_iptables(lines: &[String]) {
    for line in lines.iter().rev() {
        let line = line.replacen("-A ", "-D ", 1);
        let args: Vec<&str> = line.split_whitespace().collect();
        let _ = Command::new("iptables").args(&args).status();
    }
}

fn revert(where_: &str) -> Result<ExitCode> {
    let state = state_file()?;
    let text = std::fs::read_to_string(&state).with_context(|| {
        format!(
            "nothing to revert in {where_}: no record of --apply ({})",
            state.display()
        )
    })?;
    let record: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not what --apply wrote", state.display()))?;
    if record["table"] == true {
        nft(&["delete", "table", "inet", TABLE], None)
            .with_context(|| format!("deleting table inet {TABLE}"))?;
    }
    let lines: Vec<String> = record["iptables"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    undo_iptables(&lines);
    for pair in record["sysctls"].as_array().into_iter().flatten() {
        if let (Some(key), Some(old)) = (pair[0].as_str(), pair[1].as_str()) {
            write_sysctl(key, old)?;
            println!("restored {key} = {old}");
        }
    }
    std::fs::remove_file(&state)?;
    println!("reverted {where_}: table inet {TABLE} removed, sysctls restored");
    Ok(ExitCode::SUCCESS)
}
