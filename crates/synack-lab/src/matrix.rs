//! The fault matrix: a user's own client command run once per standard
//! handshake fault, each in a lab of its own, against a small HTTP server
//! in the lab (or a listener whose queue is full). For each fault: how long
//! the command ran, how it exited, its last stderr line, and from the
//! client's own capture which addresses it sent SYNs to and whether a
//! connection was made. The command finds the server in its environment:
//! `SYNACK_NAME` (a lab-only name, resolvable only inside the client
//! namespace, through /etc/netns/NS/hosts), `SYNACK_URL`, `SYNACK_PORT`,
//! and the lab's addresses (`SYNACK_SERVER`, ...).
//!
//! Bounded: every command is killed at the row's time limit; every server
//! read and write has a timeout; every lab, hosts file and capture is
//! removed when its row ends, also on error.

use crate::error::LabError;
use crate::{IcmpKind, Impairment, Lab, Side};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The lab-only name of the server (RFC 6761 reserves `.test`).
pub const NAME: &str = "server.synack.test";

/// One standard fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Baseline,
    SynBlackHole,
    FirstSynLost,
    FirstSynAckLost,
    Rst,
    IcmpHost,
    IcmpPort,
    IcmpAdmin,
    SynAckDelayed,
    AcceptQueueFull,
    /// The name resolves to a silent address, then the server (IPv4).
    DeadFirst,
    /// The name resolves to the server, then a silent address (IPv4).
    DeadSecond,
    DeadFirst6,
    DeadSecond6,
    /// AAAA silent, A working.
    AaaaBlackHole,
    /// Full-size segments towards the client vanish after the handshake.
    PmtuBlackHole,
}

impl Fault {
    pub const ALL: [Fault; 16] = [
        Fault::Baseline,
        Fault::SynBlackHole,
        Fault::FirstSynLost,
        Fault::FirstSynAckLost,
        Fault::Rst,
        Fault::IcmpHost,
        Fault::IcmpPort,
        Fault::IcmpAdmin,
        Fault::SynAckDelayed,
        Fault::AcceptQueueFull,
        Fault::DeadFirst,
        Fault::DeadSecond,
        Fault::DeadFirst6,
        Fault::DeadSecond6,
        Fault::AaaaBlackHole,
        Fault::PmtuBlackHole,
    ];

    /// The stable name (JSON `fault`, `--only`).
    pub fn code(self) -> &'static str {
        match self {
            Fault::Baseline => "baseline",
            Fault::SynBlackHole => "syn_black_hole",
            Fault::FirstSynLost => "first_syn_lost",
            Fault::FirstSynAckLost => "first_synack_lost",
            Fault::Rst => "rst",
            Fault::IcmpHost => "icmp_host",
            Fault::IcmpPort => "icmp_port",
            Fault::IcmpAdmin => "icmp_admin",
            Fault::SynAckDelayed => "synack_delayed_2s",
            Fault::AcceptQueueFull => "accept_queue_full",
            Fault::DeadFirst => "dead_first_v4",
            Fault::DeadSecond => "dead_second_v4",
            Fault::DeadFirst6 => "dead_first_v6",
            Fault::DeadSecond6 => "dead_second_v6",
            Fault::AaaaBlackHole => "aaaa_black_hole",
            Fault::PmtuBlackHole => "pmtu_black_hole",
        }
    }

    pub fn parse(s: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.code() == s)
    }

    /// In words, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Baseline => "no fault",
            Fault::SynBlackHole => "every SYN dropped, no answer",
            Fault::FirstSynLost => "the first SYN lost",
            Fault::FirstSynAckLost => "the first SYN-ACK lost",
            Fault::Rst => "the server answers RST",
            Fault::IcmpHost => "ICMP host unreachable",
            Fault::IcmpPort => "ICMP port unreachable",
            Fault::IcmpAdmin => "ICMP administratively prohibited",
            Fault::SynAckDelayed => "SYN-ACK arrives 2 s late",
            Fault::AcceptQueueFull => "the listener's accept queue is full",
            Fault::DeadFirst => "name: silent address first, then the server (A)",
            Fault::DeadSecond => "name: the server first, then a silent address (A)",
            Fault::DeadFirst6 => "name: silent address first, then the server (AAAA)",
            Fault::DeadSecond6 => "name: the server first, then a silent address (AAAA)",
            Fault::AaaaBlackHole => "name: AAAA silent, A works",
            Fault::PmtuBlackHole => "full-size segments lost after the handshake",
        }
    }

    /// Whether the fault passes: a retry, the next address or patience
    /// gets through, so a client that gives up has given up too soon.
    pub fn recoverable(self) -> bool {
        matches!(
            self,
            Fault::Baseline
                | Fault::FirstSynLost
                | Fault::FirstSynAckLost
                | Fault::SynAckDelayed
                | Fault::DeadFirst
                | Fault::DeadSecond
                | Fault::DeadFirst6
                | Fault::DeadSecond6
                | Fault::AaaaBlackHole
        )
    }

    fn impairments(self) -> Vec<Impairment> {
        match self {
            Fault::SynBlackHole => vec![Impairment::DropSynRandom { probability: 1.0 }],
            Fault::FirstSynLost => vec![Impairment::DropSyn { first: 1 }],
            Fault::FirstSynAckLost => vec![Impairment::DropSynAck { first: 1 }],
            Fault::Rst => vec![Impairment::RejectRst { port: None }],
            Fault::IcmpHost => vec![Impairment::RejectIcmp {
                kind: IcmpKind::Host,
                port: None,
            }],
            Fault::IcmpPort => vec![Impairment::RejectIcmp {
                kind: IcmpKind::Port,
                port: None,
            }],
            Fault::IcmpAdmin => vec![Impairment::RejectIcmp {
                kind: IcmpKind::Admin,
                port: None,
            }],
            Fault::SynAckDelayed => vec![Impairment::Delay {
                rtt: Duration::from_secs(2),
                jitter: Duration::ZERO,
                handshake_only: true,
                one_way: false,
            }],
            // IPv4 over Ethernet carries 1500-byte packets; 1280 and more
            // never reach the client.
            Fault::PmtuBlackHole => vec![Impairment::DropLarge { over: 1280 }],
            _ => Vec::new(),
        }
    }

    /// The addresses `SYNACK_NAME` resolves to, in the order a client
    /// gets them from the resolver (RFC 6724 sorts them: to put a dead
    /// address first, the name's live one is the server's alias, which
    /// shares a shorter prefix with the client; see
    /// [`Lab::add_server_alias`]).
    fn name_addresses(self, lab: &Lab, alias: (IpAddr, IpAddr)) -> Vec<IpAddr> {
        let (live4, live6) = (IpAddr::V4(lab.server_v4), IpAddr::V6(lab.server_v6));
        let (dead4, dead6) = (IpAddr::V4(lab.dead_v4), IpAddr::V6(lab.dead_v6));
        match self {
            Fault::DeadFirst => vec![dead4, alias.0],
            Fault::DeadSecond => vec![live4, dead4],
            Fault::DeadFirst6 => vec![dead6, alias.1],
            Fault::DeadSecond6 => vec![live6, dead6],
            Fault::AaaaBlackHole => vec![dead6, live4],
            _ => vec![live4],
        }
    }
}

/// How each row runs.
#[derive(Clone, Debug)]
pub struct RowConfig {
    /// The client command and its arguments.
    pub command: Vec<String>,
    /// The lab server's port.
    pub port: u16,
    /// The command is killed after this long.
    pub limit: Duration,
    /// Bytes in the server's answer (enough for full-size segments).
    pub body: usize,
    /// Set (by a signal): kill the command, start no more rows.
    pub stop: Option<&'static AtomicBool>,
    /// A shell command to serve `port` in the server namespace instead of
    /// the built-in HTTP server (a database, the user's own service).
    pub server: Option<String>,
}

impl RowConfig {
    fn stopped(&self) -> bool {
        self.stop.is_some_and(|s| s.load(Ordering::SeqCst))
    }
}

/// What one row saw.
#[derive(Clone, Debug)]
pub struct RowResult {
    pub fault: Fault,
    /// From starting the command to its exit (or to the kill).
    pub elapsed: Duration,
    /// The exit code; None when killed at the limit or by a signal.
    pub exit: Option<i32>,
    pub killed: bool,
    pub last_stderr: String,
    /// SYNs the client sent to the server port, per destination address,
    /// in the order first tried (from the client's capture).
    pub syns: Vec<(IpAddr, u32)>,
    /// A handshake to the server port completed.
    pub connected: bool,
}

/// Runs one row in a lab of its own.
pub fn run_row(fault: Fault, cfg: &RowConfig) -> Result<RowResult, LabError> {
    let (program, args) = cfg
        .command
        .split_first()
        .ok_or_else(|| LabError::Usage("no client command".into()))?;
    let mut lab = Lab::up()?;
    for imp in fault.impairments() {
        lab.impair(imp)?;
    }
    lab.black_hole_dead_hosts()?;
    let (alias4, alias6) = lab.add_server_alias()?;
    let alias = (IpAddr::V4(alias4), IpAddr::V6(alias6));
    let hosts = HostsFile::write(&lab.client.name, &fault.name_addresses(&lab, alias))?;
    let stop = Arc::new(AtomicBool::new(false));
    // The server, or a listener that never accepts with its queue filled.
    let mut env = lab.env();
    env.push(("SYNACK_NAME".into(), NAME.into()));
    env.push(("SYNACK_PORT".into(), cfg.port.to_string()));
    env.push(("SYNACK_URL".into(), format!("http://{NAME}:{}/", cfg.port)));
    let mut held = Vec::new();
    let mut theirs = None;
    let server = if fault == Fault::AcceptQueueFull {
        held = fill_accept_queue(&lab, cfg.port)?;
        None
    } else if let Some(cmd) = &cfg.server {
        theirs = Some(ServerCommand::start(&lab, cmd, &env, cfg.port)?);
        None
    } else {
        Some(serve(&lab, cfg.port, cfg.body, Arc::clone(&stop))?)
    };
    let pcap = std::env::temp_dir().join(format!("synack-matrix-{}.pcapng", lab.id));
    let capture = lab.capture(Side::Client, &pcap)?;
    let run = run_command(&lab, program, args, &env, cfg);
    let _ = capture.stop();
    stop.store(true, Ordering::SeqCst);
    if let Some(server) = server {
        let _ = server.join();
    }
    drop(held);
    drop(theirs);
    let (syns, connected) = client_syns(&pcap, cfg.port);
    let _ = std::fs::remove_file(&pcap);
    drop(hosts);
    lab.down()?;
    let (elapsed, exit, killed, last_stderr) = run?;
    Ok(RowResult {
        fault,
        elapsed,
        exit,
        killed,
        last_stderr,
        syns,
        connected,
    })
}

/// `/etc/netns/NS/hosts`, which `ip netns exec NS` mounts over
/// /etc/hosts: `NAME` resolves to the row's addresses in the client
/// namespace only. Removed on drop.
pub struct HostsFile {
    dir: PathBuf,
}

impl HostsFile {
    pub fn write(netns: &str, addrs: &[IpAddr]) -> Result<HostsFile, LabError> {
        let dir = PathBuf::from("/etc/netns").join(netns);
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(dir.display().to_string(), e))?;
        let file = HostsFile { dir };
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for a in addrs {
            text.push_str(&format!("{a} {NAME}\n"));
        }
        let path = file.dir.join("hosts");
        std::fs::write(&path, text).map_err(|e| LabError::io(path.display().to_string(), e))?;
        Ok(file)
    }
}

impl Drop for HostsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The user's server command in the server namespace, in a process group
/// of its own (killed whole on drop), started once something listens on
/// `port` there (30 s at most).
struct ServerCommand {
    child: std::process::Child,
}

impl ServerCommand {
    fn start(
        lab: &Lab,
        cmd: &str,
        env: &[(String, String)],
        port: u16,
    ) -> Result<ServerCommand, LabError> {
        use std::os::unix::process::CommandExt;
        let child = lab
            .server
            .command("sh")
            .args(["-c", cmd])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::io("starting the server command", e))?;
        let mut server = ServerCommand { child };
        let started = Instant::now();
        loop {
            let listening = lab
                .server
                .run(synack_host::procfs::tcp_sockets)?
                .map_err(|e| LabError::io("/proc/net/tcp", e))?
                .iter()
                .any(|s| s.state == synack_host::procfs::STATE_LISTEN && s.local_port == port);
            if listening {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(LabError::Usage(format!(
                    "the server command exited ({status}) before it listened on port {port}"
                )));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(LabError::Usage(format!(
                    "the server command did not listen on port {port} within 30 s"
                )));
            }
            // Bounded polling of the server's readiness (30 s at most).
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerCommand {
    fn drop(&mut self) {
        synack_sys::signal::kill_group(self.child.id());
        let _ = self.child.wait();
    }
}

/// A small HTTP server in the server namespace on `port` (IPv4 and IPv6):
/// reads a request head (8 KiB, 5 s at most) and answers 200 with `body`
/// bytes, one connection per thread, until `stop`.
fn serve(
    lab: &Lab,
    port: u16,
    body: usize,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, LabError> {
    let listener = lab.listen_any(port)?;
    listener
        .set_nonblocking(true)
        .map_err(|e| LabError::io("the lab server", e))?;
    Ok(std::thread::spawn(move || {
        use std::os::fd::AsFd;
        while !stop.load(Ordering::SeqCst) {
            // Wakes at least every 100 ms to see the stop flag.
            if !synack_sys::tcp::wait_readable(&[listener.as_fd()], Duration::from_millis(100))
                .unwrap_or(false)
            {
                continue;
            }
            if let Ok((stream, _)) = listener.accept() {
                std::thread::spawn(move || answer(stream, body));
            }
        }
    }))
}

fn answer(mut stream: TcpStream, body: usize) {
    let limit = Some(Duration::from_secs(5));
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(limit).is_err()
        || stream.set_write_timeout(limit).is_err()
    {
        return;
    }
    let mut head = Vec::new();
    let mut reader = BufReader::new((&stream).take(8192));
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => head.extend_from_slice(line.as_bytes()),
        }
    }
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.write_all(&vec![b'x'; body]);
}

/// A listener on `port` that never accepts, with a queue of one, and the
/// connections that fill it: the next SYN is dropped (RFC 9293 leaves it
/// to the implementation; Linux drops it while tcp_abort_on_overflow is 0).
fn fill_accept_queue(lab: &Lab, port: u16) -> Result<Vec<Box<dyn Send>>, LabError> {
    let listener = lab.listen_any(port)?;
    synack_sys::set_backlog(&listener, 0).map_err(|e| LabError::io("listen()", e))?;
    let mut held: Vec<Box<dyn Send>> = vec![Box::new(listener)];
    let server = SocketAddr::new(IpAddr::V4(lab.server_v4), port);
    // A backlog of 0 queues one connection; the second connect may already
    // find the queue full (its SYN dropped), so each gets a short timeout.
    for _ in 0..2 {
        let s = lab
            .client
            .run(move || TcpStream::connect_timeout(&server, Duration::from_millis(500)))?;
        if let Ok(stream) = s {
            held.push(Box::new(stream));
        }
    }
    Ok(held)
}

type Ran = (Duration, Option<i32>, bool, String);

/// Runs the command in the client namespace, kills it at `limit`, and
/// returns its time, exit code, whether it was killed, its last stderr line.
fn run_command(
    lab: &Lab,
    program: &str,
    args: &[String],
    env: &[(String, String)],
    cfg: &RowConfig,
) -> Result<Ran, LabError> {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    // Its own process group: at the limit, everything it started is
    // killed with it (a shell's children would keep the stderr pipe open).
    let mut child = lab
        .client
        .command(program)
        .process_group(0)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::io(format!("starting {program}"), e))?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut last = String::new();
        if let Some(e) = stderr {
            for line in BufReader::new(e).lines().map_while(Result::ok) {
                if !line.trim().is_empty() {
                    last = line.trim().to_string();
                }
            }
        }
        last
    });
    let mut killed = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| LabError::io(format!("waiting for {program}"), e))?
        {
            break status;
        }
        if started.elapsed() >= cfg.limit || cfg.stopped() {
            synack_sys::signal::kill_group(child.id());
            killed = true;
            break child
                .wait()
                .map_err(|e| LabError::io(format!("waiting for {program}"), e))?;
        }
        // Bounded polling of the child: its exit time is known to 5 ms.
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    // What the command started and left behind goes with the group too.
    synack_sys::signal::kill_group(child.id());
    let last = reader.join().unwrap_or_default();
    Ok((
        elapsed,
        if killed { None } else { status.code() },
        killed,
        last,
    ))
}

/// From the client's capture: SYNs to `port` per destination, in the
/// order first sent, and whether a handshake to it completed.
fn client_syns(pcap: &std::path::Path, port: u16) -> (Vec<(IpAddr, u32)>, bool) {
    let Ok(reader) = synack_capture::CaptureReader::open(pcap) else {
        return (Vec::new(), false);
    };
    let (mut records, _damage) =
        synack_capture::pipeline::read_records(reader, synack_core::TrackerConfig::default());
    records.sort_by_key(|h| h.ts_ns);
    let mut syns: Vec<(IpAddr, u32)> = Vec::new();
    let mut connected = false;
    for h in records.iter().filter(|h| h.server.port() == port) {
        connected |= h.outcome == synack_core::Outcome::Established;
        match syns.iter_mut().find(|(a, _)| *a == h.server.ip()) {
            Some((_, n)) => *n += h.syn_count,
            None => syns.push((h.server.ip(), h.syn_count)),
        }
    }
    (syns, connected)
}

/// Runs `faults` with up to `jobs` labs at once; results in `faults` order.
pub fn run_all(faults: &[Fault], cfg: &RowConfig, jobs: usize) -> Vec<Result<RowResult, LabError>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<RowResult, LabError>>>> =
        faults.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, faults.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&fault) = faults.get(i) else {
                        break;
                    };
                    if cfg.stopped() {
                        break;
                    }
                    let r = run_row(fault, cfg);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(LabError::Usage("the row did not run".into())))
        })
        .collect()
}
