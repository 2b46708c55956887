// SPDX-License-Identifier: GPL-2.0
// What user space needs to make handshake records of this host, as one
// event layout (struct event, decoded by src/event.rs), from tracepoints
// only (kernels built without kprobes or BPF trampolines have them); raw
// ones where they fire for much more than handshakes (state changes,
// data ready, consumed packets), which skip the formatting of a trace
// record. Each event carries what user space needs of its kind and no
// more.
//
//   STATE      a TCP state change that starts or decides an attempt
//              (sock:inet_sock_set_state): a connect, its end, a connection
//              made on a listener, the close of one never accepted or
//              never completed. The
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
//              (syscalls:sys_exit_accept*): the socket, its state and the
//              acceptor.
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

// The ring's size, set by user space before loading (the map's size too).
const volatile __u64 ring_bytes = 1 << 24;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 24);
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
// Read from the task by typed loads (see SOCK below), what the helpers
// bpf_get_current_pid_tgid, _comm and _cgroup_id read, without a call each.
static __always_inline void process_of(struct event *e)
{
    const struct task_struct *task =
        bpf_core_cast((void *)bpf_get_current_task(), struct task_struct);
    e->pid = task->tgid;
    // The command's 16 bytes (TASK_COMM_LEN), NUL-padded, in two loads.
    __u64 *comm = (__u64 *)e->comm;
    comm[0] = *(const __u64 *)&task->comm[0];
    comm[1] = *(const __u64 *)&task->comm[8];
    // The cgroup v2 id: its directory's inode number (cgroup_id()).
    e->cgroup = task->cgroups->dfl_cgrp->kn->id;
}

// Wakes the reader only once a quarter of the ring is full: it reads on a
// short timer otherwise, which spares a wakeup (two context switches) per
// event when connections come fast.
static __always_inline void submit(struct event *e)
{
    __u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > ring_bytes / 4
                      ? BPF_RB_FORCE_WAKEUP
                      : BPF_RB_NO_WAKEUP;
    bpf_ringbuf_submit(e, flags);
}

// Kernel memory is read by plain loads: bpf_core_cast (the kfunc
// bpf_rdonly_cast, Linux 6.2) gives the verifier a pointer's kernel type,
// and each load through it is one instruction that the kernel guards
// against faults (a bad pointer reads as zero), where bpf_probe_read_kernel
// is a helper call: most of what these programs cost when they used it.
// Field offsets are the running kernel's (CO-RE, fixed at load).
#define SOCK(address) bpf_core_cast((void *)(address), struct sock)

static __always_inline __u32 netns_of(const struct sock *sk)
{
    return sk->__sk_common.skc_net.net->ns.inum;
}

static __always_inline int is_tcp(const struct sock *sk)
{
    return sk->sk_protocol == IPPROTO_TCP;
}

// An IPv6 address, as the kernel keeps it, into an event.
static __always_inline void copy_in6(__u8 *to, const struct in6_addr *address)
{
    __u32 *words = (__u32 *)to;
    words[0] = address->in6_u.u6_addr32[0];
    words[1] = address->in6_u.u6_addr32[1];
    words[2] = address->in6_u.u6_addr32[2];
    words[3] = address->in6_u.u6_addr32[3];
}

// Both ends of a socket, local first, and its namespace.
static __always_inline void ends_of(struct event *e, const struct sock *sk)
{
    const struct sock_common *c = &sk->__sk_common;
    e->family = c->skc_family;
    e->sport = c->skc_num;
    e->dport = bpf_ntohs(c->skc_dport);
    if (e->family == AF_INET) {
        *(__u32 *)e->saddr = c->skc_rcv_saddr;
        *(__u32 *)e->daddr = c->skc_daddr;
    } else {
        copy_in6(e->saddr, &c->skc_v6_rcv_saddr);
        copy_in6(e->daddr, &c->skc_v6_daddr);
    }
    e->netns = netns_of(sk);
}

// A received packet's namespace: its route's device's (TCP clears the
// device of a packet it has taken), or its device's.
static __always_inline __u32 netns_of_skb(const struct sk_buff *skb)
{
    unsigned long dst = skb->_skb_refdst & ~1UL;
    if (dst)
        return bpf_core_cast((void *)dst, struct dst_entry)->dev->nd_net.net->ns.inum;
    return skb->dev->nd_net.net->ns.inum;
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
    return listener_key(netns_of(sk), sk->__sk_common.skc_num);
}

// `address` is the socket's (a number: the verifier keeps typed pointers
// out of maps and events).
static __always_inline void learn_listener(__u64 address)
{
    const struct sock *sk = SOCK(address);
    if (bpf_map_lookup_elem(&listening, &address) || !is_tcp(sk))
        return;
    struct listener_key k = listener_key_of(sk);
    __u8 one = 1;
    bpf_map_update_elem(&listeners, &k, &address, BPF_ANY);
    bpf_map_update_elem(&listening, &address, &one, BPF_ANY);
}

static __always_inline void forget_listener(__u64 address)
{
    if (bpf_map_delete_elem(&listening, &address))
        return;
    struct listener_key k = listener_key_of(SOCK(address));
    __u64 *known = bpf_map_lookup_elem(&listeners, &k);
    if (known && *known == address)
        bpf_map_delete_elem(&listeners, &k);
}

// The packet's network header, and its protocol (host order; 0 when it is
// not IP).
static __always_inline unsigned long network_of(const struct sk_buff *skb, __u16 *protocol)
{
    *protocol = bpf_ntohs(skb->protocol);
    if (*protocol != ETH_P_IP && *protocol != ETH_P_IPV6)
        return 0;
    return (unsigned long)skb->head + skb->network_header;
}

#define PACKET_OTHER 0
#define PACKET_TCP 1
#define PACKET_ICMP 2

// The first byte of an IPv4 header: its version, and its length in words
// (RFC 791), a bit field in struct iphdr.
static __always_inline __u32 ipv4_header_bytes(const struct iphdr *ip)
{
    return (*(const __u8 *)ip & 0x0f) * 4;
}

// The sender and receiver of a TCP packet from its headers (saddr/sport
// the sender's) and its flags. PACKET_ICMP for an ICMP message, where
// nothing is set. IPv6 extension headers before TCP are not followed.
static __always_inline int packet_at(struct event *e, unsigned long network, __u16 protocol)
{
    const struct tcphdr *tcp;
    if (protocol == ETH_P_IP) {
        const struct iphdr *ip = bpf_core_cast((void *)network, struct iphdr);
        __u8 next = ip->protocol;
        if (next == IPPROTO_ICMP_V4)
            return PACKET_ICMP;
        if (next != IPPROTO_TCP)
            return PACKET_OTHER;
        e->family = AF_INET;
        *(__u32 *)e->saddr = ip->saddr;
        *(__u32 *)e->daddr = ip->daddr;
        tcp = bpf_core_cast((void *)(network + ipv4_header_bytes(ip)), struct tcphdr);
    } else {
        const struct ipv6hdr *ip = bpf_core_cast((void *)network, struct ipv6hdr);
        __u8 next = ip->nexthdr;
        if (next == IPPROTO_ICMP_V6)
            return PACKET_ICMP;
        if (next != IPPROTO_TCP)
            return PACKET_OTHER;
        e->family = AF_INET6;
        copy_in6(e->saddr, &ip->saddr);
        copy_in6(e->daddr, &ip->daddr);
        tcp = bpf_core_cast((void *)(network + sizeof(struct ipv6hdr)), struct tcphdr);
    }
    e->sport = bpf_ntohs(tcp->source);
    e->dport = bpf_ntohs(tcp->dest);
    // The flags' byte (RFC 9293 section 3.1), bit fields in struct tcphdr.
    e->tcp_flags = *((const __u8 *)tcp + 13);
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
    __u64 key = ctx->args[0];
    int old = (int)ctx->args[1], new = (int)ctx->args[2];
    const struct sock *sk = SOCK(key);
    if (new == TCP_LISTEN) {
        learn_listener(key);
        return 0;
    }
    if (old == TCP_LISTEN) {
        if (new == TCP_CLOSE)
            forget_listener(key);
        return 0;
    }
    // Only the changes that start or decide an attempt go to user space:
    // a connect, its end, a connection made on a listener, and the close
    // of one never accepted. Only a connect and a connection made begin a
    // record, and only they ask whether the socket is TCP (SCTP, and DCCP before Linux
    // 6.16, change states through this tracepoint too): the others are of
    // sockets user space already knows, or ignores.
    if (new == TCP_CLOSE && old == TCP_SYN_RECV) {
        // A connection that never completed: a Fast Open one, accepted
        // or not, or one the kernel could not finish making.
        struct event *e = state_change(key, old, new, EVENT_BRIEF);
        if (e)
            submit(e);
        return 0;
    }
    if (new == TCP_CLOSE && (old == TCP_ESTABLISHED || old == TCP_CLOSE_WAIT)) {
        // Never accepted: no struct socket was ever grafted on it (accept()
        // does, in any of its forms). One the application closed has
        // left these states before it was orphaned (tcp_close), or had
        // closed it with a reset before.
        struct event *e;
        if (!sk->sk_socket && (e = state_change(key, old, new, EVENT_BRIEF)))
            submit(e);
        return 0;
    }
    const struct tcp_sock *tp = bpf_core_cast(sk, struct tcp_sock);
    struct event *e;
    if (old == TCP_SYN_SENT) {
        // A connect's end: its local port (chosen after the connect()
        // began), and how it went.
        e = state_change(key, old, new, EVENT_BRIEF);
        if (!e)
            return 0;
        e->sport = sk->__sk_common.skc_num;
        if (new == TCP_ESTABLISHED) {
            e->srtt_us = tp->srtt_us >> 3;
        } else {
            // The error a connect() returns; an ICMP error may be left soft.
            e->value = sk->sk_err;
            if (!e->value)
                e->value = sk->sk_err_soft;
        }
        e->total_retrans = tp->total_retrans;
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
        e->srtt_us = tp->srtt_us >> 3;
        e->total_retrans = tp->total_retrans;
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
    __u64 listener = (__u64)ctx->skaddr;
    learn_listener(listener);
    e->skaddr = listener;
    e->netns = netns_of(SOCK(listener));
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
// load for the sockets that are not listeners.
SEC("raw_tp/sk_data_ready")
int on_data_ready(struct bpf_raw_tracepoint_args *ctx)
{
    if (SOCK(ctx->args[0])->__sk_common.skc_state == TCP_LISTEN)
        learn_listener(ctx->args[0]);
    return 0;
}

// The fd accept() returned, to its socket (task->files->fdt->fd[fd]).
static __always_inline int accepted(long fd)
{
    if (fd < 0)
        return 0;
    const struct task_struct *task = bpf_core_cast((void *)bpf_get_current_task(), struct task_struct);
    const struct fdtable *fdt = task->files->fdt;
    if (fd >= fdt->max_fds)
        return 0;
    // An array of pointers, which no kernel type describes: one helper call.
    unsigned long file = 0;
    if (bpf_probe_read_kernel(&file, sizeof(file), (void *)((unsigned long)fdt->fd + fd * 8)) ||
        !file)
        return 0;
    const struct socket *sock =
        bpf_core_cast(bpf_core_cast((void *)file, struct file)->private_data, struct socket);
    const struct sock *child = sock->sk;
    // Of a connection user space knows from its handshake, or not (made
    // before the trace began): it has the ends.
    if (!child || !is_tcp(child))
        return 0;
    struct event *e = reserve(KIND_ACCEPTED, EVENT_PROCESS);
    if (!e)
        return 0;
    e->skaddr = (unsigned long)child;
    // SYN_RECV for a TCP Fast Open connection, which the kernel queues
    // (and accept() returns) before its handshake completes (RFC 7413
    // section 4.2); ESTABLISHED otherwise.
    e->newstate = child->__sk_common.skc_state;
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
    const struct sk_buff *skb = bpf_core_cast(ctx->skbaddr, struct sk_buff);
    __u16 protocol;
    unsigned long network = network_of(skb, &protocol);
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

// A SYN consumed at a listener whose accept queue is full was refused
// (tcp_conn_request counts it in ListenOverflows and frees it as
// consumed); so was one that found the SYN queue full with SYN cookies
// off (RFC 4987 section 3.6). The queues are read right after the check,
// in the same softirq: an accept() on another CPU in between can hide one.
static __always_inline int syn_consumed(struct event *probe, const struct sk_buff *skb)
{
    __u32 netns = netns_of_skb(skb);
    struct listener_key k = listener_key(netns, probe->dport);
    __u64 *known = bpf_map_lookup_elem(&listeners, &k);
    if (!known)
        return 0;
    const struct sock *sk = SOCK(*known);
    __u32 length = sk->sk_ack_backlog, bound = sk->sk_max_ack_backlog;
    int syn_queue = bpf_core_cast(sk, struct inet_connection_sock)->icsk_accept_queue.qlen.counter;
    int why;
    if (syn_queue > (int)bound && !sk->__sk_common.skc_net.net->ipv4.sysctl_tcp_syncookies)
        why = DROP_SYN_QUEUE_FULL;
    else if (length > bound)
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

// An ICMP destination unreachable (RFC 792 type 3, RFC 4443 type 1) that
// quotes a TCP segment: the quoted headers are the connection's (its
// source is this host's end). IPv4 headers with options, and IPv6
// extension headers, are not followed.
static __always_inline int icmp_consumed(const struct sk_buff *skb, unsigned long network,
                                         __u16 protocol)
{
    __u8 type, code;
    const struct tcphdr *ports;
    struct event *e;
    if (protocol == ETH_P_IP) {
        const struct iphdr *outer = bpf_core_cast((void *)network, struct iphdr);
        const struct icmphdr *icmp = bpf_core_cast((void *)(network + 20), struct icmphdr);
        const struct iphdr *inner = bpf_core_cast((void *)(network + 28), struct iphdr);
        if (ipv4_header_bytes(outer) != 20 || icmp->type != 3 || ipv4_header_bytes(inner) != 20 ||
            inner->protocol != IPPROTO_TCP || !(e = reserve(KIND_ICMP_ERROR, EVENT_FULL)))
            return 0;
        type = icmp->type;
        code = icmp->code;
        e->family = AF_INET;
        *(__u32 *)e->saddr = inner->saddr;
        *(__u32 *)e->daddr = inner->daddr;
        *(__u32 *)e->from = outer->saddr;
        ports = bpf_core_cast((void *)(network + 48), struct tcphdr);
    } else {
        const struct ipv6hdr *outer = bpf_core_cast((void *)network, struct ipv6hdr);
        const struct icmp6hdr *icmp = bpf_core_cast((void *)(network + 40), struct icmp6hdr);
        const struct ipv6hdr *inner = bpf_core_cast((void *)(network + 48), struct ipv6hdr);
        if (icmp->icmp6_type != 1 || inner->nexthdr != IPPROTO_TCP ||
            !(e = reserve(KIND_ICMP_ERROR, EVENT_FULL)))
            return 0;
        type = icmp->icmp6_type;
        code = icmp->icmp6_code;
        e->family = AF_INET6;
        copy_in6(e->saddr, &inner->saddr);
        copy_in6(e->daddr, &inner->daddr);
        copy_in6(e->from, &outer->saddr);
        ports = bpf_core_cast((void *)(network + 88), struct tcphdr);
    }
    e->sport = bpf_ntohs(ports->source);
    e->dport = bpf_ntohs(ports->dest);
    e->value = (type << 8) | code;
    e->netns = netns_of_skb(skb);
    submit(e);
    return 0;
}

// Every packet freed as consumed, on the whole host: a raw tracepoint,
// and a few loads for a packet that is neither a SYN nor an ICMP message.
SEC("raw_tp/consume_skb")
int on_consume(struct bpf_raw_tracepoint_args *ctx)
{
    const struct sk_buff *skb = bpf_core_cast((void *)ctx->args[0], struct sk_buff);
    __u16 protocol;
    unsigned long network = network_of(skb, &protocol);
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
