//! A TPACKET_V3 receive ring: the kernel fills blocks of frames in memory
//! shared with us and flips each block to the user when it is full or its
//! timer (10 ms) expires; we walk the frames in place and hand the block
//! back. No copy and no system call per frame, and a kernel timestamp on
//! each. Field offsets follow linux/if_packet.h (tpacket_block_desc with
//! tpacket_hdr_v1, tpacket3_hdr).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{Ordering, fence};
use std::time::Duration;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
/// Frames larger than this are cut (the snap length): any Ethernet frame
/// with headers fits.
const FRAME_SIZE: usize = 2048;

pub struct Ring {
    fd: OwnedFd,
    map: *mut u8,
    len: usize,
    block_size: usize,
    blocks: usize,
    current: usize,
    ifindex: i32,
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialised T whose size is passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
}

impl Ring {
    /// Opens a ring of `blocks` blocks of `block_size` bytes (a multiple of
    /// the page size) on `ifname` in the calling thread's namespace.
    pub fn open(ifname: &str, block_size: usize, blocks: usize) -> io::Result<Ring> {
        let page = 4096usize;
        let block_size = block_size.max(page).div_ceil(page) * page;
        let blocks = blocks.max(1);
        let name = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket takes plain integers; the descriptor is owned below.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(all),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
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
            ifindex: ifindex as i32,
        };
        // SAFETY: sockaddr_ll is plain data; zeroed is valid before filling it.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = all;
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

    /// Attaches a classic BPF filter in the kernel that keeps only what the
    /// tracker can use: IPv4 TCP and ICMP, IPv6 TCP and ICMPv6 (and IPv6
    /// with extension headers, which user space walks), and tagged, MPLS or
    /// PPPoE frames, which are passed whole to be decoded in user space.
    /// Everything else (ARP, UDP, ...) never reaches the ring.
    pub fn filter_handshake_traffic(&self) -> io::Result<()> {
        let prog = handshake_filter();
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

    /// Waits up to `timeout` for the next block, calls `f(ts_ns, frame)` for
    /// each of its frames, hands it back, and returns how many there were.
    pub fn next_block(
        &mut self,
        timeout: Duration,
        f: &mut dyn FnMut(i64, &[u8]),
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
            if off + 32 > self.block_size {
                break;
            }
            // SAFETY: `off` was checked against the block size above.
            let hdr = unsafe { block.add(off) };
            let sec = read_u32(hdr, 4);
            let nsec = read_u32(hdr, 8);
            let snap = read_u32(hdr, 12) as usize;
            // SAFETY: tp_mac is a u16 at offset 24 of the frame header.
            let mac = unsafe { std::ptr::read_unaligned(hdr.add(24).cast::<u16>()) } as usize;
            if off + mac + snap <= self.block_size {
                // SAFETY: the frame's bytes lie inside the block (checked),
                // and the kernel does not touch a block owned by the user.
                let frame = unsafe { std::slice::from_raw_parts(hdr.add(mac), snap) };
                f(i64::from(sec) * 1_000_000_000 + i64::from(nsec), frame);
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

/// The filter program of [`Ring::filter_handshake_traffic`].
fn handshake_filter() -> Vec<libc::sock_filter> {
    // Classic BPF opcodes (linux/filter.h).
    const LD_H_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
    const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    // Indices: ACCEPT is the second-last instruction, DROP the last; jump
    // offsets are relative to the next instruction.
    let mut p = vec![
        op(LD_H_ABS, 0, 0, 12),  // 0: ethertype
        op(JEQ_K, 0, 1, 0x0800), // 1: IPv4 -> 2, else 3
        op(0x05, 0, 0, 0),       // 2: ja to the IPv4 block (patched)
        op(JEQ_K, 0, 1, 0x86dd), // 3: IPv6 -> 4, else 5
        op(0x05, 0, 0, 0),       // 4: ja to the IPv6 block (patched)
    ];
    // Tagged, MPLS, PPPoE, FabricPath: accept, decoded in user space.
    let pass_whole = [0x8100u32, 0x88a8, 0x9100, 0x8847, 0x8848, 0x8864, 0x8903];
    let pass_at = p.len();
    for e in pass_whole {
        p.push(op(JEQ_K, 0, 0, e)); // jt patched to ACCEPT
    }
    p.push(op(0x05, 0, 0, 0)); // ja DROP (patched)
    let v4_at = p.len();
    p.push(op(LD_B_ABS, 0, 0, 23)); // IPv4 protocol
    p.push(op(JEQ_K, 0, 0, 6)); // TCP -> ACCEPT (patched)
    p.push(op(JEQ_K, 0, 0, 1)); // ICMP -> ACCEPT (patched)
    p.push(op(0x05, 0, 0, 0)); // ja DROP (patched)
    let v6_at = p.len();
    p.push(op(LD_B_ABS, 0, 0, 20)); // IPv6 next header
    let v6_accept = [6u32, 58, 0, 43, 44, 51, 60];
    for nh in v6_accept {
        p.push(op(JEQ_K, 0, 0, nh)); // -> ACCEPT (patched)
    }
    p.push(op(0x05, 0, 0, 0)); // ja DROP (patched)
    let accept = p.len();
    p.push(op(RET_K, 0, 0, 262_144));
    let drop = p.len();
    p.push(op(RET_K, 0, 0, 0));
    // Patch the jumps now that the targets are known.
    let rel = |from: usize, to: usize| (to - from - 1) as u32;
    p[2].k = rel(2, v4_at);
    p[4].k = rel(4, v6_at);
    let patch_to_accept = |p: &mut [libc::sock_filter], range: std::ops::Range<usize>| {
        for i in range {
            p[i].jt = rel(i, accept) as u8;
        }
    };
    patch_to_accept(&mut p, pass_at..pass_at + pass_whole.len());
    let j = pass_at + pass_whole.len();
    p[j].k = rel(j, drop);
    patch_to_accept(&mut p, v4_at + 1..v4_at + 3);
    p[v4_at + 3].k = rel(v4_at + 3, drop);
    patch_to_accept(&mut p, v6_at + 1..v6_at + 1 + v6_accept.len());
    let j = v6_at + 1 + v6_accept.len();
    p[j].k = rel(j, drop);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small interpreter for the few opcodes the filter uses, so the
    /// program is checked without a kernel.
    fn run(prog: &[libc::sock_filter], pkt: &[u8]) -> u32 {
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                0x28 => {
                    a = u32::from(u16::from_be_bytes([
                        pkt[i.k as usize],
                        pkt[i.k as usize + 1],
                    ]))
                }
                0x30 => a = u32::from(pkt[i.k as usize]),
                0x15 => pc += usize::from(if a == i.k { i.jt } else { i.jf }),
                0x05 => pc += i.k as usize,
                0x06 => return i.k,
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn frame(ethertype: u16, proto_at: usize, proto: u8) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        f[proto_at] = proto;
        f
    }

    #[test]
    fn keeps_tcp_and_icmp_and_tagged_frames_drops_the_rest() {
        let p = handshake_filter();
        assert!(run(&p, &frame(0x0800, 23, 6)) > 0, "IPv4 TCP");
        assert!(run(&p, &frame(0x0800, 23, 1)) > 0, "IPv4 ICMP");
        assert_eq!(run(&p, &frame(0x0800, 23, 17)), 0, "IPv4 UDP");
        assert!(run(&p, &frame(0x86dd, 20, 6)) > 0, "IPv6 TCP");
        assert!(run(&p, &frame(0x86dd, 20, 58)) > 0, "ICMPv6");
        assert!(
            run(&p, &frame(0x86dd, 20, 0)) > 0,
            "IPv6 hop-by-hop: walked in user space"
        );
        assert_eq!(run(&p, &frame(0x86dd, 20, 17)), 0, "IPv6 UDP");
        assert!(run(&p, &frame(0x8100, 23, 0)) > 0, "802.1Q");
        assert!(run(&p, &frame(0x8864, 23, 0)) > 0, "PPPoE");
        assert_eq!(run(&p, &frame(0x0806, 23, 6)), 0, "ARP");
    }
}
