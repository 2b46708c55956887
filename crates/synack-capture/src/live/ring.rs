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
