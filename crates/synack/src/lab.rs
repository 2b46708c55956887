//! `synack lab`: builds a lab from the flags, runs the user's server and
//! client commands inside it with the addresses in their environment,
//! streams their output, and tears everything down, also on Ctrl-C.

use crate::cli::{ImpairArgs, LabAction, LabArgs, LabRunArgs};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use synack_host::names::sysctl;
use synack_lab::{IcmpKind, Impairment, Lab, Side};

/// Every impairment flag with its help, from the flag definitions
/// themselves (the `ImpairArgs` group), so the list cannot miss one.
fn impairment_flags() -> Vec<(String, String)> {
    use clap::CommandFactory;
    let cli = crate::cli::Cli::command();
    let Some(run) = cli
        .find_subcommand("lab")
        .and_then(|lab| lab.find_subcommand("run"))
    else {
        return Vec::new();
    };
    let Some(group) = run.get_groups().find(|g| g.get_id() == "ImpairArgs") else {
        return Vec::new();
    };
    let ids: Vec<&clap::Id> = group.get_args().collect();
    run.get_arguments()
        .filter(|a| ids.contains(&a.get_id()))
        .filter_map(|a| {
            let long = a.get_long()?;
            let value = a
                .get_value_names()
                .and_then(|v| v.first())
                .filter(|_| a.get_action().takes_values())
                .map_or(String::new(), |v| format!(" {v}"));
            let help = a.get_help().map_or(String::new(), |h| h.to_string());
            Some((format!("--{long}{value}"), help))
        })
        .collect()
}

/// How often the waits below look at their condition.
const POLL: Duration = Duration::from_millis(10);

pub fn run(args: &LabArgs) -> Result<ExitCode> {
    if args.list {
        for (flag, what) in impairment_flags() {
            println!("{flag:<28} {what}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    match &args.action {
        None => bail!("say what to do: synack lab run|up|down|status, or synack lab --list"),
        Some(LabAction::Run(r)) => run_commands(r),
        Some(LabAction::Up(u)) => up(&u.impair),
        Some(LabAction::Matrix(m)) => crate::matrix::run(m),
        Some(LabAction::Drill(d)) => crate::drill::run(d),
        Some(LabAction::Down { id, all }) => {
            if !synack_sys::is_root() {
                bail!(
                    "synack lab down removes network namespaces and needs root: run it with sudo"
                );
            }
            let removed = match (id, *all) {
                (Some(id), _) => {
                    let removed = Lab::remove(id);
                    if removed.is_empty() {
                        bail!("no lab `{id}`: `synack lab status` lists them");
                    }
                    removed
                }
                (None, true) => Lab::remove_all(),
                (None, false) => Lab::remove_stale(),
            };
            println!(
                "removed {} namespace(s){}",
                removed.len(),
                if removed.is_empty() {
                    String::new()
                } else {
                    format!(": {}", removed.join(" "))
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(LabAction::Reap { owner, id }) => {
            synack_lab::reaper::reap(*owner, id);
            Ok(ExitCode::SUCCESS)
        }
        Some(LabAction::Status) => {
            let labs = Lab::existing();
            if labs.is_empty() {
                println!("no labs");
            }
            for n in labs {
                let owner = if Lab::owner_alive(&n) {
                    "running"
                } else {
                    "owner gone: `synack lab down` removes it"
                };
                println!("{n}  lab {}  {owner}", Lab::id_of(&n).unwrap_or("?"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn impairments(a: &ImpairArgs) -> Result<Vec<Impairment>> {
    if a.port.is_some() && !a.reject_rst && a.reject_icmp.is_none() {
        bail!("--port limits --reject-rst or --reject-icmp: give one of them, or leave --port out");
    }
    let mut v = Vec::new();
    if let Some(rtt) = a.delay {
        v.push(Impairment::Delay {
            rtt,
            jitter: a.jitter.unwrap_or_default(),
            handshake_only: a.handshake_only,
            one_way: a.one_way,
        });
    }
    if let Some(first) = a.drop_syn {
        v.push(Impairment::DropSyn { first });
    }
    if let Some(first) = a.drop_synack {
        v.push(Impairment::DropSynAck { first });
    }
    if let Some(probability) = a.drop_syn_rate {
        v.push(Impairment::DropSynRandom { probability });
    }
    if let Some(probability) = a.drop_synack_rate {
        v.push(Impairment::DropSynAckRandom { probability });
    }
    if a.drop_syn_data {
        v.push(Impairment::DropSynData);
    }
    if a.reject_rst {
        v.push(Impairment::RejectRst { port: a.port });
    }
    if let Some(over) = a.drop_large {
        v.push(Impairment::DropLarge { over });
    }
    if let Some(name) = a.reject_icmp.as_deref() {
        let Some(kind) = IcmpKind::parse(name) else {
            bail!("--reject-icmp {name:?}: one of host, net, port, admin");
        };
        v.push(Impairment::RejectIcmp { kind, port: a.port });
    }
    Ok(v)
}

/// What a built lab holds for the length of a run.
struct Running {
    lab: Lab,
    capture: Option<synack_lab::Capture>,
    _stuck: Option<std::net::TcpListener>,
}

impl Running {
    fn down(self) -> Result<()> {
        if let Some(c) = self.capture {
            let frames = c.stop()?;
            eprintln!("synack lab: captured {frames} frames");
        }
        drop(self._stuck);
        self.lab.down()?;
        Ok(())
    }
}

/// The lab plus what the flags ask to run inside it before the client.
fn start(a: &ImpairArgs) -> Result<Running> {
    let lab = build(a)?;
    let capture = match &a.capture {
        Some(path) => {
            let side = if a.capture_client {
                Side::Client
            } else {
                Side::Server
            };
            Some(
                lab.capture(side, path)
                    .with_context(|| format!("capturing to {}", path.display()))?,
            )
        }
        None => None,
    };
    let stuck = match a.stuck_listener {
        Some(port) => {
            let addr = std::net::SocketAddr::new(std::net::IpAddr::from([0, 0, 0, 0]), port);
            let l = lab
                .server
                .run(move || std::net::TcpListener::bind(addr))?
                .context("binding --stuck-listener")?;
            synack_sys::set_backlog(&l, a.backlog)?;
            eprintln!(
                "synack lab: port {port} listens with backlog {} and never accepts",
                a.backlog
            );
            Some(l)
        }
        None => None,
    };
    Ok(Running {
        lab,
        capture,
        _stuck: stuck,
    })
}

fn flood(r: &Running, a: &ImpairArgs) -> Result<()> {
    if let Some(n) = a.flood {
        let sent = r.lab.syn_flood(a.flood_port, n, a.flood6)?;
        let from = if a.flood6 {
            r.lab.flood_v6.to_string()
        } else {
            r.lab.flood_v4.to_string()
        };
        eprintln!(
            "synack lab: sent {sent} spoofed SYNs from {from} to port {}",
            a.flood_port
        );
    }
    Ok(())
}

fn build(a: &ImpairArgs) -> Result<Lab> {
    let stale = Lab::remove_stale();
    if !stale.is_empty() {
        eprintln!(
            "synack lab: removed {} namespace(s) left by killed runs",
            stale.len()
        );
    }
    let mut lab = Lab::up()?;
    let sysctls = [
        (Side::Client, sysctl::TCP_SYN_RETRIES, a.syn_retries),
        (Side::Server, sysctl::TCP_SYNACK_RETRIES, a.synack_retries),
        (Side::Server, sysctl::TCP_SYNCOOKIES, a.syncookies),
        (Side::Server, sysctl::SOMAXCONN, a.somaxconn),
    ];
    for (side, key, value) in sysctls {
        if let Some(v) = value {
            lab.sysctl(side, key, &v.to_string())?;
        }
    }
    for (server, key, value) in &a.sysctl {
        lab.sysctl(
            if *server { Side::Server } else { Side::Client },
            key,
            value,
        )?;
    }
    for imp in impairments(a)? {
        lab.impair(imp.clone())
            .with_context(|| format!("applying {imp:?}"))?;
    }
    if lab.delayer_realtime() == Some(false) {
        eprintln!(
            "synack lab: the delayer runs without real-time priority (no CAP_SYS_NICE): expect delay tails under load"
        );
    }
    eprintln!(
        "synack lab {}: server {} / {} in {}, client {} / {} in {}, through the router {}",
        lab.id,
        lab.server_v4,
        lab.server_v6,
        lab.server.name,
        lab.client_v4,
        lab.client_v6,
        lab.client.name,
        lab.router.name
    );
    Ok(lab)
}

/// Streams a child's output line by line with a prefix.
fn relay(
    stream: impl std::io::Read + Send + 'static,
    prefix: &'static str,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{prefix}{line}");
        }
    })
}

/// Any TCP listener in the server namespace (from its /proc/net/tcp{,6}).
fn listening(lab: &Lab) -> bool {
    lab.server
        .run(synack_host::procfs::tcp_sockets)
        .ok()
        .and_then(Result::ok)
        .is_some_and(|sockets| {
            sockets
                .iter()
                .any(|s| s.state == synack_host::procfs::STATE_LISTEN)
        })
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn run_commands(r: &LabRunArgs) -> Result<ExitCode> {
    let stop_flag: &AtomicBool = synack_sys::stop_on_signals();
    let running = start(&r.impair)?;
    let lab = &running.lab;
    let mut reaper = synack_lab::reaper::start(lab, &std::env::current_exe()?)
        .context("starting the lab's reaper")?;
    let env = lab.env();
    for (k, v) in &env {
        eprintln!("  {k}={v}");
    }
    let mut relays = Vec::new();
    let interrupted = || stop_flag.load(Ordering::SeqCst);
    // A signal during the lab's setup is kept by the flag and honoured here:
    // nothing more starts, and the lab is torn down below.
    let mut server = None;
    if let Some(cmd) = r.server.as_ref().filter(|_| !interrupted()) {
        let mut child = lab
            .server
            .command("sh")
            .args(["-c", cmd])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the server command")?;
        if let Some(o) = child.stdout.take() {
            relays.push(relay(o, "server| "));
        }
        if let Some(e) = child.stderr.take() {
            relays.push(relay(e, "server| "));
        }
        let started = Instant::now();
        while !listening(lab) && !interrupted() {
            if let Some(status) = child.try_wait()? {
                bail!("the server command exited ({status}) before it listened");
            }
            if started.elapsed() > r.ready_timeout {
                stop(&mut child);
                bail!(
                    "the server command did not listen within {:?}",
                    r.ready_timeout
                );
            }
            std::thread::sleep(POLL);
        }
        server = Some(child);
    }
    if !interrupted() {
        flood(&running, &r.impair)?;
    }
    let status = if interrupted() {
        None
    } else {
        let (program, rest) = r
            .client
            .split_first()
            .context("no client command after --")?;
        let mut client = lab
            .client
            .command(program)
            .args(rest)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .spawn()
            .with_context(|| format!("starting the client command {program}"))?;
        loop {
            if let Some(status) = client.try_wait()? {
                break Some(status);
            }
            if interrupted() {
                stop(&mut client);
                break None;
            }
            std::thread::sleep(POLL);
        }
    };
    if let Some(s) = server.as_mut() {
        stop(s);
    }
    running.down()?;
    // The lab is gone: the reaper has nothing left to do.
    stop(&mut reaper);
    let _ = reaper.wait();
    for r in relays {
        let _ = r.join();
    }
    Ok(match status {
        Some(s) if s.success() => ExitCode::SUCCESS,
        // Killed by a signal: 128 + the signal, as shells report it.
        Some(s) => ExitCode::from(
            s.code()
                .or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    s.signal().map(|sig| 128 + sig)
                })
                .unwrap_or(1)
                .clamp(1, 255) as u8,
        ),
        None => {
            eprintln!("synack lab: interrupted; the lab is torn down");
            ExitCode::from(130)
        }
    })
}

fn up(a: &ImpairArgs) -> Result<ExitCode> {
    let stop_flag = synack_sys::stop_on_signals();
    let running = start(a)?;
    flood(&running, a)?;
    let lab = &running.lab;
    // A reader that stops early (`synack lab up | head -3`) must not end
    // the lab's owner: a closed stdout only ends the exports.
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        for (k, v) in lab.env() {
            if writeln!(stdout, "export {k}={v}").is_err() {
                break;
            }
        }
        let _ = stdout.flush();
    }
    eprintln!(
        "synack lab: up; run commands with `ip netns exec {} ...` (client) or `ip netns exec {} ...` (server); Ctrl-C or `synack lab down {}` ends it",
        lab.client.name,
        lab.server.name,
        synack_lab::Lab::id_of(&lab.client.name).unwrap_or("")
    );
    let names = [lab.client.name.clone(), lab.server.name.clone()];
    while !stop_flag.load(Ordering::SeqCst) && names.iter().all(|n| Lab::existing().contains(n)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    running.down()?;
    Ok(ExitCode::SUCCESS)
}
