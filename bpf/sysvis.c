//go:build ignore
// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Kernel half of system visibility (--system-visibility-mode 1): which local
 * process owns the socket of a flow. Three sets of programs, one per backend;
 * userspace/sysvis loads the first set the kernel accepts, in this order:
 *
 * kprobe      kprobe/tcp_connect (active TCP: the local port is chosen, the
 *             caller is the owner), kretprobe/inet_csk_accept (passive TCP,
 *             in the accepting process), kprobe/udp_sendmsg and
 *             udpv6_sendmsg (UDP: the peer from msg_name or the connected
 *             one, reported each time it changes), kprobe/inet_release
 *             (close of a reported socket).
 * fentry      the same functions through fentry/fexit.
 * tracepoint  for kernels that refuse both. The owner of every TCP and UDP
 *             socket is recorded in process context, in socket-local storage
 *             (`owners`), by cgroup/sock_create and cgroup/connect4/6;
 *             accepted sockets inherit their listener's (BPF_F_CLONE).
 *             Events are sent where both ends are known:
 *             - TCP: tp_btf/inet_sock_set_state, at the first transition with
 *               both ports (connect picks the local port after SYN_SENT; an
 *               accepted socket becomes ESTABLISHED in softirq, where the
 *               current task is unrelated: the stored owner is used);
 *             - connected UDP: tp_btf/sock_send_length and sock_recv_length,
 *               at the first send or receive after connect; the same
 *               tracepoints report a socket again when another process uses
 *               it (a worker accepting on its parent's listener);
 *             - unconnected UDP: cgroup/sendmsg4/6 and recvmsg4/6, each time
 *               the peer changes;
 *             - bound and listening sockets: cgroup/post_bind4/6;
 *             - close: cgroup/sock_release.
 *
 * Every event names the owner by tgid and by the command name it had when
 * the socket was used, so a process that has exited (and whose pid may be
 * reused) is still named right. Only sockets of the network namespace
 * cfg_netns_cookie are reported (0: every namespace).
 *
 * The kprobe programs read arguments from x86-64 registers
 * (__TARGET_ARCH_x86); userspace offers the kprobe backend only there. */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <asm/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "sysvis.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Knobs, set by userspace before loading.
 * cfg_netns_cookie: report sockets of this network namespace only; 0: all. */
volatile const __u64 cfg_netns_cookie = 0;

#define NFM_AF_INET 2
#define NFM_AF_INET6 10
#define NFM_TCP_CLOSE 7

/* The few kernel structures read, relocated by CO-RE against the running
 * kernel's BTF (no vmlinux.h needed). */
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

struct socket {
	struct sock *sk;
} __attribute__((preserve_access_index));

struct msghdr {
	void *msg_name;
} __attribute__((preserve_access_index));

/* socket_events: struct socket_event records. Size set by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} socket_events SEC(".maps");

/* sv_counters: enum sysvis_counter -> count, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SV_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sv_counters SEC(".maps");

#define OWNER_REPORTED 1 /* the pair of a TCP or connected UDP socket was reported */
#define OWNER_UDP_PENDING 2 /* connected UDP: report at the next send or receive */
#define OWNER_SEEN 4 /* something was reported: report the close too */
/* reported again for another process (only once: two processes taking turns
 * would flood) */
#define OWNER_MOVED 8

/* owner is what the tracepoint backend keeps per socket. */
struct owner {
	__u32 tgid;
	__u32 flags; /* OWNER_* */
	char comm[16];
	__u32 peer_addr[4]; /* unconnected UDP: last peer reported, network order */
	__u32 peer_port; /* network order in the low 16 bits */
	__u32 _pad;
};

/* owners: socket -> owner (tracepoint backend), copied to accepted sockets. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct owner);
} owners SEC(".maps");

/* peer is the last UDP peer the kprobe or fentry programs reported. */
struct peer {
	__u32 addr[4];
	__u32 port;
};

/* reported: socket address -> last peer, for the sockets the kprobe and
 * fentry programs reported (close events, UDP deduplication). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct peer);
} reported SEC(".maps");

/* Forces the shared types into BTF for bpf2go -type. */
const struct socket_event *unused_socket_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));
const enum socket_hook *unused_socket_hook __attribute__((unused));
const enum sysvis_counter *unused_sysvis_counter __attribute__((unused));

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&sv_counters, &c);
	if (v)
		*v += 1;
}

static __always_inline int netns_ok(__u64 cookie)
{
	return cfg_netns_cookie == 0 || cookie == cfg_netns_cookie;
}

static __always_inline int tracked(__u32 family, __u32 protocol)
{
	return (family == NFM_AF_INET || family == NFM_AF_INET6) &&
	       (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP);
}

static __always_inline struct socket_event *event_new(__u8 kind, __u8 hook)
{
	struct socket_event *e = bpf_ringbuf_reserve(&socket_events, sizeof(*e), 0);
	if (!e) {
		count(SV_LOST);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->hook = hook;
	e->time_ns = bpf_ktime_get_ns();
	return e;
}

/* event_send submits e without waking the reader, which drains the ring on
 * a short timer: a wakeup is an interrupt of its own (in a VM a VM exit,
 * several microseconds), more than the rest of the program. A ring half
 * full wakes the reader at once. */
static __always_inline void event_send(struct socket_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&socket_events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&socket_events, BPF_RB_RING_SIZE) / 2)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
	count(SV_EVENTS);
}

static __always_inline void owner_set(struct owner *o)
{
	o->tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

static __always_inline void event_owner(struct socket_event *e, struct owner *o)
{
	e->tgid = o->tgid;
	__builtin_memcpy(e->comm, o->comm, sizeof(e->comm));
}

static __always_inline void event_current(struct socket_event *e)
{
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* sk_ports reads the ports of sk through CO-RE (any program type) and
 * reports whether both are known (connect chooses the local port after
 * SYN_SENT). */
static __always_inline int sk_ports(struct sock *sk, __u16 *lport, __u16 *rport)
{
	*lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	return *lport != 0 && *rport != 0;
}

static __always_inline void sk_addrs(struct socket_event *e, struct sock *sk)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == NFM_AF_INET6) {
		e->ip_version = 6;
		BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e->remote_addr, sk, __sk_common.skc_v6_daddr);
	} else {
		e->ip_version = 4;
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 b = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(e->local_addr, &a, 4);
		__builtin_memcpy(e->remote_addr, &b, 4);
	}
}

static __always_inline int sk_netns_ok(struct sock *sk)
{
	return cfg_netns_cookie == 0 ||
	       BPF_CORE_READ(sk, __sk_common.skc_net.net, net_cookie) == cfg_netns_cookie;
}

/* ---- tracepoint backend: cgroup hooks and BTF tracepoints ---- */

SEC("cgroup/sock_create")
int nfm_sv_create(struct bpf_sock *ctx)
{
	if (!tracked(ctx->family, ctx->protocol))
		return 1;
	struct owner *o = bpf_sk_storage_get(&owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (o)
		owner_set(o);
	return 1;
}

static __always_inline void on_connect(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk || (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP))
		return;
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	owner_set(o);
	o->flags &= ~OWNER_REPORTED; /* a UDP socket connected again is reported again */
	if (ctx->protocol == IPPROTO_UDP)
		o->flags |= OWNER_UDP_PENDING;
}

SEC("cgroup/connect4")
int nfm_sv_connect4(struct bpf_sock_addr *ctx)
{
	on_connect(ctx);
	return 1;
}

SEC("cgroup/connect6")
int nfm_sv_connect6(struct bpf_sock_addr *ctx)
{
	on_connect(ctx);
	return 1;
}

/* on_udp_msg reports an unconnected UDP send (send=1) or receive: the peer is
 * the message's address, the local port the socket's (bound by then). */
static __always_inline void on_udp_msg(struct bpf_sock_addr *ctx, int v6, int send)
{
	struct bpf_sock *sk = ctx->sk;
	if (!sk || ctx->protocol != IPPROTO_UDP || !netns_ok(bpf_get_netns_cookie(ctx)))
		return;
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	__u32 peer[4] = {};
	if (v6) {
		peer[0] = ctx->user_ip6[0];
		peer[1] = ctx->user_ip6[1];
		peer[2] = ctx->user_ip6[2];
		peer[3] = ctx->user_ip6[3];
	} else {
		peer[0] = ctx->user_ip4;
	}
	__u32 port = ctx->user_port;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if ((o->flags & OWNER_SEEN) && o->tgid == tgid && o->peer_port == port &&
	    o->peer_addr[0] == peer[0] && o->peer_addr[1] == peer[1] &&
	    o->peer_addr[2] == peer[2] && o->peer_addr[3] == peer[3])
		return;
	owner_set(o);
	o->flags |= OWNER_SEEN;
	o->peer_port = port;
	__builtin_memcpy(o->peer_addr, peer, sizeof(peer));

	struct socket_event *e = event_new(EVENT_OPEN, send ? HOOK_SENDMSG : HOOK_RECVMSG);
	if (!e)
		return;
	event_owner(e, o);
	e->protocol = IPPROTO_UDP;
	e->sock_id = bpf_get_socket_cookie(ctx);
	e->local_port = sk->src_port;
	e->remote_port = bpf_ntohs((__u16)port);
	__builtin_memcpy(e->remote_addr, peer, sizeof(peer));
	__u32 local[4] = {};
	if (v6) {
		e->ip_version = 6;
		if (send) {
			local[0] = ctx->msg_src_ip6[0];
			local[1] = ctx->msg_src_ip6[1];
			local[2] = ctx->msg_src_ip6[2];
			local[3] = ctx->msg_src_ip6[3];
		}
		if (!(local[0] | local[1] | local[2] | local[3])) {
			local[0] = sk->src_ip6[0];
			local[1] = sk->src_ip6[1];
			local[2] = sk->src_ip6[2];
			local[3] = sk->src_ip6[3];
		}
	} else {
		e->ip_version = 4;
		if (send)
			local[0] = ctx->msg_src_ip4;
		if (!local[0])
			local[0] = sk->src_ip4;
	}
	__builtin_memcpy(e->local_addr, local, sizeof(local));
	event_send(e);
}

SEC("cgroup/sendmsg4")
int nfm_sv_sendmsg4(struct bpf_sock_addr *ctx)
{
	on_udp_msg(ctx, 0, 1);
	return 1;
}

SEC("cgroup/sendmsg6")
int nfm_sv_sendmsg6(struct bpf_sock_addr *ctx)
{
	on_udp_msg(ctx, 1, 1);
	return 1;
}

SEC("cgroup/recvmsg4")
int nfm_sv_recvmsg4(struct bpf_sock_addr *ctx)
{
	on_udp_msg(ctx, 0, 0);
	return 1;
}

SEC("cgroup/recvmsg6")
int nfm_sv_recvmsg6(struct bpf_sock_addr *ctx)
{
	on_udp_msg(ctx, 1, 0);
	return 1;
}

/* on_bind reports a bound socket (a listener, a UDP server): the owner of
 * whatever reaches its local address and port. */
static __always_inline void on_bind(struct bpf_sock *ctx, int v6)
{
	if (!tracked(ctx->family, ctx->protocol) || !netns_ok(bpf_get_netns_cookie(ctx)))
		return;
	struct owner *o = bpf_sk_storage_get(&owners, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o)
		return;
	owner_set(o);
	o->flags |= OWNER_SEEN;
	struct socket_event *e = event_new(EVENT_OPEN, HOOK_BIND);
	if (!e)
		return;
	event_owner(e, o);
	e->protocol = ctx->protocol;
	e->sock_id = bpf_get_socket_cookie(ctx);
	e->local_port = ctx->src_port;
	if (v6) {
		__u32 a[4] = {ctx->src_ip6[0], ctx->src_ip6[1], ctx->src_ip6[2], ctx->src_ip6[3]};
		e->ip_version = 6;
		__builtin_memcpy(e->local_addr, a, sizeof(a));
	} else {
		__u32 a = ctx->src_ip4;
		e->ip_version = 4;
		__builtin_memcpy(e->local_addr, &a, sizeof(a));
	}
	event_send(e);
}

SEC("cgroup/post_bind4")
int nfm_sv_bind4(struct bpf_sock *ctx)
{
	on_bind(ctx, 0);
	return 1;
}

SEC("cgroup/post_bind6")
int nfm_sv_bind6(struct bpf_sock *ctx)
{
	on_bind(ctx, 1);
	return 1;
}

SEC("cgroup/sock_release")
int nfm_sv_release(struct bpf_sock *ctx)
{
	struct owner *o = bpf_sk_storage_get(&owners, ctx, 0, 0);
	if (!o || !(o->flags & OWNER_SEEN) || !netns_ok(bpf_get_netns_cookie(ctx)))
		return 1;
	struct socket_event *e = event_new(EVENT_CLOSE, HOOK_RELEASE);
	if (!e)
		return 1;
	event_owner(e, o);
	e->protocol = ctx->protocol;
	e->sock_id = bpf_get_socket_cookie(ctx);
	event_send(e);
	return 1;
}

/* report_owned sends the pair of sk with its stored owner o. */
static __always_inline int report_owned(struct sock *sk, struct owner *o, __u8 hook)
{
	__u16 lport, rport;
	if (!sk_ports(sk, &lport, &rport) || !sk_netns_ok(sk))
		return 0;
	struct socket_event *e = event_new(EVENT_OPEN, hook);
	if (!e)
		return 0;
	event_owner(e, o);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sock_id = bpf_get_socket_cookie(sk);
	e->local_port = lport;
	e->remote_port = rport;
	sk_addrs(e, sk);
	event_send(e);
	return 1;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(nfm_sv_state, struct sock *sk, int oldstate, int newstate)
{
	if (newstate == NFM_TCP_CLOSE || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, 0);
	if (!o || (o->flags & OWNER_REPORTED))
		return 0;
	if (report_owned(sk, o, HOOK_STATE))
		o->flags |= OWNER_REPORTED | OWNER_SEEN;
	return 0;
}

/* on_sock_io runs at each send and receive, in the process doing it. It
 * reports a connected UDP socket at its first use, and a reported socket
 * again when another process uses it: a worker that accepted from a
 * listener its parent opened, a socket passed over a unix socket. */
static __always_inline void on_sock_io(struct sock *sk)
{
	struct owner *o = bpf_sk_storage_get(&owners, sk, 0, 0);
	if (!o)
		return;
	if (o->flags & OWNER_UDP_PENDING) {
		if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP && report_owned(sk, o, HOOK_SEND))
			o->flags = (o->flags & ~OWNER_UDP_PENDING) | OWNER_REPORTED | OWNER_SEEN;
		return;
	}
	if ((o->flags & (OWNER_REPORTED | OWNER_MOVED)) != OWNER_REPORTED ||
	    (bpf_get_current_pid_tgid() >> 32) == o->tgid)
		return;
	owner_set(o);
	o->flags |= OWNER_MOVED;
	report_owned(sk, o, HOOK_SEND);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(nfm_sv_send, struct sock *sk, int ret, int flags)
{
	on_sock_io(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(nfm_sv_recv, struct sock *sk, int ret, int flags)
{
	on_sock_io(sk);
	return 0;
}

/* ---- kprobe and fentry backends: the socket functions themselves ---- */

/* report_current sends the pair of sk, owned by the current task. */
static __always_inline void report_current(struct sock *sk, __u8 hook)
{
	__u16 lport, rport;
	if (!sk_ports(sk, &lport, &rport) || !sk_netns_ok(sk))
		return;
	__u64 id = (__u64)sk;
	struct peer none = {};
	bpf_map_update_elem(&reported, &id, &none, BPF_ANY);
	struct socket_event *e = event_new(EVENT_OPEN, hook);
	if (!e)
		return;
	event_current(e);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sock_id = id;
	e->local_port = lport;
	e->remote_port = rport;
	sk_addrs(e, sk);
	event_send(e);
}

/* report_udp_send reports a UDP send when its peer (msg_name, or the
 * connected peer) differs from the socket's last one. */
static __always_inline void report_udp_send(struct sock *sk, struct msghdr *msg)
{
	if (!sk_netns_ok(sk))
		return;
	struct peer p = {};
	void *name = BPF_CORE_READ(msg, msg_name);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (name) {
		__u16 nf = 0;
		bpf_probe_read_kernel(&nf, sizeof(nf), name);
		if (nf == NFM_AF_INET) {
			struct sockaddr_in sin = {};
			bpf_probe_read_kernel(&sin, sizeof(sin), name);
			p.addr[0] = sin.sin_addr.s_addr;
			p.port = sin.sin_port;
			if (family == NFM_AF_INET6) { /* only through a v4-mapped address */
				p.addr[2] = bpf_htonl(0xffff);
				p.addr[3] = p.addr[0];
				p.addr[0] = 0;
			}
		} else if (nf == NFM_AF_INET6) {
			struct sockaddr_in6 sin6 = {};
			bpf_probe_read_kernel(&sin6, sizeof(sin6), name);
			__builtin_memcpy(p.addr, &sin6.sin6_addr, sizeof(p.addr));
			p.port = sin6.sin6_port;
		} else {
			return;
		}
	} else if (family == NFM_AF_INET6) {
		BPF_CORE_READ_INTO(&p.addr, sk, __sk_common.skc_v6_daddr);
		p.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	} else {
		p.addr[0] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		p.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	}
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!p.port || !lport)
		return;
	__u64 id = (__u64)sk;
	struct peer *last = bpf_map_lookup_elem(&reported, &id);
	if (last && last->port == p.port && last->addr[0] == p.addr[0] &&
	    last->addr[1] == p.addr[1] && last->addr[2] == p.addr[2] && last->addr[3] == p.addr[3])
		return;
	bpf_map_update_elem(&reported, &id, &p, BPF_ANY);
	struct socket_event *e = event_new(EVENT_OPEN, HOOK_UDP_SEND);
	if (!e)
		return;
	event_current(e);
	e->protocol = IPPROTO_UDP;
	e->sock_id = id;
	e->local_port = lport;
	e->remote_port = bpf_ntohs((__u16)p.port);
	__builtin_memcpy(e->remote_addr, p.addr, sizeof(p.addr));
	if (family == NFM_AF_INET6) {
		e->ip_version = 6;
		BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
	} else {
		e->ip_version = 4;
		__be32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(e->local_addr, &a, 4);
	}
	event_send(e);
}

static __always_inline void report_release(struct socket *sock)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u64 id = (__u64)sk;
	if (!sk || !bpf_map_lookup_elem(&reported, &id))
		return;
	bpf_map_delete_elem(&reported, &id);
	struct socket_event *e = event_new(EVENT_CLOSE, HOOK_RELEASE);
	if (!e)
		return;
	event_current(e);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->sock_id = id;
	event_send(e);
}

SEC("kprobe/tcp_connect")
int BPF_KPROBE(nfm_sv_kp_conn, struct sock *sk)
{
	report_current(sk, HOOK_CONNECT);
	return 0;
}

SEC("kretprobe/inet_csk_accept")
int BPF_KRETPROBE(nfm_sv_kp_accept, struct sock *sk)
{
	if (sk)
		report_current(sk, HOOK_ACCEPT);
	return 0;
}

SEC("kprobe/udp_sendmsg")
int BPF_KPROBE(nfm_sv_kp_udp4, struct sock *sk, struct msghdr *msg)
{
	report_udp_send(sk, msg);
	return 0;
}

SEC("kprobe/udpv6_sendmsg")
int BPF_KPROBE(nfm_sv_kp_udp6, struct sock *sk, struct msghdr *msg)
{
	report_udp_send(sk, msg);
	return 0;
}

SEC("kprobe/inet_release")
int BPF_KPROBE(nfm_sv_kp_rel, struct socket *sock)
{
	report_release(sock);
	return 0;
}

SEC("fentry/tcp_connect")
int BPF_PROG(nfm_sv_fe_conn, struct sock *sk)
{
	report_current(sk, HOOK_CONNECT);
	return 0;
}

/* inet_csk_accept's arguments changed over kernel versions; its return value
 * did not. */
SEC("fexit/inet_csk_accept")
int nfm_sv_fe_accept(unsigned long long *ctx)
{
	__u64 ret = 0;
	if (bpf_get_func_ret(ctx, &ret) == 0 && ret)
		report_current((struct sock *)ret, HOOK_ACCEPT);
	return 0;
}

SEC("fentry/udp_sendmsg")
int BPF_PROG(nfm_sv_fe_udp4, struct sock *sk, struct msghdr *msg)
{
	report_udp_send(sk, msg);
	return 0;
}

SEC("fentry/udpv6_sendmsg")
int BPF_PROG(nfm_sv_fe_udp6, struct sock *sk, struct msghdr *msg)
{
	report_udp_send(sk, msg);
	return 0;
}

SEC("fentry/inet_release")
int BPF_PROG(nfm_sv_fe_rel, struct socket *sock)
{
	report_release(sock);
	return 0;
}
