// Package afpacket captures frames from a network interface through a
// Linux AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring, so
// that nfmeter can meter live traffic when eBPF is not available (or with
// --mode afpacket). A [Socket] implements the Next method of
// flows.Source: the userspace engine meters it exactly as it meters a
// capture file.
//
// # Capture
//
// [Open] creates one socket bound to an interface. The kernel writes
// frames into fixed-size blocks of a ring shared with the process and
// hands a block over when it is full or when [Options.BlockTimeout] has
// passed since its first frame; [Socket.Next] walks the frames of the
// block in place, without copying and without allocating, and gives the
// block back to the kernel when it moves on. Frames are delivered the way
// libpcap delivers them: outgoing frames are kept (a flow meter needs both
// directions of the host's own traffic; on loopback, where each frame is
// seen twice, only the incoming copy is kept), a VLAN tag that the kernel
// took out of the frame is put back, and frames are cut to
// [Options.Snaplen].
//
// # Several sockets
//
// [OpenFanout] opens n sockets in one PACKET_FANOUT group in hash mode
// with defragmentation, as NFStream's meters do: the kernel sends both
// directions of a flow to the same socket, and IPv4 fragments are
// reassembled before hashing (so a socket in a group receives the
// reassembled datagram, not the fragments; see
// [Options.FanoutKeepFragments]).
//
// # Time without traffic
//
// Next waits at most [Options.PollTimeout] and then returns [ErrTimeout],
// which is not a loss: it lets the caller expire idle flows by wall clock
// when no frame arrives. [Socket.Close] unblocks a waiting Next, which then
// returns io.EOF. With a negative PollTimeout, Next only returns with a
// frame or at Close, and a streamer can read the socket as it is (flows
// then expire only when packets arrive, as in NFStream).
//
// # Metering
//
// [Meter] is the userspace engine's live path: a fanout group with one
// flows.Streamer per socket (NFStream's meters), poll timeouts turned into
// idle ticks so that flows of a quiet interface expire, and the
// streamers' flows merged into one sequence numbered 0, 1, 2, ... Cancelling
// the context of [Meter.Flows] lets the sockets deliver what their rings
// hold, then every open flow is emitted.
//
// # Requirements
//
// Linux with CAP_NET_RAW (CAP_NET_ADMIN too for promiscuous mode). On other
// systems Open returns [ErrNotSupported].
package afpacket
