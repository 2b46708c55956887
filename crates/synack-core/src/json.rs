//! The NDJSON form of a `Handshake` (schema v1, docs/SCHEMA.md), written by hand
//! into a byte buffer: the record is the hot output of `analyze`, and a
//! generic serializer spent a quarter of the run escaping constant keys.
//! Every field is always present (null when unknown) so that consumers see
//! one shape. Microseconds are exact decimals of the integer nanoseconds.

use crate::handshake::{Ecn, Handshake, IcmpInfo, Options, hex};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

// Every helper is inlined: the keys are constants whose copies become a
// few moves. Left to the compiler, a change elsewhere in the crate once had
// them called, with a memcpy per key: 12% more instructions per record.
impl<'a> Obj<'a> {
    #[inline(always)]
    fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }
    #[inline(always)]
    fn key(&mut self, k: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }
    #[inline(always)]
    fn str(&mut self, k: &str, v: &str) {
        let o = self.key(k);
        string(o, v);
    }
    #[inline(always)]
    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.key(k).extend_from_slice(b"null"),
        }
    }
    #[inline(always)]
    fn int(&mut self, k: &str, v: impl itoa::Integer) {
        let o = self.key(k);
        o.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    #[inline(always)]
    fn opt_int(&mut self, k: &str, v: Option<impl itoa::Integer>) {
        match v {
            Some(v) => self.int(k, v),
            None => self.key(k).extend_from_slice(b"null"),
        }
    }
    #[inline(always)]
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k)
            .extend_from_slice(if v { b"true" } else { b"false" });
    }
    #[inline(always)]
    fn opt_bool(&mut self, k: &str, v: Option<bool>) {
        match v {
            Some(v) => self.bool(k, v),
            None => self.key(k).extend_from_slice(b"null"),
        }
    }
    #[inline(always)]
    fn us(&mut self, k: &str, ns: Option<i64>) {
        let o = self.key(k);
        match ns {
            Some(ns) => micros(o, ns),
            None => o.extend_from_slice(b"null"),
        }
    }
    #[inline(always)]
    fn end(self) {
        self.out.push(b'}');
    }
}

/// A JSON string; the values written here are addresses, letters and hex,
/// but anything that needs escaping is escaped.
fn string(o: &mut Vec<u8>, v: &str) {
    o.push(b'"');
    if !v.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        o.extend_from_slice(v.as_bytes());
        o.push(b'"');
        return;
    }
    for c in v.chars() {
        match c {
            '"' => o.extend_from_slice(b"\\\""),
            '\\' => o.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0; 4];
                o.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    o.push(b'"');
}

/// Nanoseconds as microseconds with up to three decimals, always with a
/// fractional part (`270.0`, `342.5`, `1.001`), like a float would print.
fn micros(o: &mut Vec<u8>, ns: i64) {
    if ns < 0 {
        o.push(b'-');
    }
    let ns = ns.unsigned_abs();
    o.extend_from_slice(itoa::Buffer::new().format(ns / 1000).as_bytes());
    o.push(b'.');
    let frac = ns % 1000;
    if frac == 0 {
        o.push(b'0');
        return;
    }
    let digits = [
        (frac / 100) as u8,
        (frac / 10 % 10) as u8,
        (frac % 10) as u8,
    ];
    let keep = if digits[2] != 0 {
        3
    } else if digits[1] != 0 {
        2
    } else {
        1
    };
    o.extend(digits[..keep].iter().map(|d| b'0' + d));
}

fn addr(o: &mut Vec<u8>, a: &SocketAddr) {
    o.push(b'"');
    write_addr(o, a);
    o.push(b'"');
}

/// `ip:port` as `Display` prints it, appended; IPv4 digit by digit (the
/// formatting machinery costs more than the rest of a record or a line).
pub fn write_addr(o: &mut Vec<u8>, a: &SocketAddr) {
    match a.ip() {
        IpAddr::V4(v4) => {
            // At most 21 bytes (255.255.255.255:65535), made on the stack
            // and appended at once.
            let mut text = [0u8; 21];
            let mut n = 0;
            let mut put = |digits: &[u8], after: u8| {
                text[n..n + digits.len()].copy_from_slice(digits);
                n += digits.len();
                if after != 0 {
                    text[n] = after;
                    n += 1;
                }
            };
            let mut buf = itoa::Buffer::new();
            let [a0, a1, a2, a3] = v4.octets();
            put(buf.format(a0).as_bytes(), b'.');
            put(buf.format(a1).as_bytes(), b'.');
            put(buf.format(a2).as_bytes(), b'.');
            put(buf.format(a3).as_bytes(), b':');
            put(buf.format(a.port()).as_bytes(), 0);
            o.extend_from_slice(&text[..n]);
        }
        IpAddr::V6(_) => {
            let _ = write!(o, "{a}");
        }
    }
}

fn options(o: &mut Vec<u8>, opts: Option<&Options>, syn_data: Option<u32>) {
    let Some(x) = opts else {
        o.extend_from_slice(b"null");
        return;
    };
    let mut m = Obj::new(o);
    m.opt_int("mss", x.mss);
    m.opt_int("wscale", x.wscale);
    m.bool("sack", x.sack_permitted);
    m.bool("ts", x.timestamps.is_some());
    match x.tfo {
        None => m.key("tfo").extend_from_slice(b"null"),
        Some(t) => {
            let mut f = Obj::new(m.key("tfo"));
            f.bool("cookie_request", t.is_request());
            let cookie = (!t.is_request()).then(|| hex(t.cookie()));
            f.opt_str("cookie", cookie.as_deref());
            if let Some(d) = syn_data {
                f.int("data", d);
            }
            if t.experimental {
                f.bool("experimental", true);
            }
            f.end();
        }
    }
    m.bool("mptcp", x.mptcp_subtype.is_some());
    if !x.unknown_kinds().is_empty() {
        let u = m.key("unknown");
        u.push(b'[');
        for (i, raw) in x
            .unknown_kinds()
            .iter()
            .filter_map(|k| x.raw_option(*k))
            .enumerate()
        {
            if i > 0 {
                u.push(b',');
            }
            string(u, &hex(raw));
        }
        u.push(b']');
    }
    if x.malformed {
        m.bool("malformed", true);
    }
    m.end();
}

fn icmp(o: &mut Vec<u8>, i: Option<&IcmpInfo>) {
    let Some(i) = i else {
        o.extend_from_slice(b"null");
        return;
    };
    let mut m = Obj::new(o);
    m.int("type", i.icmp_type);
    m.int("code", i.code);
    m.str("from", &i.from.to_string());
    m.str("name", i.name());
    m.end();
}

fn relative_list(o: &mut Vec<u8>, base: i64, ts: &[i64]) {
    o.push(b'[');
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        micros(o, t - base);
    }
    o.push(b']');
}

/// Appends `h` as one JSON object (no newline) to `out`.
/// `error`: `{errno, name}` or null.
fn error(m: &mut Obj<'_>, e: Option<(i32, &'static str)>) {
    match e {
        Some((errno, name)) => {
            let mut e = Obj::new(m.key("error"));
            e.int("errno", errno);
            e.str("name", name);
            e.end();
        }
        None => m.key("error").extend_from_slice(b"null"),
    }
}

pub fn write_record(out: &mut Vec<u8>, h: &Handshake) {
    let mut m = Obj::new(out);
    crate::time::write_rfc3339(
        {
            let o = m.key("ts");
            o.push(b'"');
            o
        },
        h.ts_ns,
    );
    m.out.push(b'"');
    m.str("source", h.source.as_str());
    addr(m.key("client"), &h.client);
    addr(m.key("server"), &h.server);
    m.opt_int("vlan", (h.vlan != 0).then_some(h.vlan));
    match h.community_id() {
        Some(id) => {
            // Base64 and a colon: nothing to escape.
            let o = m.key("community_id");
            o.push(b'"');
            o.extend_from_slice(id.as_bytes());
            o.push(b'"');
        }
        None => m.key("community_id").extend_from_slice(b"null"),
    }
    m.str("outcome", h.outcome.as_str());
    m.str("conn_state", h.conn_state.as_str());
    m.str("history", &h.history);
    m.int("syn_count", h.syn_count);
    m.int("synack_count", h.synack_count);
    {
        let mut legs = Obj::new(m.key("rtt_us"));
        legs.us("syn_synack", h.syn_synack_ns);
        legs.us("synack_ack", h.synack_ack_ns);
        legs.us("total", h.total_ns);
        legs.end();
    }
    m.us("setup_us", h.setup_ns);
    m.opt_int("client_isn", h.client_isn);
    m.opt_int("server_isn", h.server_isn);
    let syn_data = (h.tfo.syn_data > 0).then_some(h.tfo.syn_data);
    options(m.key("client_opts"), h.client_opts.as_ref(), syn_data);
    options(m.key("server_opts"), h.server_opts.as_ref(), None);
    options(
        m.key("syn_retransmit_opts"),
        h.syn_retransmit_opts.as_ref(),
        None,
    );
    m.opt_str(
        "ecn",
        h.ecn.map(|e| match e {
            Ecn::Requested => "requested",
            Ecn::Negotiated => "negotiated",
        }),
    );
    m.bool("accecn", h.accecn);
    m.opt_bool("tfo_data_acked", h.tfo.data_acked);
    icmp(m.key("icmp"), h.icmp.as_ref());
    m.opt_str("rst_from", h.rst_from.map(|s| s.as_str()));
    m.opt_int("server_ttl", h.server_ttl);
    m.opt_int("rst_ttl", h.rst_ttl);
    m.bool("simultaneous_open", h.simultaneous_open);
    {
        let t = &h.times;
        let rel = |x: i64| Some(x - h.ts_ns);
        let mut times = Obj::new(m.key("times_us"));
        relative_list(times.key("syn"), h.ts_ns, &t.syn);
        relative_list(times.key("synack"), h.ts_ns, &t.synack);
        times.us("ack", t.ack.and_then(rel));
        times.us("client_data", t.client_data.and_then(rel));
        times.us("server_data", t.server_data.and_then(rel));
        times.us("rst", t.rst.and_then(rel));
        times.us("icmp", t.icmp.and_then(rel));
        times.us("last", rel(t.last));
        times.end();
    }
    m.us("duration_us", Some(h.times.last - h.times.first));
    m.int("client_pkts", h.client_pkts);
    m.int("server_pkts", h.server_pkts);
    m.int("client_bytes", h.client_bytes);
    m.int("server_bytes", h.server_bytes);
    m.bool("evicted", h.evicted);
    if let Some(t) = &h.trace {
        m.opt_str("local_side", t.local_side.map(|s| s.as_str()));
        m.opt_int("pid", t.pid);
        m.opt_str("comm", t.comm.as_deref());
        m.opt_str("cgroup", t.cgroup.as_deref());
        m.int("netns", t.netns);
        error(&mut m, t.error);
        m.us("accept_wait_us", t.accept_wait_ns);
    }
    if let Some(p) = &h.probe {
        m.str("target", &p.target);
        m.int("attempt", p.attempt);
        m.us("dns_us", p.dns_ns);
        m.us("connect_us", Some(p.connect_ns));
        error(&mut m, p.error);
        match &p.tcp_info {
            Some(t) => {
                let mut k = Obj::new(m.key("tcp_info"));
                k.int("rtt_us", t.rtt_us);
                k.int("rttvar_us", t.rttvar_us);
                k.int("snd_mss", t.snd_mss);
                k.int("rcv_mss", t.rcv_mss);
                {
                    let mut o = Obj::new(k.key("options"));
                    o.bool("sack", t.sack);
                    o.bool("ts", t.timestamps);
                    o.bool("wscale", t.wscale);
                    o.bool("ecn", t.ecn);
                    o.bool("syn_data", t.syn_data);
                    o.end();
                }
                k.int("total_retrans", t.total_retrans);
                k.end();
            }
            None => m.key("tcp_info").extend_from_slice(b"null"),
        }
        m.opt_str("cause", p.cause.as_deref());
        m.opt_str("tfo_result", p.tfo_result.map(|t| t.as_str()));
        if p.tries > 1 {
            m.int("tries", p.tries);
            m.us("retry_cost_us", Some(p.retry_cost_ns));
        }
        if p.tfo_result.is_some() || p.first_response_ns.is_some() {
            m.us("first_response_us", p.first_response_ns);
        }
        if let Some(t) = &p.tls {
            let mut o = Obj::new(m.key("tls"));
            o.us("handshake_us", t.handshake_ns);
            o.opt_str("version", t.version);
            o.opt_str("cipher", t.cipher.as_deref());
            o.opt_str("alpn", t.alpn.as_deref());
            o.bool("resumed", t.resumed);
            o.opt_str(
                "early_data",
                t.early_data
                    .map(|a| if a { "accepted" } else { "rejected" }),
            );
            o.opt_int("cert_days_left", t.days_left);
            o.opt_str("failure", t.failure.as_ref().map(|f| f.0));
            o.opt_str("cause", t.failure.as_ref().map(|f| f.1.as_str()));
            o.end();
        }
    }
    m.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_print_like_floats() {
        let p = |ns| {
            let mut o = Vec::new();
            micros(&mut o, ns);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(p(270_000), "270.0");
        assert_eq!(p(342_500), "342.5");
        assert_eq!(p(1_001), "1.001");
        assert_eq!(p(1_010), "1.01");
        assert_eq!(p(5), "0.005");
        assert_eq!(p(-1_500), "-1.5");
    }

    #[test]
    fn strings_are_escaped() {
        let mut o = Vec::new();
        string(&mut o, "a\"b\\c\n");
        assert_eq!(o, b"\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn addresses_print_as_display_does() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.0.0.1:80",
            "127.0.0.1:45556",
            "[2001:db8::1]:443",
            "[::ffff:10.0.0.1]:8080",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let mut o = b"x".to_vec();
            write_addr(&mut o, &a);
            assert_eq!(String::from_utf8(o).unwrap(), format!("x{a}"));
        }
    }
}
