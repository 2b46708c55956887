//! `synack export` against hostile clients: every request bounded in size,
//! time and number before any work is done for it, and no DNS query or
//! probe for a client that no `--allow` pattern admits. Regression tests
//! for the exporter items of the hardening issue, each named after what
//! broke. Most run as any user on loopback; the DNS test needs root (a lab
//! namespace with a resolver of its own) and skips elsewhere, saying why.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest any answer or close may take in these tests: a safety bound
/// on reads, not a measurement.
const BOUND: Duration = Duration::from_secs(20);

/// A running exporter, stopped (SIGTERM) and reaped on drop.
struct Exporter {
    child: Child,
    addr: SocketAddr,
}

impl Exporter {
    /// `synack export --listen 127.0.0.1:0 ARGS`, run through `prefix`
    /// (`ip netns exec NS` for the DNS test); waits for the line that
    /// names the bound port.
    fn start(prefix: &[&str], args: &[&str]) -> Exporter {
        let bin = env!("CARGO_BIN_EXE_synack");
        let mut command = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .args(["export", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start synack export");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Exporter { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        s
    }

    /// Sends `request` as it is and reads the answer until the server
    /// closes: (status, whole text). Status 0 when closed without one.
    fn exchange(&self, request: &[u8]) -> (u16, String) {
        exchange(self.addr, request)
    }

    fn get(&self, path: &str) -> (u16, String) {
        get(self.addr, path)
    }

    /// A line of /proc/PID/status, as a number.
    fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {status}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        synack_sys::kill(self.child.id() as i32, synack_sys::signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// `request` to `addr`, from the calling thread's namespace.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s.write_all(request).unwrap();
    read_answer(&mut s)
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// A GET from inside network namespace `netns` (on a thread of its own).
fn get_in(netns: &str, addr: SocketAddr, path: &str) -> (u16, String) {
    let (netns, path) = (netns.to_string(), path.to_string());
    std::thread::spawn(move || {
        synack_sys::enter_netns(&netns).unwrap();
        get(addr, &path)
    })
    .join()
    .unwrap()
}

fn read_answer(s: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let started = Instant::now();
    let mut chunk = [0u8; 16384];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            // A reset after the answer (the server closed with our unread
            // bytes in its buffer) still leaves the answer read.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no answer within {BOUND:?}: {e}"),
        }
        assert!(started.elapsed() < BOUND, "answer never ended");
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn body(text: &str) -> &str {
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn request_line_over_8_kib_gets_414_and_the_rest_is_never_read() {
    let exporter = Exporter::start(&[], &[]);
    // One byte over the limit: the answer comes as that byte arrives.
    let mut request = b"GET /".to_vec();
    request.resize(8 * 1024 + 1, b'a');
    let (status, text) = exporter.exchange(&request);
    assert_eq!(status, 414, "{text}");
    // An endless URL (the 400 MB attack): the server stops reading, so the
    // sender's writes fail once the socket buffers are full.
    let mut s = exporter.connect();
    s.set_write_timeout(Some(BOUND)).unwrap();
    s.write_all(b"GET /").unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    let limit = 256 << 20;
    while sent < limit {
        match s.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < limit,
        "the exporter took {sent} bytes of one request line"
    );
    // Its memory stayed that of an idle exporter (it was 834 MB).
    let rss_kib = exporter.status_field("VmRSS:");
    assert!(rss_kib < 64 * 1024, "VmRSS {rss_kib} kB");
}

#[test]
fn absolute_form_request_uris_got_404() {
    let exporter = Exporter::start(&[], &[]);
    let (status, text) =
        exporter.exchange(b"GET http://127.0.0.1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(status, 200, "{text}");
    assert!(body(&text).contains("synack_listener"), "{text}");
}

#[test]
fn headers_over_8_kib_get_431() {
    let exporter = Exporter::start(&[], &[]);
    let pad = format!("X-Pad: {}\r\n", "p".repeat(1000));
    let request = format!("GET /metrics HTTP/1.1\r\n{}\r\n", pad.repeat(9));
    let (status, text) = exporter.exchange(request.as_bytes());
    assert_eq!(status, 431, "{text}");
    // Just under the limit is served.
    let request = format!("GET /metrics HTTP/1.1\r\n{}\r\n", pad.repeat(7));
    assert_eq!(exporter.exchange(request.as_bytes()).0, 200);
}

#[test]
fn error_answers_do_not_echo_the_request() {
    let exporter = Exporter::start(&[], &["--allow", "127.0.0.1:*"]);
    let marker = "%3Cscript%3Emarker";
    for path in [
        format!("/{marker}"),
        format!("/probe?target={marker}"),
        format!("/probe?target={marker}:80"),
        format!("/probe?target=10.0.0.1:80&{marker}"),
    ] {
        let (status, text) = exporter.get(&path);
        assert!((400..500).contains(&status), "{path}: {text}");
        assert!(
            !text.contains("marker") && !text.contains("script"),
            "{path} echoed: {text}"
        );
    }
}

#[test]
fn idle_connections_get_no_thread_each_are_capped_and_closed() {
    let exporter = Exporter::start(
        &[],
        &[
            "--max-connections",
            "40",
            "--max-per-client",
            "40",
            "--read-timeout",
            "1",
        ],
    );
    let idle: Vec<TcpStream> = (0..40).map(|_| exporter.connect()).collect();
    // The 41st is refused at once (the cap), with a reason.
    let (status, text) = read_answer(&mut exporter.connect());
    assert_eq!(status, 503, "{text}");
    // One thread serves them all (a thread each before: 1,506 for 1,500).
    let threads = exporter.status_field("Threads:");
    assert!(threads <= 4, "{threads} threads for 40 idle connections");
    // Each is closed by the server once the read timeout passes.
    for mut s in idle {
        let mut byte = [0u8; 1];
        let started = Instant::now();
        let n = s.read(&mut byte).expect("closed, not timed out");
        assert_eq!(n, 0, "an idle connection got data");
        assert!(started.elapsed() < BOUND);
    }
    // Slots are free again: a scrape is served.
    assert_eq!(exporter.get("/metrics").0, 200);
}

/// A connection to `to` from the loopback address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s
}

#[test]
fn one_client_holding_idle_connections_cannot_lock_out_a_scraper() {
    let exporter = Exporter::start(&[], &["--max-per-client", "8"]);
    let _idle: Vec<TcpStream> = (0..8)
        .map(|_| connect_from("127.0.0.1", exporter.addr))
        .collect();
    let (status, text) = read_answer(&mut connect_from("127.0.0.1", exporter.addr));
    assert_eq!(status, 503, "{text}");
    let mut scraper = connect_from("127.0.0.2", exporter.addr);
    scraper
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut scraper).0, 200);
}

#[test]
fn slow_request_head_is_closed_at_the_read_timeout() {
    let exporter = Exporter::start(&[], &["--read-timeout", "1"]);
    let mut s = exporter.connect();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (status, _) = read_answer(&mut s);
    assert_eq!(status, 0, "a request never finished was answered");
}

#[test]
fn lf_only_requests_http2_prefaces_and_garbage_do_not_hang() {
    let exporter = Exporter::start(&[], &["--read-timeout", "2"]);
    let (status, text) = exporter.exchange(b"GET /metrics HTTP/1.1\nHost: x\n\n");
    assert_eq!(status, 200, "{text}");
    assert!(body(&text).contains("synack_listener"), "{text}");
    let (status, _) = exporter.exchange(b"GARBAGE\r\n\r\n");
    assert_eq!(status, 400);
    // HTTP/2 is not spoken: the preface ends the connection at once.
    let started = Instant::now();
    let (status, text) = exporter.exchange(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(status == 0 || status >= 400, "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited for the read timeout"
    );
}

/// A listener whose accept queue is full: the kernel drops every further
/// SYN to it, so a probe there waits its whole budget.
fn silent_target() -> (std::net::TcpListener, TcpStream, SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    synack_sys::set_backlog(&l, 0).unwrap();
    let addr = l.local_addr().unwrap();
    // The queue holds backlog + 1 = 1 connection.
    let queued = TcpStream::connect(addr).unwrap();
    (l, queued, addr)
}

#[test]
fn slow_probes_neither_delay_scrapes_nor_pile_up() {
    let (_l, _queued, silent) = silent_target();
    // A port nothing listens on: a probe there is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = Exporter::start(&[], &["--allow", "127.0.0.1:*", "--probe-timeout", "4"]);
    let (done_tx, done_rx) = mpsc::channel();
    let addr = exporter.addr;
    let probe = move |target: SocketAddr| get(addr, &format!("/probe?target={target}"));
    let probes: Vec<_> = (0..4)
        .map(|_| {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                // Until it gets one of the four probe slots.
                let started = Instant::now();
                loop {
                    let answer = probe(silent);
                    if answer.0 != 503 {
                        done.send(()).unwrap();
                        return answer;
                    }
                    assert!(started.elapsed() < BOUND, "never got a probe slot");
                }
            })
        })
        .collect();
    // A quick probe (refused at once, so it holds a slot for a moment
    // only) finds the four slots taken: from then on the four threads'
    // probes are in flight, each for its whole 4 s budget.
    let started = Instant::now();
    let busy = loop {
        let (status, text) = probe(closed);
        if status == 503 {
            break text;
        }
        assert!(body(&text).contains("outcome=\"refused\""), "{text}");
        assert!(
            started.elapsed() < BOUND,
            "the probe slots were never all taken"
        );
    };
    assert!(busy.contains("retry-after"), "{busy}");
    // A scrape is served while all four are still waiting.
    let (status, text) = exporter.get("/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(
        done_rx.try_recv().is_err(),
        "a probe ended before the scrape was served"
    );
    for p in probes {
        let (status, text) = p.join().unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(body(&text).contains("synack_probe_success 0.0"), "{text}");
        assert!(body(&text).contains("outcome=\"timeout\""), "{text}");
        // The label names the kind of cause, never a count of SYNs (a new
        // series per count, before).
        assert!(body(&text).contains("cause=\"timeout\""), "{text}");
        // Nothing measured on a failed handshake is exported as if it were.
        assert!(!body(&text).contains("tcp_rtt_seconds"), "{text}");
    }
}

/// A resolver of the test's own in a lab namespace: `ip netns exec`
/// mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf for the
/// exporter, pointing it at a UDP socket on the namespace's loopback that
/// counts queries and never answers.
struct SilentResolver {
    _etc: EtcNetns,
    queries: mpsc::Receiver<(SocketAddr, Vec<u8>)>,
}

impl SilentResolver {
    fn start(lab: &synack_lab::Lab) -> SilentResolver {
        let etc = EtcNetns::new(&lab.server.name);
        // One try of 3 s per lookup: longer than the probe budget.
        etc.write(
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:3 attempts:1\n",
        );
        let socket = lab
            .server
            .run(|| UdpSocket::bind("127.0.0.1:53"))
            .unwrap()
            .unwrap();
        let (tx, queries) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            // Ends when the test drops the receiver.
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if tx.send((from, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        SilentResolver { _etc: etc, queries }
    }

    /// The names asked for so far (the question of each query).
    fn asked(&self) -> Vec<String> {
        self.queries.try_iter().map(|(_, q)| question(&q)).collect()
    }
}

/// The QNAME of a DNS query (RFC 1035 section 4.1.2), dotted.
fn question(query: &[u8]) -> String {
    let mut labels = Vec::new();
    let mut i = 12;
    while let Some(&len) = query.get(i) {
        if len == 0 {
            break;
        }
        let label = query.get(i + 1..i + 1 + len as usize).unwrap_or_default();
        labels.push(String::from_utf8_lossy(label).into_owned());
        i += 1 + len as usize;
    }
    labels.join(".")
}

#[test]
fn probe_resolves_no_name_that_no_allow_pattern_names() {
    let Some(lab) =
        synack_lab::testing::lab_or_skip("the DNS test (a namespace with its own resolver)")
    else {
        return;
    };
    let resolver = SilentResolver::start(&lab);
    let in_lab = ["ip", "netns", "exec", lab.server.name.as_str()];
    let get = |exporter: &Exporter, path: &str| get_in(&lab.server.name, exporter.addr, path);
    // No --allow: refused, nothing resolved (before: resolved first).
    {
        let exporter = Exporter::start(&in_lab, &[]);
        assert_eq!(get(&exporter, "/probe?target=victim.test:80").0, 403);
        assert_eq!(get(&exporter, "/metrics").0, 200);
    }
    assert_eq!(resolver.asked(), Vec::<String>::new());
    // Patterns for an address range and one name: only that name is
    // ever looked up, and a silent resolver holds no scrape.
    let exporter = Exporter::start(
        &in_lab,
        &[
            "--allow",
            "0.0.0.0/0:*",
            "--allow",
            "slow.test:80",
            "--probe-timeout",
            "2",
        ],
    );
    assert_eq!(get(&exporter, "/probe?target=victim.test:80").0, 403);
    assert_eq!(get(&exporter, "/probe?target=slow.test:81").0, 403);
    assert_eq!(resolver.asked(), Vec::<String>::new());
    let addr = exporter.addr;
    let name = lab.server.name.clone();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let name = name.clone();
            std::thread::spawn(move || get_in(&name, addr, "/probe?target=slow.test:80"))
        })
        .collect();
    // Wait (bounded) until the resolver has seen all four lookups (each
    // from a socket of its own).
    let mut asked = Vec::new();
    let mut lookups = std::collections::HashSet::new();
    let started = Instant::now();
    while lookups.len() < 4 {
        match resolver
            .queries
            .recv_timeout(BOUND.saturating_sub(started.elapsed()))
        {
            Ok((from, q)) => {
                asked.push(question(&q));
                lookups.insert(from);
            }
            Err(e) => panic!("lookups seen: {asked:?}: {e}"),
        }
    }
    assert!(asked.iter().all(|n| n == "slow.test"), "{asked:?}");
    let (status, text) = get(&exporter, "/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(
        slow.iter().all(|t| !t.is_finished()),
        "a probe ended before the scrape"
    );
    for t in slow {
        let (status, text) = t.join().unwrap();
        assert_eq!(status, 200, "{text}");
        assert!(body(&text).contains("synack_probe_success 0.0"), "{text}");
    }
    drop(exporter);
    assert!(resolver.asked().iter().all(|n| n == "slow.test"));
}

/// A name with two addresses, one of them dead: `synack probe NAME` and
/// the exporter's `/probe?target=NAME` try the same one (before, the probe
/// put IPv6 first and the exporter took the resolver's first address, so
/// with a host preferring IPv4, as /etc/gai.conf can say, the two measured
/// different machines).
#[test]
fn probe_and_exporter_pick_the_same_address_for_a_name() {
    let Some(lab) =
        synack_lab::testing::lab_or_skip("the name test (a namespace with its own hosts file)")
    else {
        return;
    };
    let live = lab.server_addr(true);
    let _listener = lab.listen(8080, true).unwrap();
    // A dead IPv4 address on the lab's link, and a host policy that sorts
    // IPv4 first (RFC 6724 section 10.3).
    let [a, b, c, _] = lab.server_v4.octets();
    let dead = std::net::Ipv4Addr::new(a, b, c, 77);
    let etc = EtcNetns::new(&lab.client.name);
    etc.write("hosts", &format!("{live} dual.test\n{dead} dual.test\n"));
    etc.write("gai.conf", "precedence ::ffff:0:0/96 100\n");
    let in_client = ["ip", "netns", "exec", lab.client.name.as_str()];
    let out = Command::new(in_client[0])
        .args(&in_client[1..])
        .arg(env!("CARGO_BIN_EXE_synack"))
        .args(["probe", "dual.test:8080", "-c", "1", "--format", "json"])
        .output()
        .unwrap();
    let record: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let exporter = Exporter::start(&in_client, &["--allow", "dual.test:8080"]);
    let (status, text) = get_in(
        &lab.client.name,
        exporter.addr,
        "/probe?target=dual.test:8080",
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(record["server"], format!("{dead}:8080"), "{record}");
    assert!(
        body(&text).contains(&format!("address=\"{dead}\"")),
        "{text}"
    );
}

/// Files under /etc/netns/NS, which `ip netns exec NS` mounts over /etc
/// for the command it runs; removed on drop.
struct EtcNetns {
    dir: std::path::PathBuf,
}

impl EtcNetns {
    fn new(netns: &str) -> EtcNetns {
        let dir = std::path::PathBuf::from(format!("/etc/netns/{netns}"));
        std::fs::create_dir_all(&dir).unwrap();
        EtcNetns { dir }
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }
}

impl Drop for EtcNetns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
