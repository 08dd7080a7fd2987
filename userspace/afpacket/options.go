package afpacket

import (
	"fmt"
	"math/bits"
	"time"
)

// Options configures a [Socket]. The zero value is usable: whole frames, no
// promiscuous mode, an 8 MiB ring, 10 ms block timeout, 100 ms poll
// timeout, no fanout.
type Options struct {
	// Snaplen is the most bytes kept of each frame (NFStream's
	// snapshot_length); longer frames are cut and counted in
	// [Stats.Truncated]. 0 means MaxSnaplen.
	Snaplen int
	// Promiscuous puts the interface in promiscuous mode for as long as the
	// socket is open (PACKET_MR_PROMISC; the kernel counts the holders).
	Promiscuous bool
	// SocketBufferSize is the size of the receive ring in bytes (libpcap's
	// buffer size). It is split into blocks of up to 1 MiB (a power of two
	// large enough for one frame of Snaplen bytes, at most 64 KiB + headers)
	// and rounded up to at least two blocks. 0 means DefaultBufferSize.
	SocketBufferSize int
	// BlockTimeout is how long the kernel keeps a block that is not full
	// before handing it over, so that frames arrive within that delay at
	// low rates. It is rounded up to whole milliseconds. 0 means
	// DefaultBlockTimeout.
	BlockTimeout time.Duration
	// PollTimeout is how long [Socket.Next] waits for a frame before
	// returning [ErrTimeout]. 0 means DefaultPollTimeout; a negative value
	// waits until a frame arrives or the socket is closed.
	PollTimeout time.Duration
	// Fanout joins the socket to the PACKET_FANOUT group FanoutGroup of the
	// interface's network namespace in hash mode, creating the group if no
	// socket is in it. [OpenFanout] sets both and picks a free group id.
	Fanout      bool
	FanoutGroup uint16
	// FanoutKeepFragments leaves PACKET_FANOUT_FLAG_DEFRAG out: IPv4
	// fragments are hashed (and delivered) as they are instead of being
	// reassembled first. Fragments of one datagram may then reach
	// different sockets.
	FanoutKeepFragments bool
}

// Defaults and limits of [Options].
const (
	MaxSnaplen          = 262144 // libpcap's MAXIMUM_SNAPLEN
	DefaultBufferSize   = 8 << 20
	DefaultBlockTimeout = 10 * time.Millisecond
	DefaultPollTimeout  = 100 * time.Millisecond

	maxBlockSize    = 1 << 20
	maxFrameBlock   = 65536 + 256 // a block holds at least one frame this long
	minBlocks       = 8           // a ring this large or more has at least this many blocks
	maxRingBlocks   = 1 << 16
	maxBlockTimeout = time.Duration(1<<31-1) * time.Millisecond
)

// withDefaults checks o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Snaplen < 0 || o.Snaplen > MaxSnaplen:
		return o, fmt.Errorf("snaplen %d out of range 0..%d", o.Snaplen, MaxSnaplen)
	case o.SocketBufferSize < 0:
		return o, fmt.Errorf("socket buffer size %d is negative", o.SocketBufferSize)
	case o.BlockTimeout < 0 || o.BlockTimeout > maxBlockTimeout:
		return o, fmt.Errorf("block timeout %v out of range 0..%v", o.BlockTimeout, maxBlockTimeout)
	}
	if o.Snaplen == 0 {
		o.Snaplen = MaxSnaplen
	}
	if o.SocketBufferSize == 0 {
		o.SocketBufferSize = DefaultBufferSize
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = DefaultBlockTimeout
	}
	if o.PollTimeout == 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	return o, nil
}

// blockTimeoutMs is tp_retire_blk_tov.
func (o *Options) blockTimeoutMs() uint32 {
	return uint32((o.BlockTimeout + time.Millisecond - 1) / time.Millisecond)
}

// ringGeometry splits a ring of about bufSize bytes into blocks. A block is
// a power of two of at least one page that holds one frame of snaplen
// bytes (up to maxFrameBlock) after its headers; blocks are 1 MiB or
// smaller so that a ring of bufSize has at least minBlocks of them when
// it can, and there are at least two.
func ringGeometry(bufSize, snaplen, pageSize int) (blockSize, blocks int) {
	need := blockHdrLen + frameHdrRoom + vlanTagLen + 16 + min(snaplen, maxFrameBlock)
	minBlock := max(pow2Ceil(need), pageSize)
	blockSize = max(min(maxBlockSize, pow2Floor(bufSize/minBlocks)), minBlock)
	blocks = (bufSize + blockSize - 1) / blockSize
	return blockSize, min(max(blocks, 2), maxRingBlocks)
}

func pow2Ceil(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

func pow2Floor(n int) int {
	if n < 1 {
		return 1
	}
	return 1 << (bits.Len(uint(n)) - 1)
}
