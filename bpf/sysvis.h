// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Layouts that sysvis.c shares with userspace (userspace/sysvis). bpf2go
 * generates the Go mirrors from these definitions (-type). */
#ifndef NFM_SYSVIS_H
#define NFM_SYSVIS_H

#include <linux/types.h>

/* What a socket_event reports. */
enum event_kind {
	EVENT_OPEN = 1, /* a process uses a socket with this local/remote pair */
	EVENT_CLOSE = 2, /* the socket sock_id was released */
};

/* The program that reported a socket_event. */
enum socket_hook {
	HOOK_STATE = 1, /* tp_btf sock:inet_sock_set_state (TCP, both ends known) */
	HOOK_SEND = 2, /* tp_btf sock:sock_{send,recv}_length (connected UDP, new user) */
	HOOK_SENDMSG = 3, /* cgroup/sendmsg4|6 (unconnected UDP send) */
	HOOK_RECVMSG = 4, /* cgroup/recvmsg4|6 (unconnected UDP receive) */
	HOOK_BIND = 5, /* cgroup/post_bind4|6 (bound or listening socket) */
	HOOK_RELEASE = 6, /* cgroup/sock_release, kprobe/fentry inet_release */
	HOOK_CONNECT = 7, /* kprobe/fentry tcp_connect */
	HOOK_ACCEPT = 8, /* kretprobe/fexit inet_csk_accept */
	HOOK_UDP_SEND = 9, /* kprobe/fentry udp_sendmsg, udpv6_sendmsg */
};

/* Per-CPU counters of the sysvis programs. */
enum sysvis_counter {
	SV_EVENTS = 0, /* socket_events written to the ring buffer */
	SV_LOST = 1, /* socket_events lost: ring buffer full */
	SV_COUNTER_MAX = 2,
};

/* socket_event is one record of the `socket_events` ring buffer. */
struct socket_event {
	__u8 local_addr[16]; /* network order; IPv4 in the first 4 bytes; all zero: any address */
	__u8 remote_addr[16]; /* all zero with remote_port 0: bound or listening socket */
	__u64 sock_id; /* the socket while it exists: its cookie (tracepoint backend) or address (kprobe, fentry) */
	__u64 time_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 tgid; /* owning process (the task that created, connected or used the socket) */
	__u16 local_port; /* host order; 0 for EVENT_CLOSE */
	__u16 remote_port; /* host order */
	__u8 kind; /* enum event_kind */
	__u8 hook; /* enum socket_hook */
	__u8 protocol; /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 ip_version; /* 4 or 6 (6 includes IPv4-mapped addresses) */
	char comm[16]; /* owner's command name when the socket was used, NUL padded */
	__u32 _pad;
};

#endif
