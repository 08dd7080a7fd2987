// Package sysvis attributes flows to the local processes that own their
// sockets: NFStream's system visibility (system_visibility_mode 1), which
// fills the system_process_pid and system_process_name columns.
//
// A [Backend] observes socket ownership and reports [Event] values to a
// [Table], which joins them with flows by their endpoints (either end of a
// flow may be the local one; IPv4 and IPv6; TCP and UDP) when the flows are
// emitted ([Table.Annotate]). Backends, in the order [Start] tries them:
//
//   - "kprobe": BPF kprobes on tcp_connect, inet_csk_accept, udp_sendmsg,
//     udpv6_sendmsg and inet_release (x86-64 kernels with kprobes);
//   - "fentry": the same functions through fentry/fexit;
//   - "tracepoint": the sock:inet_sock_set_state, sock_send_length and
//     sock_recv_length BTF tracepoints with cgroup socket hooks
//     (sock_create, connect, sendmsg, recvmsg, post_bind, sock_release)
//     on the root cgroup v2;
//   - "poll": the socket table from sock_diag netlink, mapped to processes
//     through /proc/<pid>/fd, every poll interval, as NFStream does.
//
// The BPF backends see every socket as it is used, so processes that live a
// few milliseconds are attributed too; they seed the table with one poll
// for the sockets that existed before they started. The poller, like
// NFStream, misses sockets that come and go between two polls.
//
// Processes are named by the command name they had when the socket was
// seen, never re-read later, so a reused pid cannot rename a flow; entries
// stay in the table for [TableOptions.Keep] after their socket is closed
// (NFStream: idle_timeout + 5 s).
//
// Backends need Linux and root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN for
// the BPF ones; reading other processes' /proc/<pid>/fd for the poller).
package sysvis
