//! A TPACKET_V3 receive ring: the kernel fills blocks of frames in memory
//! shared with us and flips each block to the user when it is full or its
//! timer (10 ms) expires; we walk the frames in place and hand the block
//! back. No copy and no system call per frame, and a kernel timestamp on
//! each. Field offsets follow linux/if_packet.h (tpacket_block_desc with
//! tpacket_hdr_v1, tpacket3_hdr, then sockaddr_ll).
//!
//! Ethernet and loopback interfaces are read with their link header
//! (`LinkType::ETHERNET`); `any` and every other kind of interface (tun,
//! WireGuard, GRE, ...) are read cooked, from the network header on
//! (`LinkType::RAW`), as packet(7) SOCK_DGRAM delivers them. Loopback
//! frames are seen twice by a packet socket, once leaving and once
//! arriving; the leaving copy is skipped so that one SYN counts once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;
use synack_wire::LinkType;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Frames larger than this are cut (the snap length): any Ethernet frame
/// with headers fits.
const FRAME_SIZE: usize = 2048;
/// Where sockaddr_ll starts in a frame: TPACKET_ALIGN(sizeof tpacket3_hdr).
const SOCKADDR_AT: usize = 48;
const PACKET_OUTGOING: u8 = 4;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// One frame as the kernel handed it over.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts_ns: i64,
    /// The bytes kept: the filter cuts segments that carry no SYN, FIN or
    /// RST after their headers.
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub wire_len: u32,
}

pub struct Ring {
    fd: OwnedFd,
    map: *mut u8,
    len: usize,
    block_size: usize,
    blocks: usize,
    current: usize,
    ifindex: i32,
    loopback_ifindex: i32,
    loopback_copies: u64,
    link: LinkType,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    crate::sockopt::require(fd, level, name, value, "an AF_PACKET option the ring needs")
}

fn packet_socket(kind: libc::c_int) -> io::Result<OwnedFd> {
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket takes plain integers; the descriptor is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, i32::from(all)) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn ifindex(ifname: &str) -> io::Result<i32> {
    let name = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i as i32),
    }
}

/// The interface's hardware type (ARPHRD_*), asked of the kernel of the
/// current network namespace (sysfs may show another namespace's).
fn hardware_type(fd: &OwnedFd, ifname: &str) -> io::Result<u16> {
    // SAFETY: ifreq is plain data; zeroed is valid before filling it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR reads ifr_name and fills ifr_hwaddr of `req`.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) })?;
    // SAFETY: the kernel filled the hwaddr member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

impl Ring {
    /// Opens a ring of `blocks` blocks of `block_size` bytes (a multiple of
    /// the page size) on `ifname` in the calling thread's namespace.
    pub fn open(ifname: &str, block_size: usize, blocks: usize) -> io::Result<Ring> {
        let page = 4096usize;
        let block_size = block_size.max(page).div_ceil(page) * page;
        let blocks = blocks.max(1);
        // `any` is ifindex 0: every interface of the namespace.
        let (ifindex, cooked) = if ifname == "any" {
            (0, true)
        } else {
            let probe = packet_socket(libc::SOCK_DGRAM)?;
            let index = ifindex(ifname)?;
            let kind = hardware_type(&probe, ifname)?;
            (index, !matches!(kind, ARPHRD_ETHER | ARPHRD_LOOPBACK))
        };
        let fd = packet_socket(if cooked {
            libc::SOCK_DGRAM
        } else {
            libc::SOCK_RAW
        })?;
        let version: libc::c_int = 2; // TPACKET_V3
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &version)?;
        let req = libc::tpacket_req3 {
            tp_block_size: block_size as u32,
            tp_block_nr: blocks as u32,
            tp_frame_size: FRAME_SIZE as u32,
            tp_frame_nr: (block_size / FRAME_SIZE * blocks) as u32,
            tp_retire_blk_tov: 10,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req)?;
        let len = block_size * blocks;
        // SAFETY: mapping the ring the kernel just allocated for this socket,
        // shared and readable/writable as packet(7) prescribes.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ring = Ring {
            fd,
            map: map.cast(),
            len,
            block_size,
            blocks,
            current: 0,
            ifindex,
            // No loopback in this namespace: no frame is skipped.
            loopback_ifindex: self::ifindex("lo").unwrap_or(-1),
            loopback_copies: 0,
            link: if cooked {
                LinkType::RAW
            } else {
                LinkType::ETHERNET
            },
        };
        // SAFETY: sockaddr_ll is plain data; zeroed is valid before filling it.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        addr.sll_ifindex = ring.ifindex;
        // SAFETY: `addr` is a valid sockaddr_ll whose size is passed.
        check(unsafe {
            libc::bind(
                ring.fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        Ok(ring)
    }

    /// Frames skipped as the leaving copy of a loopback packet.
    pub fn loopback_copies(&self) -> u64 {
        self.loopback_copies
    }

    /// How the frames start: Ethernet, or the network header (cooked).
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// Attaches a classic BPF filter in the kernel that keeps only what the
    /// tracker can use: IPv4 TCP and ICMP, IPv6 TCP and ICMPv6 (and IPv6
    /// with extension headers, which user space walks), and tagged, MPLS or
    /// PPPoE frames, which are passed whole to be decoded in user space.
    /// Everything else (ARP, UDP, ...) never reaches the ring. TCP segments
    /// without SYN, FIN or RST are cut after the longest possible IP and
    /// TCP headers: the tracker needs their flags, numbers and lengths (the
    /// IP header has the length), never their payload, and bulk transfers
    /// then cost the ring 134 bytes a segment instead of up to 64 KiB.
    pub fn filter_handshake_traffic(&self) -> io::Result<()> {
        let prog = handshake_filter(self.link == LinkType::RAW);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    /// Puts the interface in promiscuous mode for as long as the ring lives.
    pub fn set_promiscuous(&self) -> io::Result<()> {
        // SAFETY: packet_mreq is plain data; zeroed is valid before filling it.
        let mut mreq: libc::packet_mreq = unsafe { std::mem::zeroed() };
        mreq.mr_ifindex = self.ifindex;
        mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
        setsockopt(
            &self.fd,
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &mreq,
        )
    }

    /// The kernel's counters since the last call: frames handed over and
    /// frames dropped because no block was free.
    pub fn stats(&self) -> io::Result<(u64, u64)> {
        // struct tpacket_stats_v3: packets, drops, freeze_q_cnt.
        let mut st = [0u32; 3];
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: `st` is writable for `len` bytes.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                st.as_mut_ptr().cast(),
                &mut len,
            )
        })?;
        Ok((u64::from(st[0]), u64::from(st[1])))
    }

    fn block(&self, i: usize) -> *mut u8 {
        // SAFETY: i < blocks, so the offset stays inside the mapping.
        unsafe { self.map.add(i * self.block_size) }
    }

    fn status(&self, block: *mut u8) -> u32 {
        // SAFETY: the block descriptor's status word lies at offset 8 of a
        // mapped block; the kernel writes it concurrently, hence volatile.
        let s = unsafe { std::ptr::read_volatile(block.add(8).cast::<u32>()) };
        fence(Ordering::Acquire);
        s
    }

    /// Waits up to `timeout` for the next block, calls `f` for each of its
    /// frames, hands it back, and returns how many frames it held.
    pub fn next_block(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(Frame<'_>),
    ) -> io::Result<usize> {
        let block = self.block(self.current);
        if self.status(block) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: `pfd` is a valid pollfd for the call.
            unsafe {
                libc::poll(
                    &mut pfd,
                    1,
                    timeout.as_millis().min(i32::MAX as u128) as i32,
                )
            };
            if self.status(block) & TP_STATUS_USER == 0 {
                return Ok(0);
            }
        }
        let read_u32 = |p: *const u8, at: usize| -> u32 {
            // SAFETY: callers pass offsets inside the block or frame header.
            unsafe { std::ptr::read_unaligned(p.add(at).cast::<u32>()) }
        };
        let num = read_u32(block, 12) as usize;
        let mut off = read_u32(block, 16) as usize;
        for _ in 0..num {
            if off + SOCKADDR_AT + 12 > self.block_size {
                break;
            }
            // SAFETY: `off` was checked against the block size above.
            let hdr = unsafe { block.add(off) };
            let sec = read_u32(hdr, 4);
            let nsec = read_u32(hdr, 8);
            let snap = read_u32(hdr, 12) as usize;
            let wire_len = read_u32(hdr, 16);
            // SAFETY: tp_mac is a u16 at offset 24 of the frame header.
            let mac = unsafe { std::ptr::read_unaligned(hdr.add(24).cast::<u16>()) } as usize;
            // sockaddr_ll: sll_ifindex at +4, sll_pkttype at +10.
            let from = read_u32(hdr, SOCKADDR_AT + 4) as i32;
            // SAFETY: inside the frame header (checked above).
            let pkttype = unsafe { *hdr.add(SOCKADDR_AT + 10) };
            let looped_back = pkttype == PACKET_OUTGOING && from == self.loopback_ifindex;
            self.loopback_copies += u64::from(looped_back);
            if !looped_back && off + mac + snap <= self.block_size {
                // SAFETY: the frame's bytes lie inside the block (checked),
                // and the kernel does not touch a block owned by the user.
                let data = unsafe { std::slice::from_raw_parts(hdr.add(mac), snap) };
                f(Frame {
                    ts_ns: i64::from(sec) * 1_000_000_000 + i64::from(nsec),
                    data,
                    wire_len,
                });
            }
            let next = read_u32(hdr, 0) as usize;
            if next == 0 {
                break;
            }
            off += next;
        }
        fence(Ordering::Release);
        // SAFETY: handing the block back: its status word at offset 8.
        unsafe { std::ptr::write_volatile(block.add(8).cast::<u32>(), TP_STATUS_KERNEL) };
        self.current = (self.current + 1) % self.blocks;
        Ok(num)
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `open`; no slice
        // into it outlives `next_block`.
        unsafe { libc::munmap(self.map.cast(), self.len) };
    }
}

/// Classic BPF opcodes (linux/filter.h).
mod op {
    pub const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    pub const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    pub const LD_B_IND: u16 = 0x50; // BPF_LD | BPF_B | BPF_IND
    pub const LD_H_IND: u16 = 0x48; // BPF_LD | BPF_H | BPF_IND
    pub const LDX_B_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH
    pub const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    pub const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
    pub const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    /// SKF_AD_OFF + SKF_AD_PROTOCOL: the frame's protocol, for cooked
    /// sockets whose data has no link header.
    pub const AD_PROTOCOL: u32 = 0xffff_f000;
}

/// A classic BPF program with named jump targets, resolved at the end
/// (jumps are forward only and relative to the next instruction).
#[derive(Default)]
struct Program {
    code: Vec<(u16, Option<&'static str>, u32)>,
    labels: Vec<(&'static str, usize)>,
}

impl Program {
    fn label(&mut self, name: &'static str) {
        self.labels.push((name, self.code.len()));
    }
    fn op(&mut self, code: u16, k: u32) {
        self.code.push((code, None, k));
    }
    /// A conditional jump to `to` when true, falling through otherwise.
    fn jump_if(&mut self, code: u16, k: u32, to: &'static str) {
        self.code.push((code, Some(to), k));
    }
    fn build(self) -> Vec<libc::sock_filter> {
        let at = |name| {
            self.labels
                .iter()
                .find(|(l, _)| *l == name)
                .map(|&(_, i)| i)
                .expect("jump to a defined label")
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, &(code, to, k))| libc::sock_filter {
                code,
                jt: to.map_or(0, |l| (at(l) - i - 1) as u8),
                jf: 0,
                k,
            })
            .collect()
    }
}

/// Bytes kept of a TCP segment without SYN, FIN or RST, past the network
/// header's start: the longest IPv4 header (60) and TCP header (60).
const HEADERS_ONLY: u32 = 120;
const WHOLE: u32 = 262_144;

/// IP protocols of tunnels the decoder unwraps (IPv4 and IPv6 in IP,
/// GRE): kept whole, since the handshake is inside.
const TUNNEL_PROTOCOLS: [u32; 3] = [4, 41, 47];
/// UDP destination ports of tunnels: VXLAN (and Linux's old 8472), Geneve,
/// Teredo. Teredo is also recognised by its source port.
const TUNNEL_PORTS: [u32; 4] = [4789, 8472, 6081, 3544];
const TEREDO_PORT: u32 = 3544;

/// The filter program of [`Ring::filter_handshake_traffic`], for frames
/// that start with an Ethernet header or, `cooked`, with the IP header.
fn handshake_filter(cooked: bool) -> Vec<libc::sock_filter> {
    let mut p = Program::default();
    let net = if cooked { 0 } else { 14 };
    if cooked {
        p.op(op::LD_H_ABS, op::AD_PROTOCOL);
    } else {
        p.op(op::LD_H_ABS, 12); // ethertype
    }
    p.jump_if(op::JEQ_K, 0x0800, "ipv4");
    p.jump_if(op::JEQ_K, 0x86dd, "ipv6");
    if !cooked {
        // Tagged, MPLS, PPPoE, FabricPath: whole, decoded in user space.
        for ethertype in [0x8100, 0x88a8, 0x9100, 0x8847, 0x8848, 0x8864, 0x8903] {
            p.jump_if(op::JEQ_K, ethertype, "whole");
        }
    }
    p.op(op::RET_K, 0);
    p.label("ipv4");
    p.op(op::LD_B_ABS, net + 9); // protocol
    p.jump_if(op::JEQ_K, 6, "ipv4-tcp");
    p.jump_if(op::JEQ_K, 1, "whole");
    for tunnel in TUNNEL_PROTOCOLS {
        p.jump_if(op::JEQ_K, tunnel, "whole");
    }
    p.jump_if(op::JEQ_K, 17, "ipv4-udp");
    p.op(op::RET_K, 0);
    p.label("ipv4-udp");
    p.op(op::LDX_B_MSH, net); // X = IPv4 header length
    p.op(op::LD_H_IND, net); // source port
    p.jump_if(op::JEQ_K, TEREDO_PORT, "whole");
    p.op(op::LD_H_IND, net + 2); // destination port
    for port in TUNNEL_PORTS {
        p.jump_if(op::JEQ_K, port, "whole");
    }
    p.op(op::RET_K, 0);
    p.label("ipv4-tcp");
    p.op(op::LDX_B_MSH, net); // X = IPv4 header length
    p.op(op::LD_B_IND, net + 13); // TCP flags
    p.jump_if(op::JSET_K, 0x07, "whole"); // FIN, SYN or RST
    p.op(op::RET_K, net + HEADERS_ONLY);
    p.label("ipv6");
    p.op(op::LD_B_ABS, net + 6); // next header
    p.jump_if(op::JEQ_K, 6, "ipv6-tcp");
    // ICMPv6, and extension headers (hop-by-hop, routing, fragment, AH,
    // destination options) walked in user space.
    for next in [58, 0, 43, 44, 51, 60].into_iter().chain(TUNNEL_PROTOCOLS) {
        p.jump_if(op::JEQ_K, next, "whole");
    }
    p.jump_if(op::JEQ_K, 17, "ipv6-udp");
    p.op(op::RET_K, 0);
    p.label("ipv6-udp");
    p.op(op::LD_H_ABS, net + 40); // source port
    p.jump_if(op::JEQ_K, TEREDO_PORT, "whole");
    p.op(op::LD_H_ABS, net + 40 + 2); // destination port
    for port in TUNNEL_PORTS {
        p.jump_if(op::JEQ_K, port, "whole");
    }
    p.op(op::RET_K, 0);
    p.label("ipv6-tcp");
    p.op(op::LD_B_ABS, net + 40 + 13); // TCP flags
    p.jump_if(op::JSET_K, 0x07, "whole");
    p.op(op::RET_K, net + HEADERS_ONLY);
    p.label("whole");
    p.op(op::RET_K, WHOLE);
    p.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small interpreter for the opcodes the filter uses, so the program
    /// is checked without a kernel; `protocol` answers the ancillary load.
    fn run(prog: &[libc::sock_filter], pkt: &[u8], protocol: u16) -> u32 {
        let (mut pc, mut a, mut x) = (0usize, 0u32, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            let k = i.k as usize;
            match i.code {
                op::LD_H_ABS if i.k == op::AD_PROTOCOL => a = u32::from(protocol),
                op::LD_H_ABS => a = u32::from(u16::from_be_bytes([pkt[k], pkt[k + 1]])),
                op::LD_B_ABS => a = u32::from(pkt[k]),
                op::LD_B_IND => a = u32::from(pkt[x as usize + k]),
                op::LD_H_IND => {
                    let at = x as usize + k;
                    a = u32::from(u16::from_be_bytes([pkt[at], pkt[at + 1]]));
                }
                op::LDX_B_MSH => x = 4 * u32::from(pkt[k] & 0xf),
                op::JEQ_K => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                op::JSET_K => pc += usize::from(if a & i.k != 0 { i.jt } else { i.jf }),
                op::RET_K => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    /// An Ethernet frame (or, `cooked`, its IP packet) of 200 bytes.
    fn frame(cooked: bool, ethertype: u16, v4_proto: Option<u8>, tcp_flags: u8) -> Vec<u8> {
        let net = if cooked { 0 } else { 14 };
        let mut f = vec![0u8; net + 200];
        if !cooked {
            f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
        match (ethertype, v4_proto) {
            (0x0800, Some(proto)) => {
                f[net] = 0x46; // IPv4 with 4 bytes of options
                f[net + 9] = proto;
                f[net + 24 + 13] = tcp_flags;
            }
            (0x86dd, Some(next)) => {
                f[net] = 0x60;
                f[net + 6] = next;
                f[net + 40 + 13] = tcp_flags;
            }
            _ => {}
        }
        f
    }

    #[test]
    fn keeps_tcp_and_icmp_and_tagged_frames_drops_the_rest() {
        for cooked in [false, true] {
            let p = handshake_filter(cooked);
            let verdict = |ethertype, proto, flags| {
                run(&p, &frame(cooked, ethertype, proto, flags), ethertype)
            };
            let syn = 0x02;
            assert_eq!(verdict(0x0800, Some(6), syn), WHOLE, "IPv4 SYN");
            assert_eq!(verdict(0x0800, Some(1), 0), WHOLE, "IPv4 ICMP");
            assert_eq!(verdict(0x0800, Some(17), 0), 0, "IPv4 UDP");
            assert_eq!(verdict(0x86dd, Some(6), syn), WHOLE, "IPv6 SYN");
            assert_eq!(verdict(0x86dd, Some(58), 0), WHOLE, "ICMPv6");
            assert_eq!(
                verdict(0x86dd, Some(0), 0),
                WHOLE,
                "IPv6 hop-by-hop: walked in user space"
            );
            assert_eq!(verdict(0x86dd, Some(17), 0), 0, "IPv6 UDP");
            assert_eq!(verdict(0x0806, None, 0), 0, "ARP");
        }
        let p = handshake_filter(false);
        assert_eq!(run(&p, &frame(false, 0x8100, None, 0), 0), WHOLE, "802.1Q");
        assert_eq!(run(&p, &frame(false, 0x8864, None, 0), 0), WHOLE, "PPPoE");
    }

    #[test]
    fn tunnels_pass_whole_other_udp_does_not() {
        for cooked in [false, true] {
            let p = handshake_filter(cooked);
            let net = if cooked { 0 } else { 14 };
            for ethertype in [0x0800u16, 0x86dd] {
                for proto in [4, 41, 47] {
                    let f = frame(cooked, ethertype, Some(proto), 0);
                    assert_eq!(run(&p, &f, ethertype), WHOLE, "protocol {proto}");
                }
                // The UDP header follows 24 bytes of IPv4 (with options) or
                // the 40 of IPv6.
                let udp = net + if ethertype == 0x0800 { 24 } else { 40 };
                for (src, dst, want) in [
                    (49152u16, 4789u16, WHOLE),
                    (49152, 6081, WHOLE),
                    (49152, 8472, WHOLE),
                    (3544, 40000, WHOLE),
                    (40000, 3544, WHOLE),
                    (49152, 53, 0),
                ] {
                    let mut f = frame(cooked, ethertype, Some(17), 0);
                    f[udp..udp + 2].copy_from_slice(&src.to_be_bytes());
                    f[udp + 2..udp + 4].copy_from_slice(&dst.to_be_bytes());
                    assert_eq!(run(&p, &f, ethertype), want, "UDP {src} -> {dst}");
                }
            }
        }
    }

    #[test]
    fn segments_without_syn_fin_or_rst_keep_only_their_headers() {
        for cooked in [false, true] {
            let p = handshake_filter(cooked);
            let net = if cooked { 0 } else { 14 };
            for (flags, what) in [(0x01, "FIN"), (0x04, "RST"), (0x12, "SYN-ACK")] {
                for ethertype in [0x0800, 0x86dd] {
                    let f = frame(cooked, ethertype, Some(6), flags);
                    assert_eq!(run(&p, &f, ethertype), WHOLE, "{what} over {ethertype:#x}");
                }
            }
            for (flags, what) in [(0x10, "ACK"), (0x18, "PSH-ACK data")] {
                for ethertype in [0x0800, 0x86dd] {
                    let f = frame(cooked, ethertype, Some(6), flags);
                    assert_eq!(
                        run(&p, &f, ethertype),
                        net + HEADERS_ONLY,
                        "{what} over {ethertype:#x}"
                    );
                }
            }
        }
    }
}
