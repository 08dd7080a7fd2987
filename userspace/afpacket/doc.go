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
// directions of most flows to the same socket (not of every flow: see
// below), and IPv4 fragments are reassembled before hashing (so a socket in a group receives the
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
// # Flows are split by nfmeter's key
//
// The kernel's fanout hash is not nfmeter's flow key, and is not symmetric
// for every flow: it keys what the kernel's flow dissector reads (a first
// IPv4 fragment without its ports, so a fragmented answer can go to another
// socket than its question), and a NIC's RSS hash is often not symmetric at
// all. A socket of a [Meter] with several is therefore only a reader: it
// decodes and keys each frame (flows.Decode, flows.KeyOf) and hands it to
// the streamer that owns the key (a fixed split of flows.Key.Hash), so that
// every streamer sees all the packets of its flows whichever socket they
// came in.
//
// A fanout program (PACKET_FANOUT_CBPF or _EBPF) computing a symmetric hash
// in the kernel would save the hand-over, but it is only right if it keys
// exactly as flows.Decode does: VLAN stacking, IPv6 extension headers, the
// tunnels nfmeter decodes (and their ids), NFStream's fragment and
// truncation rules. A second decoder in BPF would drift from the first;
// partitioning by the engine's own key cannot.
//
// The two directions of a flow may still arrive in two rings that the
// kernel hands over at different times (a block is handed over when full
// or after [Options.BlockTimeout]). Each streamer therefore merges its
// readers' frames by the kernel's time of each frame (in nanoseconds), and
// releases a frame only when no reader can still send an earlier one. A
// reader's watermark is the time of the last frame it read while its ring
// has frames (the kernel fills a ring in time order); when the ring has
// nothing to hand over, the time of that check less twice the block
// timeout and 10 ms (the kernel's retire timer runs in ticks), or, when the
// block being filled holds no frame yet, less 10 ms (a frame's timestamp
// can be taken before it enters the ring). Idle readers check every few
// milliseconds. A frame that comes later than its reader's watermark
// promised (a stalled softirq, a ring out of time order) is metered when it
// arrives and counted in [Counters.Late]. Frames are copied once, into
// batches of up to 64; a reader sends at most one batch to each streamer
// between two watermarks and a lane holds several, so a reader waiting on a
// full lane never waits for a streamer that waits for that reader. Idle
// ticks carry the smallest watermark, so no frame that follows is earlier.
// With one socket, the streamer reads it directly.
//
// # Requirements
//
// Linux with CAP_NET_RAW (CAP_NET_ADMIN too for promiscuous mode). On other
// systems Open returns [ErrNotSupported].
package afpacket
