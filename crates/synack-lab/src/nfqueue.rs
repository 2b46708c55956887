//! The NFQUEUE protocol (nfnetlink_queue), as much as the delayer needs:
//! bind a queue with metadata-only copies and fail-open, read which packets
//! wait (their queue and id), and accept them. Spoken over a raw netlink
//! socket whose descriptor the delayer waits on until its next packet is
//! due or a new one arrives (the nfq crate hides its descriptor, which made
//! the delayer poll every 100 µs, a tenth of a core while idle). Message
//! layouts: linux/netfilter/nfnetlink_queue.h.

use std::io;
use std::time::Duration;
use synack_sys::netlink::{NETLINK_NETFILTER, NetlinkSocket};

const NFNL_SUBSYS_QUEUE: u16 = 3;
const NFQNL_MSG_PACKET: u16 = 0;
const NFQNL_MSG_VERDICT: u16 = 1;
const NFQNL_MSG_CONFIG: u16 = 2;
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;
const NFQNL_CFG_CMD_BIND: u8 = 1;
const NFQNL_COPY_META: u8 = 1;
const NFQA_CFG_F_FAIL_OPEN: u32 = 1;
const NF_ACCEPT: u32 = 1;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDRLEN: usize = 16;
/// Attribute types carry two flag bits (nested, network byte order).
const NLA_TYPE_MASK: u16 = 0x3fff;
/// How long the kernel may take to acknowledge a configuration request.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// A packet waiting in a queue for its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Queued {
    pub queue: u16,
    pub id: u32,
}

/// One nfnetlink message of the queue subsystem being built.
struct Message(Vec<u8>);

impl Message {
    fn new(kind: u16, flags: u16, seq: u32, queue: u16) -> Message {
        let mut b = Vec::with_capacity(64);
        b.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `bytes`
        b.extend_from_slice(&((NFNL_SUBSYS_QUEUE << 8) | kind).to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&seq.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes()); // to the kernel
        // nfgenmsg: family unspecified, version 0, the queue (big-endian).
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&queue.to_be_bytes());
        Message(b)
    }

    fn attr(mut self, kind: u16, payload: &[u8]) -> Message {
        self.0
            .extend_from_slice(&(4 + payload.len() as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    fn bytes(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[..4].copy_from_slice(&len.to_ne_bytes());
        self.0
    }
}

/// What one datagram from the kernel said.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parsed {
    packets: Vec<Queued>,
    /// Acknowledgements: sequence number and errno (0 for success).
    acks: Vec<(u32, i32)>,
}

fn ne16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn ne32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads every message of a datagram; anything cut short ends the reading.
fn parse(mut b: &[u8], out: &mut Parsed) {
    while b.len() >= NLMSG_HDRLEN {
        let len = ne32(b, 0) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            return;
        }
        let (kind, seq) = (ne16(b, 4), ne32(b, 8));
        let body = &b[NLMSG_HDRLEN..len];
        if kind == NLMSG_ERROR && body.len() >= 4 {
            out.acks.push((seq, -(ne32(body, 0) as i32)));
        } else if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET && body.len() >= 4 {
            let queue = u16::from_be_bytes([body[2], body[3]]);
            let mut attrs = &body[4..];
            while attrs.len() >= 4 {
                let alen = usize::from(ne16(attrs, 0));
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                if ne16(attrs, 2) & NLA_TYPE_MASK == NFQA_PACKET_HDR && alen >= 8 {
                    let id = u32::from_be_bytes([attrs[4], attrs[5], attrs[6], attrs[7]]);
                    out.packets.push(Queued { queue, id });
                }
                attrs = &attrs[alen.next_multiple_of(4).min(attrs.len())..];
            }
        }
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
}

pub(crate) struct NfQueue {
    socket: NetlinkSocket,
    seq: u32,
    buf: Vec<u8>,
    /// Packets read while waiting for an acknowledgement.
    early: Vec<Queued>,
}

impl NfQueue {
    pub fn open() -> io::Result<NfQueue> {
        Ok(NfQueue {
            socket: NetlinkSocket::open(NETLINK_NETFILTER)?,
            seq: 0,
            buf: vec![0; 1 << 16],
            early: Vec::new(),
        })
    }

    /// Binds `queue`: metadata only (a verdict needs no packet bytes), and
    /// fail-open (a full queue lets packets through instead of dropping).
    pub fn bind(&mut self, queue: u16) -> io::Result<()> {
        let flags = NFQA_CFG_F_FAIL_OPEN.to_be_bytes();
        let mut params = 0u32.to_be_bytes().to_vec(); // copy range
        params.push(NFQNL_COPY_META);
        let requests = [
            // nfqnl_msg_config_cmd: command, padding, protocol family (any).
            (NFQA_CFG_CMD, vec![NFQNL_CFG_CMD_BIND, 0, 0, 0], None),
            (NFQA_CFG_PARAMS, params, None),
            (NFQA_CFG_MASK, flags.to_vec(), Some((NFQA_CFG_FLAGS, flags))),
        ];
        for (kind, payload, second) in requests {
            self.seq += 1;
            let mut m = Message::new(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, self.seq, queue)
                .attr(kind, &payload);
            if let Some((kind, payload)) = second {
                m = m.attr(kind, &payload);
            }
            self.socket.send(&m.bytes())?;
            self.await_ack(self.seq)?;
        }
        Ok(())
    }

    fn await_ack(&mut self, seq: u32) -> io::Result<()> {
        let deadline = std::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not acknowledge the NFQUEUE configuration",
                ));
            }
            if !self.socket.wait(left)? {
                continue;
            }
            let mut parsed = Parsed::default();
            self.read(&mut parsed)?;
            self.early.append(&mut parsed.packets);
            if let Some(&(_, errno)) = parsed.acks.iter().find(|(s, _)| *s == seq) {
                return match errno {
                    0 => Ok(()),
                    e => Err(io::Error::from_raw_os_error(e)),
                };
            }
        }
    }

    /// Reads every datagram waiting, without blocking.
    fn read(&mut self, parsed: &mut Parsed) -> io::Result<()> {
        loop {
            match self.socket.recv(&mut self.buf) {
                Ok(n) => parse(&self.buf[..n.min(self.buf.len())], parsed),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends the packets waiting now to `out`, without blocking.
    pub fn receive(&mut self, out: &mut Vec<Queued>) -> io::Result<()> {
        out.append(&mut self.early);
        let mut parsed = Parsed::default();
        self.read(&mut parsed)?;
        out.append(&mut parsed.packets);
        Ok(())
    }

    /// Waits until a packet arrives or `timeout` passes.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        if !self.early.is_empty() {
            return Ok(true);
        }
        self.socket.wait(timeout)
    }

    /// Lets a packet go on its way.
    pub fn accept(&mut self, p: Queued) -> io::Result<()> {
        let mut verdict = NF_ACCEPT.to_be_bytes().to_vec();
        verdict.extend_from_slice(&p.id.to_be_bytes());
        let m = Message::new(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, p.queue)
            .attr(NFQA_VERDICT_HDR, &verdict);
        self.socket.send(&m.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_message_is_laid_out_as_the_kernel_reads_it() {
        let mut verdict = NF_ACCEPT.to_be_bytes().to_vec();
        verdict.extend_from_slice(&7u32.to_be_bytes());
        let m = Message::new(NFQNL_MSG_VERDICT, NLM_F_REQUEST, 0, 2)
            .attr(NFQA_VERDICT_HDR, &verdict)
            .bytes();
        assert_eq!(m.len(), 16 + 4 + 4 + 8);
        assert_eq!(ne32(&m, 0) as usize, m.len());
        assert_eq!(ne16(&m, 4), 0x0301);
        assert_eq!(&m[18..20], &[0, 2], "queue number, big-endian");
        assert_eq!(ne16(&m, 20), 12, "attribute length");
        assert_eq!(&m[24..32], &[0, 0, 0, 1, 0, 0, 0, 7]);
    }

    #[test]
    fn config_params_are_padded_to_four_bytes() {
        let m = Message::new(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, 1, 1)
            .attr(NFQA_CFG_PARAMS, &[0, 0, 0, 0, NFQNL_COPY_META])
            .bytes();
        assert_eq!(ne16(&m, 20), 9, "the length counts no padding");
        assert_eq!(m.len(), 20 + 12, "the message does");
    }

    /// A packet message as the kernel sends it, then an acknowledgement.
    fn packet_then_ack(queue: u16, id: u32, seq: u32) -> Vec<u8> {
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&0x0800u16.to_be_bytes());
        hdr.push(1); // hook
        let mut b = Message::new(NFQNL_MSG_PACKET, 0, 0, queue)
            .attr(NFQA_PACKET_HDR | 0x4000, &hdr)
            .bytes();
        let mut ack = Vec::new();
        ack.extend_from_slice(&(36u32).to_ne_bytes());
        ack.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        ack.extend_from_slice(&0u16.to_ne_bytes());
        ack.extend_from_slice(&seq.to_ne_bytes());
        ack.extend_from_slice(&0u32.to_ne_bytes());
        ack.extend_from_slice(&(-1i32).to_ne_bytes()); // EPERM
        ack.extend_from_slice(&[0; 16]); // the request's header
        b.extend_from_slice(&ack);
        b
    }

    #[test]
    fn packets_and_acks_are_read_from_one_datagram() {
        let mut parsed = Parsed::default();
        parse(&packet_then_ack(2, 41, 5), &mut parsed);
        assert_eq!(parsed.packets, vec![Queued { queue: 2, id: 41 }]);
        assert_eq!(parsed.acks, vec![(5, 1)]);
    }

    #[test]
    fn a_cut_datagram_gives_what_came_before_the_cut_and_no_panic() {
        let whole = packet_then_ack(1, 9, 3);
        let packet_len = whole.len() - 36;
        for cut in 0..whole.len() {
            let mut parsed = Parsed::default();
            parse(&whole[..cut], &mut parsed);
            assert_eq!(
                parsed.packets.len(),
                usize::from(cut >= packet_len),
                "cut at {cut}"
            );
            assert!(parsed.acks.is_empty(), "cut at {cut}");
        }
    }
}
