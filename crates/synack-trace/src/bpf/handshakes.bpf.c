// SPDX-License-Identifier: GPL-2.0
// What user space needs to make handshake records of this host, as one
// event layout (struct event, decoded by src/event.rs), from tracepoints
// only (kernels built without kprobes or BPF trampolines have them); raw
// ones where they fire for much more than handshakes (state changes,
// data ready, consumed packets), which skip the formatting of a trace
// record. Each event carries what user space needs of its kind and no
// more: every read of kernel memory is a helper call, most of the cost.
//
//   STATE      a TCP state change that starts or decides an attempt
//              (sock:inet_sock_set_state): a connect, its end, a connection
//              made on a listener, the close of one never accepted. The
//              socket and the states; what each needs of the ends, the
//              namespace, the pending error, the retransmissions and the
//              smoothed RTT; the process for a connect() (it runs in the
//              caller's context; the rest in softirq). See src/event.rs.
//   ICMP_ERROR an ICMP destination unreachable about a TCP segment,
//              received (skb:consume_skb after icmp_rcv): the connection's
//              ends from the quoted headers, type and code, and the sender.
//              The socket's own error may be read and cleared by the
//              application before it closes.
//   SYNACK_RT  a SYN-ACK sent again (tcp:tcp_retransmit_synack), with the
//              listener.
//   ACCEPTED   accept() or accept4() returned a TCP connection
//              (syscalls:sys_exit_accept*): the socket and the acceptor.
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
#define TCP_CLOSE_WAIT 8
#define TCP_LISTEN 10
#define IPPROTO_ICMP_V4 1
#define IPPROTO_ICMP_V6 58

// Events are as long as their kind needs: writing them to the ring,
// whose lines the reader then takes to its own CPU, costs by the byte.
struct event {
    __u64 ts_ns;
    __u64 skaddr;
    __u16 kind;
    __u16 family;
    __u16 sport;
    __u16 dport;
    __s32 value;
    __u32 netns;
    __u32 total_retrans;
    __u32 srtt_us;
    __u8 oldstate;
    __u8 newstate;
    __u8 tcp_flags;
    __u8 pad;
    __u32 pid;
    // EVENT_BRIEF ends here: a connect's end, a close.
    __u8 saddr[16];
    __u8 daddr[16];
    // EVENT_ENDS: a connection made, a drop, a SYN-ACK sent again.
    __u64 cgroup;
    char comm[16];
    // EVENT_PROCESS: a connect, an accept.
    // ICMP_ERROR: the sender of the ICMP message.
    __u8 from[16];
};

#define EVENT_BRIEF 48
#define EVENT_ENDS 80
#define EVENT_PROCESS 104
#define EVENT_FULL 120

_Static_assert(sizeof(struct event) == EVENT_FULL, "src/event.rs decodes these lengths");
_Static_assert(__builtin_offsetof(struct event, saddr) == EVENT_BRIEF, "");
_Static_assert(__builtin_offsetof(struct event, cgroup) == EVENT_ENDS, "");
_Static_assert(__builtin_offsetof(struct event, from) == EVENT_PROCESS, "");

#define RING_BYTES (1 << 24)

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, RING_BYTES);
} events SEC(".maps");

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

// `length` is one of the EVENT_ lengths, a constant at each call (the
// verifier holds the program to it).
static __always_inline struct event *reserve(__u16 kind, __u32 length)
{
    struct event *e = bpf_ringbuf_reserve(&events, length, 0);
    if (!e) {
        __sync_fetch_and_add(&lost_events, 1);
        return 0;
    }
    __builtin_memset(e, 0, length);
    e->kind = kind;
    e->ts_ns = bpf_ktime_get_ns();
    return e;
}

// The process in whose context the event came: only a connect() and an
// accept() run in one that user space uses (the rest run in softirq, in
// whichever task was interrupted), so only those pay for it.
static __always_inline void process_of(struct event *e)
{
    e->cgroup = bpf_get_current_cgroup_id();
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
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

static __always_inline int is_tcp(const struct sock *sk)
{
    return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

// Each read of kernel memory is a helper call, most of what these
// programs cost: fields the kernel keeps side by side are read whole
// where the running kernel's layout (CO-RE offsets, fixed when the
// program loads) has them so, and one by one otherwise.
#define ADJACENT(type, first, second, distance) \
    (bpf_core_field_offset(type, second) == bpf_core_field_offset(type, first) + (distance))

// The head of struct sock_common: both ends (IPv4 and IPv6), the
// family, the state and the namespace, 88 bytes read at once.
struct sock_head {
    __be32 daddr;
    __be32 rcv_saddr;
    __u32 hash;
    __be16 dport;
    __u16 num;
    __u16 family;
    __u8 state;
    __u8 between[29];
    struct net *net;
    __u8 v6_daddr[16];
    __u8 v6_rcv_saddr[16];
};

_Static_assert(sizeof(struct sock_head) == 88, "the layout ADJACENT checks below");

static __always_inline void sock_head_of(struct sock_head *h, const struct sock *sk)
{
    if (ADJACENT(struct sock_common, skc_addrpair, skc_portpair, 12) &&
        ADJACENT(struct sock_common, skc_addrpair, skc_family, 16) &&
        ADJACENT(struct sock_common, skc_addrpair, skc_net, 48) &&
        ADJACENT(struct sock_common, skc_addrpair, skc_v6_daddr, 56) &&
        ADJACENT(struct sock_common, skc_addrpair, skc_v6_rcv_saddr, 72)) {
        bpf_probe_read_kernel(h, sizeof(*h),
                              __builtin_preserve_access_index(&sk->__sk_common.skc_addrpair));
    } else {
        h->daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
        h->rcv_saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
        h->dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
        h->num = BPF_CORE_READ(sk, __sk_common.skc_num);
        h->family = BPF_CORE_READ(sk, __sk_common.skc_family);
        h->net = BPF_CORE_READ(sk, __sk_common.skc_net.net);
        BPF_CORE_READ_INTO(&h->v6_daddr, sk, __sk_common.skc_v6_daddr);
        BPF_CORE_READ_INTO(&h->v6_rcv_saddr, sk, __sk_common.skc_v6_rcv_saddr);
    }
}

// Both ends of a socket, local first, and its namespace.
static __always_inline void ends_of(struct event *e, const struct sock *sk)
{
    struct sock_head h;
    sock_head_of(&h, sk);
    e->family = h.family;
    e->sport = h.num;
    e->dport = bpf_ntohs(h.dport);
    if (h.family == AF_INET) {
        __builtin_memcpy(e->saddr, &h.rcv_saddr, 4);
        __builtin_memcpy(e->daddr, &h.daddr, 4);
    } else {
        __builtin_memcpy(e->saddr, h.v6_rcv_saddr, 16);
        __builtin_memcpy(e->daddr, h.v6_daddr, 16);
    }
    const struct net *net = h.net;
    e->netns = BPF_CORE_READ(net, ns.inum);
}

// A received packet's namespace: its route's device's (TCP clears the
// device of a packet it has taken), or its device's.
static __always_inline __u32 netns_of_skb(struct sk_buff *skb)
{
    struct dst_entry *dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
    if (dst)
        return BPF_CORE_READ(dst, dev, nd_net.net, ns.inum);
    return BPF_CORE_READ(skb, dev, nd_net.net, ns.inum);
}

// The same listeners by socket: a wakeup of one already known costs a
// lookup, not the reads that make its key.
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __u8);
} listening SEC(".maps");

static __always_inline struct listener_key listener_key(__u32 netns, __u16 port)
{
    struct listener_key k = {.netns = netns, .port = port, .pad = 0};
    return k;
}

// A listener's key: its namespace and port.
static __always_inline struct listener_key listener_key_of(const struct sock *sk)
{
    return listener_key(netns_of(sk), BPF_CORE_READ(sk, __sk_common.skc_num));
}

static __always_inline void learn_listener(const struct sock *sk)
{
    __u64 v = (__u64)sk;
    if (bpf_map_lookup_elem(&listening, &v) || !is_tcp(sk))
        return;
    struct listener_key k = listener_key_of(sk);
    __u8 one = 1;
    bpf_map_update_elem(&listeners, &k, &v, BPF_ANY);
    bpf_map_update_elem(&listening, &v, &one, BPF_ANY);
}

static __always_inline void forget_listener(const struct sock *sk)
{
    __u64 v = (__u64)sk;
    if (bpf_map_delete_elem(&listening, &v))
        return;
    struct listener_key k = listener_key_of(sk);
    __u64 *known = bpf_map_lookup_elem(&listeners, &k);
    if (known && *known == v)
        bpf_map_delete_elem(&listeners, &k);
}

// Where a packet's headers are: struct sk_buff keeps the protocol, the
// header offsets and the buffer's start together.
struct skb_head {
    __be16 protocol;
    __u16 transport_header;
    __u16 network_header;
    __u16 mac_header;
    __u32 tail;
    __u32 end;
    unsigned char *head;
};

// The packet's network header, and its protocol (host order; 0 when it is
// not IP).
static __always_inline unsigned char *network_of(struct sk_buff *skb, __u16 *protocol)
{
    struct skb_head h = {};
    if (ADJACENT(struct sk_buff, protocol, network_header, 4) &&
        ADJACENT(struct sk_buff, protocol, head, 16)) {
        bpf_probe_read_kernel(&h, sizeof(h), __builtin_preserve_access_index(&skb->protocol));
    } else {
        h.protocol = BPF_CORE_READ(skb, protocol);
        h.network_header = BPF_CORE_READ(skb, network_header);
        h.head = BPF_CORE_READ(skb, head);
    }
    *protocol = bpf_ntohs(h.protocol);
    if (*protocol != ETH_P_IP && *protocol != ETH_P_IPV6)
        return 0;
    return h.head + h.network_header;
}

#define PACKET_OTHER 0
#define PACKET_TCP 1
#define PACKET_ICMP 2

// A packet's IP and TCP headers, read at once in the usual case (IPv4
// without options, IPv6 without extension headers).
union ip_tcp {
    struct {
        struct iphdr ip;
        struct tcphdr tcp;
    } v4;
    struct {
        struct ipv6hdr ip;
        struct tcphdr tcp;
    } v6;
};

// The sender and receiver of a TCP packet from its headers (saddr/sport
// the sender's) and its flags. PACKET_ICMP for an ICMP message, where
// nothing is set.
static __always_inline int packet_at(struct event *e, unsigned char *network, __u16 protocol)
{
    union ip_tcp h;
    struct tcphdr *tcp;
    if (protocol == ETH_P_IP) {
        if (bpf_probe_read_kernel(&h, sizeof(h.v4), network))
            return PACKET_OTHER;
        if (h.v4.ip.protocol == IPPROTO_ICMP_V4)
            return PACKET_ICMP;
        if (h.v4.ip.protocol != IPPROTO_TCP)
            return PACKET_OTHER;
        if (h.v4.ip.ihl != 5 &&
            bpf_probe_read_kernel(&h.v4.tcp, sizeof(h.v4.tcp), network + h.v4.ip.ihl * 4))
            return PACKET_OTHER;
        e->family = AF_INET;
        __builtin_memcpy(e->saddr, &h.v4.ip.saddr, 4);
        __builtin_memcpy(e->daddr, &h.v4.ip.daddr, 4);
        tcp = &h.v4.tcp;
    } else {
        if (bpf_probe_read_kernel(&h, sizeof(h.v6), network))
            return PACKET_OTHER;
        if (h.v6.ip.nexthdr == IPPROTO_ICMP_V6)
            return PACKET_ICMP;
        // Extension headers before TCP are not followed.
        if (h.v6.ip.nexthdr != IPPROTO_TCP)
            return PACKET_OTHER;
        e->family = AF_INET6;
        __builtin_memcpy(e->saddr, &h.v6.ip.saddr, 16);
        __builtin_memcpy(e->daddr, &h.v6.ip.daddr, 16);
        tcp = &h.v6.tcp;
    }
    e->sport = bpf_ntohs(tcp->source);
    e->dport = bpf_ntohs(tcp->dest);
    e->tcp_flags = ((__u8 *)tcp)[13];
    return PACKET_TCP;
}

static __always_inline struct event *state_change(__u64 sk, int old, int new, __u32 length)
{
    struct event *e = reserve(KIND_STATE, length);
    if (e) {
        e->skaddr = sk;
        e->oldstate = old;
        e->newstate = new;
    }
    return e;
}

// A raw tracepoint: the kernel passes the socket and the states as they
// are, without first formatting a trace record. Most changes are decided
// from the states alone, before anything is read.
SEC("raw_tp/inet_sock_set_state")
int on_state(struct bpf_raw_tracepoint_args *ctx)
{
    struct sock *sk = (struct sock *)ctx->args[0];
    int old = (int)ctx->args[1], new = (int)ctx->args[2];
    __u64 key = (__u64)sk;
    if (new == TCP_LISTEN) {
        learn_listener(sk);
        return 0;
    }
    if (old == TCP_LISTEN) {
        if (new == TCP_CLOSE)
            forget_listener(sk);
        return 0;
    }
    // Only the changes that start or decide an attempt go to user space:
    // a connect, its end, a connection made on a listener, and the close
    // of one never accepted. Only a connect and a connection made begin a
    // record, and only they ask whether the socket is TCP (SCTP, and DCCP before Linux
    // 6.16, change states through this tracepoint too): the others are of
    // sockets user space already knows, or ignores.
    if (new == TCP_CLOSE && (old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT)) {
        // Never accepted: no struct socket was ever grafted on it (accept()
        // does, in any of its forms). One the application closed has
        // left these states before it was orphaned (tcp_close), or had
        // closed it with a reset before.
        struct event *e;
        if (!BPF_CORE_READ(sk, sk_socket) && (e = state_change(key, old, new, EVENT_BRIEF)))
            submit(e);
        return 0;
    }
    struct event *e;
    if (old == TCP_SYN_SENT) {
        // A connect's end: its local port (chosen after the connect()
        // began), and how it went.
        e = state_change(key, old, new, EVENT_BRIEF);
        if (!e)
            return 0;
        e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
        if (new == TCP_ESTABLISHED) {
            e->srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
        } else {
            // The error a connect() returns; an ICMP error may be left soft.
            e->value = BPF_CORE_READ(sk, sk_err);
            if (!e->value)
                e->value = BPF_CORE_READ(sk, sk_err_soft);
        }
        e->total_retrans = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
    } else if (old == TCP_CLOSE && new == TCP_SYN_SENT) {
        // A connect(), in its caller's context.
        if (!is_tcp(sk) || !(e = state_change(key, old, new, EVENT_PROCESS)))
            return 0;
        ends_of(e, sk);
        process_of(e);
    } else if (old == TCP_SYN_RECV && new == TCP_ESTABLISHED) {
        // A connection made on a listener, in softirq.
        if (!is_tcp(sk) || !(e = state_change(key, old, new, EVENT_ENDS)))
            return 0;
        ends_of(e, sk);
        e->srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
        e->total_retrans = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
    } else {
        return 0;
    }
    submit(e);
    return 0;
}

SEC("tracepoint/tcp/tcp_retransmit_synack")
int on_synack_retransmit(struct trace_event_raw_tcp_retransmit_synack *ctx)
{
    struct event *e = reserve(KIND_SYNACK_RT, EVENT_ENDS);
    if (!e)
        return 0;
    const struct sock *listener = ctx->skaddr;
    learn_listener(listener);
    e->skaddr = (__u64)ctx->skaddr;
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

// Every segment with data on any TCP socket: a raw tracepoint, and one
// read for the sockets that are not listeners.
SEC("raw_tp/sk_data_ready")
int on_data_ready(struct bpf_raw_tracepoint_args *ctx)
{
    const struct sock *sk = (const struct sock *)ctx->args[0];
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
    // Of a connection user space knows from its handshake, or not (made
    // before the trace began): it has the ends.
    if (!child || !is_tcp(child))
        return 0;
    struct event *e = reserve(KIND_ACCEPTED, EVENT_PROCESS);
    if (!e)
        return 0;
    e->skaddr = (__u64)child;
    process_of(e);
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
    if (ctx->protocol != ETH_P_IP && ctx->protocol != ETH_P_IPV6)
        return 0;
    struct sk_buff *skb = ctx->skbaddr;
    __u16 protocol;
    unsigned char *network = network_of(skb, &protocol);
    struct event probe = {};
    if (!network || packet_at(&probe, network, protocol) != PACKET_TCP ||
        !(probe.tcp_flags & TCP_FLAG_SYN))
        return 0;
    struct event *e = reserve(KIND_DROP, EVENT_ENDS);
    if (!e)
        return 0;
    e->family = probe.family;
    e->sport = probe.sport;
    e->dport = probe.dport;
    e->tcp_flags = probe.tcp_flags;
    __builtin_memcpy(e->saddr, probe.saddr, 16);
    __builtin_memcpy(e->daddr, probe.daddr, 16);
    e->value = ctx->reason;
    e->skaddr = (__u64)ctx->rx_sk;
    e->netns = netns_of_skb(skb);
    submit(e);
    return 0;
}

// A listener's queues: the accept queue's length and bound, side by side
// in struct sock.
struct accept_queue {
    __u32 length;
    __u32 bound;
};

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
    struct accept_queue q = {};
    if (ADJACENT(struct sock, sk_ack_backlog, sk_max_ack_backlog, 4)) {
        bpf_probe_read_kernel(&q, sizeof(q), __builtin_preserve_access_index(&sk->sk_ack_backlog));
    } else {
        q.length = BPF_CORE_READ(sk, sk_ack_backlog);
        q.bound = BPF_CORE_READ(sk, sk_max_ack_backlog);
    }
    const struct inet_connection_sock *icsk = (const struct inet_connection_sock *)sk;
    int syn_queue = BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter);
    int why;
    if (syn_queue > (int)q.bound &&
        !BPF_CORE_READ(sk, __sk_common.skc_net.net, ipv4.sysctl_tcp_syncookies))
        why = DROP_SYN_QUEUE_FULL;
    else if (q.length > q.bound)
        why = DROP_ACCEPT_QUEUE_FULL_SYN;
    else
        return 0;
    struct event *e = reserve(KIND_DROP, EVENT_ENDS);
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

// An ICMP destination unreachable (RFC 792 type 3, RFC 4443 type 1) as
// far as the quoted segment's ports, read at once. IPv4 headers with
// options, and IPv6 extension headers, are not followed.
union icmp_error {
    struct {
        struct iphdr outer;
        __u8 icmp[8];
        struct iphdr inner;
        __be16 ports[2];
    } v4;
    struct {
        struct ipv6hdr outer;
        __u8 icmp[8];
        struct ipv6hdr inner;
        __be16 ports[2];
    } v6;
};

// An ICMP destination unreachable that quotes a TCP segment: the quoted
// headers are the connection's (its source is this host's end).
static __always_inline int icmp_consumed(struct sk_buff *skb, unsigned char *network,
                                         __u16 protocol)
{
    union icmp_error m;
    __u8 *icmp, *saddr, *daddr, *from;
    __be16 *ports;
    int v4 = protocol == ETH_P_IP;
    if (v4) {
        if (bpf_probe_read_kernel(&m, sizeof(m.v4), network) || m.v4.outer.ihl != 5 ||
            m.v4.icmp[0] != 3 || m.v4.inner.ihl != 5 || m.v4.inner.protocol != IPPROTO_TCP)
            return 0;
        icmp = m.v4.icmp;
        saddr = (__u8 *)&m.v4.inner.saddr;
        daddr = (__u8 *)&m.v4.inner.daddr;
        from = (__u8 *)&m.v4.outer.saddr;
        ports = m.v4.ports;
    } else {
        if (bpf_probe_read_kernel(&m, sizeof(m.v6), network) || m.v6.icmp[0] != 1 ||
            m.v6.inner.nexthdr != IPPROTO_TCP)
            return 0;
        icmp = m.v6.icmp;
        saddr = (__u8 *)&m.v6.inner.saddr;
        daddr = (__u8 *)&m.v6.inner.daddr;
        from = (__u8 *)&m.v6.outer.saddr;
        ports = m.v6.ports;
    }
    struct event *e = reserve(KIND_ICMP_ERROR, EVENT_FULL);
    if (!e)
        return 0;
    e->family = v4 ? AF_INET : AF_INET6;
    if (v4) {
        __builtin_memcpy(e->saddr, saddr, 4);
        __builtin_memcpy(e->daddr, daddr, 4);
        __builtin_memcpy(e->from, from, 4);
    } else {
        __builtin_memcpy(e->saddr, saddr, 16);
        __builtin_memcpy(e->daddr, daddr, 16);
        __builtin_memcpy(e->from, from, 16);
    }
    e->sport = bpf_ntohs(ports[0]);
    e->dport = bpf_ntohs(ports[1]);
    e->value = (icmp[0] << 8) | icmp[1];
    e->netns = netns_of_skb(skb);
    submit(e);
    return 0;
}

// Every packet freed as consumed, on the whole host: a raw tracepoint,
// and two reads for a packet that is neither a SYN nor an ICMP message.
SEC("raw_tp/consume_skb")
int on_consume(struct bpf_raw_tracepoint_args *ctx)
{
    struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
    __u16 protocol;
    unsigned char *network = network_of(skb, &protocol);
    if (!network)
        return 0;
    struct event probe = {};
    switch (packet_at(&probe, network, protocol)) {
    case PACKET_TCP:
        if ((probe.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
            return syn_consumed(&probe, skb);
        return 0;
    case PACKET_ICMP:
        return icmp_consumed(skb, network, protocol);
    default:
        return 0;
    }
}

char LICENSE[] SEC("license") = "GPL";
