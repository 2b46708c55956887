// SPDX-License-Identifier: GPL-2.0
// Every TCP state change (sock:inet_sock_set_state) with what user space
// needs to make handshake records: the socket, both ends, the states, the
// socket's pending error (the errno a failed connect returns), its
// retransmissions, and the process and cgroup in whose context it ran.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event {
    __u64 ts_ns;
    __u64 skaddr;
    __u64 cgroup;
    __u32 pid;
    __u32 total_retrans;
    __u16 family;
    __u16 sport;
    __u16 dport;
    __u16 pad;
    __s32 oldstate;
    __s32 newstate;
    __s32 sk_err;
    __u8 saddr[16];
    __u8 daddr[16];
    char comm[16];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 22);
} events SEC(".maps");

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 0;
    struct sock *sk = (struct sock *)ctx->skaddr;
    e->ts_ns = bpf_ktime_get_ns();
    e->skaddr = (__u64)ctx->skaddr;
    e->cgroup = bpf_get_current_cgroup_id();
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->total_retrans = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
    e->family = ctx->family;
    e->sport = ctx->sport;
    e->dport = ctx->dport;
    e->pad = 0;
    e->oldstate = ctx->oldstate;
    e->newstate = ctx->newstate;
    // The error a connect() returns; an ICMP error may be left soft (the
    // application read it and closed, or it arrived while the socket was
    // busy).
    e->sk_err = BPF_CORE_READ(sk, sk_err);
    if (!e->sk_err)
        e->sk_err = BPF_CORE_READ(sk, sk_err_soft);
    // Tracepoint fields at a computed offset are read through the helper
    // (the verifier refuses a modified context pointer).
    __builtin_memset(e->saddr, 0, 16);
    __builtin_memset(e->daddr, 0, 16);
    if (ctx->family == 2) {
        bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
        bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
    } else {
        bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
        bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
    }
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    bpf_ringbuf_submit(e, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
