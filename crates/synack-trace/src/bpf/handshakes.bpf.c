// SPDX-License-Identifier: GPL-2.0
// What user space needs to make handshake records of this host, as one
// event layout (struct event, decoded by src/event.rs), from tracepoints
// only (kernels built without kprobes or BPF trampolines have them):
//
//   STATE      a TCP state change that starts or decides an attempt
//              (sock:inet_sock_set_state): a connect, its end, a connection
//              made on a listener, the close of one never accepted. The
//              socket, both ends, the states, its pending error, its
//              retransmissions and smoothed RTT, and the process in whose
//              context it ran (a connect() runs in the caller's).
//   ICMP_ERROR an ICMP destination unreachable about a TCP segment,
//              received (skb:consume_skb after icmp_rcv): the connection's
//              ends from the quoted headers, type and code, and the sender.
//              The socket's own error may be read and cleared by the
//              application before it closes.
//   SYNACK_RT  a SYN-ACK sent again (tcp:tcp_retransmit_synack), with the
//              listener.
//   ACCEPTED   accept() or accept4() returned a TCP connection
//              (syscalls:sys_exit_accept*), in the acceptor's context.
//   DROP       a SYN or SYN-ACK the kernel dropped: skb:kfree_skb with the
//              kernel's reason; and a SYN a listener refused because its
//              accept queue (or, with SYN cookies off, its SYN queue) was
//              full, which the kernel frees as consumed: skb:consume_skb of
//              a SYN for a listener whose queue is full.
//
// Listeners are learnt as they appear (listen()), when a connection
// completes on them (sock:sk_data_ready) and when they send a SYN-ACK
// again: one per port and network namespace (the last seen).
//
// Events that find the ring buffer full are counted in `lost_events`.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define KIND_STATE 0
#define KIND_ICMP_ERROR 1
#define KIND_SYNACK_RT 2
#define KIND_ACCEPTED 3
#define KIND_DROP 4

// Drops the kernel gives no reason for (negative, beside its own).
#define DROP_ACCEPT_QUEUE_FULL_SYN -1
#define DROP_SYN_QUEUE_FULL -2

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define IPPROTO_ICMP_V4 1
#define IPPROTO_ICMP_V6 58

struct event {
    __u64 ts_ns;
    __u64 skaddr;
    __u64 cgroup;
    __u64 aux;
    __u32 pid;
    __u32 total_retrans;
    __u32 netns;
    __u32 srtt_us;
    __s32 oldstate;
    __s32 newstate;
    __s32 value;
    __u16 family;
    __u16 sport;
    __u16 dport;
    __u16 kind;
    __u8 saddr[16];
    __u8 daddr[16];
    char comm[16];
    __u8 tcp_flags;
    __u8 pad[3];
    // ICMP_ERROR: the sender of the ICMP message.
    __u8 from[16];
};

_Static_assert(sizeof(struct event) == 136, "src/event.rs decodes 136 bytes");

#define RING_BYTES (1 << 24)

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, RING_BYTES);
} events SEC(".maps");

// Connections made on a listener and not yet accepted: their close is an
// event, other sockets' closes are not.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, __u8);
} queued SEC(".maps");

__u64 lost_events = 0;

struct listener_key {
    __u32 netns;
    __u16 port;
    __u16 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct listener_key);
    __type(value, __u64);
} listeners SEC(".maps");

static __always_inline struct event *reserve(__u16 kind)
{
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        __sync_fetch_and_add(&lost_events, 1);
        return 0;
    }
    __builtin_memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->ts_ns = bpf_ktime_get_ns();
    e->cgroup = bpf_get_current_cgroup_id();
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    return e;
}

// Wakes the reader only once a quarter of the ring is full: it reads on a
// short timer otherwise, which spares a wakeup (two context switches) per
// event when connections come fast.
static __always_inline void submit(struct event *e)
{
    __u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > RING_BYTES / 4
                      ? BPF_RB_FORCE_WAKEUP
                      : BPF_RB_NO_WAKEUP;
    bpf_ringbuf_submit(e, flags);
}

static __always_inline __u32 netns_of(const struct sock *sk)
{
    return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

// Both ends of a socket, local first.
static __always_inline void ends_of(struct event *e, const struct sock *sk)
{
    e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
    e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
    e->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (e->family == AF_INET) {
        BPF_CORE_READ_INTO(e->saddr, sk, __sk_common.skc_rcv_saddr);
        BPF_CORE_READ_INTO(e->daddr, sk, __sk_common.skc_daddr);
    } else {
        BPF_CORE_READ_INTO(e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO(e->daddr, sk, __sk_common.skc_v6_daddr);
    }
}

// A received packet's namespace: its device's, or (TCP clears the device
// of a packet it has taken) its route's device's.
static __always_inline __u32 netns_of_skb(struct sk_buff *skb)
{
    __u32 netns = BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
    if (netns)
        return netns;
    struct dst_entry *dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
    return BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
}

static __always_inline struct listener_key listener_key(__u32 netns, __u16 port)
{
    struct listener_key k = {.netns = netns, .port = port, .pad = 0};
    return k;
}

static __always_inline void learn_listener(const struct sock *sk)
{
    struct listener_key k = listener_key(netns_of(sk), BPF_CORE_READ(sk, __sk_common.skc_num));
    __u64 v = (__u64)sk;
    // Every connection made wakes its listener: write only what changed.
    __u64 *known = bpf_map_lookup_elem(&listeners, &k);
    if (!known || *known != v)
        bpf_map_update_elem(&listeners, &k, &v, BPF_ANY);
}

// The sender and receiver of a TCP packet from its headers (saddr/sport
// the sender's) and its flags; 0 when it is not TCP over IP.
static __always_inline int packet_of(struct event *e, struct sk_buff *skb, __u16 protocol)
{
    unsigned char *head = BPF_CORE_READ(skb, head);
    __u16 network = BPF_CORE_READ(skb, network_header);
    __u32 transport;
    if (protocol == ETH_P_IP) {
        struct iphdr ip;
        if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network))
            return 0;
        if (ip.protocol != IPPROTO_TCP)
            return 0;
        e->family = AF_INET;
        __builtin_memcpy(e->saddr, &ip.saddr, 4);
        __builtin_memcpy(e->daddr, &ip.daddr, 4);
        transport = network + ip.ihl * 4;
    } else if (protocol == ETH_P_IPV6) {
        struct ipv6hdr ip6;
        if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network))
            return 0;
        // Extension headers before TCP are not followed.
        if (ip6.nexthdr != IPPROTO_TCP)
            return 0;
        e->family = AF_INET6;
        __builtin_memcpy(e->saddr, &ip6.saddr, 16);
        __builtin_memcpy(e->daddr, &ip6.daddr, 16);
        transport = network + sizeof(ip6);
    } else {
        return 0;
    }
    struct tcphdr tcp;
    if (bpf_probe_read_kernel(&tcp, sizeof(tcp), head + transport))
        return 0;
    e->sport = bpf_ntohs(tcp.source);
    e->dport = bpf_ntohs(tcp.dest);
    e->tcp_flags = ((__u8 *)&tcp)[13];
    return 1;
}

SEC("tracepoint/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    struct sock *sk = (struct sock *)ctx->skaddr;
    __u64 key = (__u64)sk;
    int old = ctx->oldstate, new = ctx->newstate;
    if (new == TCP_LISTEN) {
        learn_listener(sk);
        return 0;
    }
    if (old == TCP_LISTEN && new == TCP_CLOSE) {
        struct listener_key k = listener_key(netns_of(sk), ctx->sport);
        __u64 *known = bpf_map_lookup_elem(&listeners, &k);
        if (known && *known == (__u64)sk)
            bpf_map_delete_elem(&listeners, &k);
        return 0;
    }
    // Only the changes that start or decide an attempt go to user space:
    // a connect, its end, a connection made on a listener, and the close
    // of one still waiting to be accepted.
    if (old == TCP_SYN_RECV && new == TCP_ESTABLISHED) {
        __u8 one = 1;
        bpf_map_update_elem(&queued, &key, &one, BPF_ANY);
    } else if (new == TCP_CLOSE && old != TCP_SYN_SENT) {
        if (bpf_map_delete_elem(&queued, &key))
            return 0;
    } else if (!(old == TCP_CLOSE && new == TCP_SYN_SENT) && old != TCP_SYN_SENT) {
        return 0;
    }
    struct event *e = reserve(KIND_STATE);
    if (!e)
        return 0;
    e->skaddr = (__u64)ctx->skaddr;
    e->netns = netns_of(sk);
    e->total_retrans = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
    e->srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
    e->family = ctx->family;
    e->sport = ctx->sport;
    e->dport = ctx->dport;
    e->oldstate = ctx->oldstate;
    e->newstate = ctx->newstate;
    // The error a connect() returns; an ICMP error may be left soft.
    e->value = BPF_CORE_READ(sk, sk_err);
    if (!e->value)
        e->value = BPF_CORE_READ(sk, sk_err_soft);
    // Tracepoint fields at a computed offset are read through the helper
    // (the verifier refuses a modified context pointer).
    if (ctx->family == AF_INET) {
        bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
        bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
    } else {
        bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
        bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
    }
    submit(e);
    return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int on_synack_retransmit(struct trace_event_raw_tcp_retransmit_synack *ctx)
{
    struct event *e = reserve(KIND_SYNACK_RT);
    if (!e)
        return 0;
    const struct sock *listener = ctx->skaddr;
    learn_listener(listener);
    e->skaddr = (__u64)ctx->skaddr;
    e->aux = (__u64)ctx->req;
    e->netns = netns_of(listener);
    e->family = ctx->family;
    e->sport = ctx->sport;
    e->dport = ctx->dport;
    if (ctx->family == AF_INET) {
        bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
        bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
    } else {
        bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
        bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
    }
    submit(e);
    return 0;
}

SEC("tracepoint/sock/sk_data_ready")
int on_data_ready(struct trace_event_raw_sk_data_ready *ctx)
{
    if (ctx->protocol != IPPROTO_TCP)
        return 0;
    const struct sock *sk = ctx->skaddr;
    if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_LISTEN)
        learn_listener(sk);
    return 0;
}

// The fd accept() returned, to its socket (task->files->fdt->fd[fd]).
static __always_inline int accepted(long fd)
{
    if (fd < 0)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
    struct file *file = 0;
    if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
        return 0;
    struct socket *sock = BPF_CORE_READ(file, private_data);
    struct sock *child = BPF_CORE_READ(sock, sk);
    if (!child || BPF_CORE_READ(child, sk_protocol) != IPPROTO_TCP)
        return 0;
    __u64 key = (__u64)child;
    if (bpf_map_delete_elem(&queued, &key))
        return 0;
    struct event *e = reserve(KIND_ACCEPTED);
    if (!e)
        return 0;
    e->skaddr = (__u64)child;
    e->netns = netns_of(child);
    ends_of(e, child);
    submit(e);
    return 0;
}

struct sys_exit_ctx {
    __u64 common;
    int syscall_nr;
    int pad;
    long ret;
};

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4(struct sys_exit_ctx *ctx)
{
    return accepted(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept(struct sys_exit_ctx *ctx)
{
    return accepted(ctx->ret);
}

SEC("tracepoint/skb/kfree_skb")
int on_drop(struct trace_event_raw_kfree_skb *ctx)
{
    __u16 protocol = ctx->protocol;
    if (protocol != ETH_P_IP && protocol != ETH_P_IPV6)
        return 0;
    struct event probe = {};
    struct sk_buff *skb = ctx->skbaddr;
    if (!packet_of(&probe, skb, protocol) || !(probe.tcp_flags & TCP_FLAG_SYN))
        return 0;
    struct event *e = reserve(KIND_DROP);
    if (!e)
        return 0;
    e->family = probe.family;
    e->sport = probe.sport;
    e->dport = probe.dport;
    e->tcp_flags = probe.tcp_flags;
    __builtin_memcpy(e->saddr, probe.saddr, 16);
    __builtin_memcpy(e->daddr, probe.daddr, 16);
    e->value = ctx->reason;
    e->aux = (__u64)ctx->location;
    e->skaddr = (__u64)ctx->rx_sk;
    e->netns = netns_of_skb(skb);
    submit(e);
    return 0;
}

static __always_inline int accept_queue_full(const struct sock *sk)
{
    return BPF_CORE_READ(sk, sk_ack_backlog) > BPF_CORE_READ(sk, sk_max_ack_backlog);
}

// A SYN consumed at a listener whose accept queue is full was refused
// (tcp_conn_request counts it in ListenOverflows and frees it as
// consumed); so was one that found the SYN queue full with SYN cookies
// off (RFC 4987 section 3.6). The queues are read right after the check,
// in the same softirq: an accept() on another CPU in between can hide one.
static __always_inline int syn_consumed(struct event *probe, struct sk_buff *skb)
{
    __u32 netns = netns_of_skb(skb);
    struct listener_key k = listener_key(netns, probe->dport);
    __u64 *known = bpf_map_lookup_elem(&listeners, &k);
    if (!known)
        return 0;
    const struct sock *sk = (const struct sock *)*known;
    int why;
    const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
    int syn_queue = BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter);
    __u8 cookies = BPF_CORE_READ(sk, __sk_common.skc_net.net, ipv4.sysctl_tcp_syncookies);
    if (syn_queue > (int)BPF_CORE_READ(sk, sk_max_ack_backlog) && !cookies)
        why = DROP_SYN_QUEUE_FULL;
    else if (accept_queue_full(sk))
        why = DROP_ACCEPT_QUEUE_FULL_SYN;
    else
        return 0;
    struct event *e = reserve(KIND_DROP);
    if (!e)
        return 0;
    e->family = probe->family;
    e->sport = probe->sport;
    e->dport = probe->dport;
    e->tcp_flags = probe->tcp_flags;
    __builtin_memcpy(e->saddr, probe->saddr, 16);
    __builtin_memcpy(e->daddr, probe->daddr, 16);
    e->skaddr = *known;
    e->netns = netns;
    e->value = why;
    submit(e);
    return 0;
}

// An ICMP destination unreachable that quotes a TCP segment: the quoted
// headers are the connection's (its source is this host's end).
static __always_inline int icmp_consumed(struct sk_buff *skb, __u16 protocol)
{
    unsigned char *head = BPF_CORE_READ(skb, head);
    __u16 network = BPF_CORE_READ(skb, network_header);
    struct event *e;
    if (protocol == ETH_P_IP) {
        struct iphdr outer, inner;
        __u8 icmp[8];
        struct {
            __be16 source;
            __be16 dest;
        } ports;
        if (bpf_probe_read_kernel(&outer, sizeof(outer), head + network) ||
            outer.protocol != IPPROTO_ICMP_V4)
            return 0;
        unsigned char *at = head + network + outer.ihl * 4;
        if (bpf_probe_read_kernel(icmp, sizeof(icmp), at) || icmp[0] != 3)
            return 0;
        if (bpf_probe_read_kernel(&inner, sizeof(inner), at + 8) || inner.protocol != IPPROTO_TCP)
            return 0;
        if (bpf_probe_read_kernel(&ports, sizeof(ports), at + 8 + inner.ihl * 4))
            return 0;
        e = reserve(KIND_ICMP_ERROR);
        if (!e)
            return 0;
        e->family = AF_INET;
        __builtin_memcpy(e->saddr, &inner.saddr, 4);
        __builtin_memcpy(e->daddr, &inner.daddr, 4);
        __builtin_memcpy(e->from, &outer.saddr, 4);
        e->sport = bpf_ntohs(ports.source);
        e->dport = bpf_ntohs(ports.dest);
        e->value = (icmp[0] << 8) | icmp[1];
    } else {
        struct ipv6hdr outer, inner;
        __u8 icmp[8];
        struct {
            __be16 source;
            __be16 dest;
        } ports;
        if (bpf_probe_read_kernel(&outer, sizeof(outer), head + network) ||
            outer.nexthdr != IPPROTO_ICMP_V6)
            return 0;
        unsigned char *at = head + network + sizeof(outer);
        if (bpf_probe_read_kernel(icmp, sizeof(icmp), at) || icmp[0] != 1)
            return 0;
        if (bpf_probe_read_kernel(&inner, sizeof(inner), at + 8) || inner.nexthdr != IPPROTO_TCP)
            return 0;
        if (bpf_probe_read_kernel(&ports, sizeof(ports), at + 8 + sizeof(inner)))
            return 0;
        e = reserve(KIND_ICMP_ERROR);
        if (!e)
            return 0;
        e->family = AF_INET6;
        __builtin_memcpy(e->saddr, &inner.saddr, 16);
        __builtin_memcpy(e->daddr, &inner.daddr, 16);
        __builtin_memcpy(e->from, &outer.saddr, 16);
        e->sport = bpf_ntohs(ports.source);
        e->dport = bpf_ntohs(ports.dest);
        e->value = (icmp[0] << 8) | icmp[1];
    }
    e->netns = netns_of_skb(skb);
    submit(e);
    return 0;
}

SEC("tracepoint/skb/consume_skb")
int on_consume(struct trace_event_raw_consume_skb *ctx)
{
    struct sk_buff *skb = ctx->skbaddr;
    __u16 protocol = bpf_ntohs(BPF_CORE_READ(skb, protocol));
    if (protocol != ETH_P_IP && protocol != ETH_P_IPV6)
        return 0;
    struct event probe = {};
    if (packet_of(&probe, skb, protocol)) {
        if ((probe.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
            return syn_consumed(&probe, skb);
        return 0;
    }
    return icmp_consumed(skb, protocol);
}

char LICENSE[] SEC("license") = "GPL";
