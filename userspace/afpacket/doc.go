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
// [Meter] is the userspace engine's live path: a fanout group read in
// parallel and metered by one flows.Streamer, poll timeouts turned into
// idle ticks so that flows of a quiet interface expire, and flows numbered
// 0, 1, 2, ... Cancelling the context of [Meter.Flows] lets the sockets
// deliver what their rings hold, then every open flow is emitted.
//
// # One meter for the whole group
//
// The kernel's fanout hash is not nfmeter's flow key, and is not symmetric
// for every flow: it keys what the kernel's flow dissector reads (a first
// IPv4 fragment without its ports, so a fragmented answer can go to another
// socket than its question), and a NIC's RSS hash is often not symmetric at
// all. A streamer per socket, as NFStream's meters, therefore splits such
// flows in two. A fanout program (PACKET_FANOUT_CBPF or _EBPF) computing a
// symmetric hash in the kernel would be right only if it keyed exactly as
// flows.Decode does: VLAN stacking, IPv6 extension headers, the tunnels
// nfmeter decodes (and their ids), NFStream's fragment and truncation
// rules; a second decoder in BPF would drift from the first. Sending each
// decoded frame to a streamer owning its key would keep flows whole, but
// not their labels: each streamer would have its own nDPI modules, whose
// caches learn from other flows, so labels would depend on the number of
// sockets, which offline they do not (flows.Options.DissectorShards).
//
// So the sockets of a [Meter] are only readers, and one streamer meters
// the frames of all of them with the engine's parallel pipeline of as many
// meters (n-1 decoders, one flow table, the configured dissector shards):
// the flows and labels are those of an offline run of the same frames,
// whatever the number of sockets and whatever socket each frame came in.
//
// The streamer must see the frames in the order they came, but the two
// directions of a flow may arrive in two rings that the kernel hands over
// at different times (a block is handed over when full or after
// [Options.BlockTimeout]). The readers copy their frames into batches (64
// frames) and the streamer's source merges them by the kernel's time of
// each frame (in nanoseconds), releasing a frame only when no reader can
// still send an earlier one. A reader's watermark is the time of the last
// frame it read while its ring has frames (the kernel fills a ring in time
// order); when the ring has nothing to hand over, the time of that check
// less twice the block timeout and 10 ms (the kernel's retire timer runs
// in ticks), or, when the block being filled holds no frame yet, less 10
// ms (a frame's timestamp can be taken before it enters the ring). Idle
// readers check every few milliseconds. A frame that comes later than its
// reader's watermark promised (a stalled softirq, a ring out of time
// order) is metered when it arrives and counted in [Counters.Late]. A
// reader sends at most one batch between two watermarks and its lane holds
// several, so a reader waiting on a full lane never holds the merge back.
// Idle ticks carry the smallest watermark, so no frame that follows is
// earlier. With one socket, the streamer reads it directly.
//
// # Requirements
//
// Linux with CAP_NET_RAW (CAP_NET_ADMIN too for promiscuous mode). On other
// systems Open returns [ErrNotSupported].
package afpacket
