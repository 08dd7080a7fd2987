package afpacket

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Re-sharding: the readers of a fanout group hand each frame to the
// streamer owning its flow key, and each streamer merges what it gets by
// time under the readers' watermarks (see the package documentation,
// "Flows are split by nfmeter's key").
//
// No deadlock: a reader publishes a watermark only after sending every
// frame it read before it, and sends at most one batch to each streamer
// between two watermarks, while a lane holds more. So the frame with the
// smallest key of all that were sent can always be released: a reader
// whose watermark is below it has sent nothing since that watermark that
// is still in a lane ahead of it, and so is not waiting on a full lane.

const (
	shardBatchFrames = 64       // frames a batch holds
	shardBatchBytes  = 64 << 10 // bytes of frames after which a batch is sent
	shardLaneBatches = 16       // batches a lane from a reader to a streamer holds
	// shardPoll is how long an idle reader waits for a block before it
	// checks its ring and moves its watermark on.
	shardPoll   = 5 * time.Millisecond
	shardMargin = 10 * time.Millisecond
)

// shardLag is the longest a frame can wait in an open block of a ring
// with block timeout bt before the kernel hands the block over.
func shardLag(bt time.Duration) int64 { return int64(2*bt + 10*time.Millisecond) }

// shardRec is one frame of a batch; its bytes are buf[off:off+n].
type shardRec struct {
	key       int64 // merge key: kernel time in unix ns, never below the lane's previous key
	sec, usec int64
	wireLen   uint32
	linkType  int
	off, n    int
}

type shardBatch struct {
	recs []shardRec
	buf  []byte
	pos  int // next record the streamer reads
}

// lane carries batches from one reader to one streamer, and gives them
// back for reuse.
type lane struct {
	full chan *shardBatch
	free chan *shardBatch
}

func newLane() *lane {
	return &lane{full: make(chan *shardBatch, shardLaneBatches), free: make(chan *shardBatch, shardLaneBatches+2)}
}

func (l *lane) batch() *shardBatch {
	select {
	case b := <-l.free:
		b.recs, b.buf, b.pos = b.recs[:0], b.buf[:0], 0
		return b
	default:
		return &shardBatch{recs: make([]shardRec, 0, shardBatchFrames), buf: make([]byte, 0, 16<<10)}
	}
}

// resharder connects the readers (one per socket) to the sources of the
// streamers (one per meter).
type resharder struct {
	readers []*shardReader
	srcs    []*shardSource
	kicks   []chan struct{} // one per streamer: something was sent or a watermark moved

	quit     chan struct{} // closed to stop the readers
	quitOnce sync.Once
	failed   atomic.Bool
	errMu    sync.Mutex
	err      error

	stopped   *atomic.Int64 // unix ns when the meter was stopped; 0 before
	tunnels   bool
	quiet     time.Duration // drain: a stopped reader ends after this long without a frame
	tickEvery time.Duration // idle ticks to the streamers; 0: none
	lag       int64
	wg        sync.WaitGroup
}

// newResharder prepares a reader for each socket and a source for each of
// n streamers. pollTimeout is the meter's poll timeout: the interval of the
// idle ticks (none if negative) and how long a stopped meter waits for
// frames still coming.
func newResharder(socks []*Socket, n int, fo *flows.Options, pollTimeout, blockTimeout time.Duration, stopped *atomic.Int64) *resharder {
	rs := &resharder{
		quit:      make(chan struct{}),
		stopped:   stopped,
		tunnels:   fo.DecodeTunnels,
		quiet:     max(pollTimeout, shardPoll),
		tickEvery: max(pollTimeout, 0),
		lag:       shardLag(blockTimeout),
	}
	for range n {
		rs.kicks = append(rs.kicks, make(chan struct{}, 1))
	}
	for j, s := range socks {
		r := &shardReader{rs: rs, s: s, idx: j, open: make([]*shardBatch, n)}
		for range n {
			r.lanes = append(r.lanes, newLane())
		}
		rs.readers = append(rs.readers, r)
	}
	for i := range n {
		src := &shardSource{rs: rs, i: i, heads: make([]*shardBatch, len(socks)), done: make([]bool, len(socks))}
		for _, r := range rs.readers {
			src.lanes = append(src.lanes, r.lanes[i])
		}
		rs.srcs = append(rs.srcs, src)
	}
	return rs
}

// start runs the readers.
func (rs *resharder) start() {
	for _, r := range rs.readers {
		rs.wg.Go(r.run)
	}
}

// stop makes the readers return and waits for them.
func (rs *resharder) stop() {
	rs.quitOnce.Do(func() { close(rs.quit) })
	rs.wg.Wait()
}

// fail ends the capture with err (the first one wins).
func (rs *resharder) fail(err error) {
	rs.errMu.Lock()
	if rs.err == nil {
		rs.err = err
	}
	rs.errMu.Unlock()
	rs.failed.Store(true)
	rs.quitOnce.Do(func() { close(rs.quit) })
	rs.kickAll()
}

func (rs *resharder) error() error {
	rs.errMu.Lock()
	defer rs.errMu.Unlock()
	return rs.err
}

func (rs *resharder) kick(i int) {
	select {
	case rs.kicks[i] <- struct{}{}:
	default:
	}
}

func (rs *resharder) kickAll() {
	for i := range rs.kicks {
		rs.kick(i)
	}
}

// late sums the readers' late frames.
func (rs *resharder) late() uint64 {
	var n uint64
	for _, r := range rs.readers {
		n += r.late.Load()
	}
	return n
}

// shardReader reads one socket and sends each frame to the streamer that
// owns its flow.
type shardReader struct {
	rs    *resharder
	s     *Socket
	idx   int
	lanes []*lane       // to each streamer
	open  []*shardBatch // batch being filled for each streamer
	wm    atomic.Int64  // watermark, unix ns
	last  int64         // key of the last frame, or the last watermark
	late  atomic.Uint64
	d     flows.Decoded
}

// owner returns the streamer of a decoded frame's flow. The top half of
// the hash picks it: the flow tables index by the bottom bits, which would
// otherwise be the same for every flow of a streamer.
func owner(d *flows.Decoded, n int) int {
	k, _ := flows.KeyOf(d)
	return int((k.Hash() >> 32) * uint64(n) >> 32)
}

func (r *shardReader) run() {
	rs := r.rs
	defer r.finish()
	var (
		f       flows.Frame
		n       = len(r.lanes)
		fresh   bool // a frame came since the last idle check
		quietAt = time.Now()
	)
	for {
		select {
		case <-rs.quit:
			return
		default:
		}
		if ready, _ := r.s.pending(); !ready {
			now := time.Now()
			if ready, empty := r.s.pending(); !ready {
				if !r.flush() {
					return
				}
				margin := rs.lag
				if empty {
					margin = int64(shardMargin)
				}
				r.publish(now.UnixNano() - margin)
				if fresh {
					quietAt, fresh = now, false
				}
				if since := rs.stopped.Load(); since != 0 {
					t := now.UnixNano()
					if t-max(since, quietAt.UnixNano()) >= int64(rs.quiet) || t-since > int64(DrainLimit) {
						return
					}
				}
			}
		}
		err := r.s.Next(&f)
		switch {
		case err == nil:
		case errors.Is(err, ErrTimeout):
			continue
		case err == io.EOF:
			return
		default:
			rs.fail(err)
			return
		}
		fresh = true
		if ts := r.s.lastTime(); ts >= r.last {
			r.last = ts
		} else {
			r.late.Add(1)
		}
		dst := r.idx % n
		if flows.Decode(&r.d, f.Data, f.LinkType, f.WireLen, rs.tunnels) {
			dst = owner(&r.d, n)
		}
		b := r.open[dst]
		if b == nil {
			b = r.lanes[dst].batch()
			r.open[dst] = b
		}
		off := len(b.buf)
		b.buf = append(b.buf, f.Data...)
		b.recs = append(b.recs, shardRec{key: r.last, sec: f.Sec, usec: f.Usec, wireLen: f.WireLen, linkType: f.LinkType, off: off, n: len(f.Data)})
		if len(b.recs) == shardBatchFrames || len(b.buf) >= shardBatchBytes {
			if !r.flush() {
				return
			}
			r.publish(r.last)
			if since := rs.stopped.Load(); since != 0 && time.Now().UnixNano()-since > int64(DrainLimit) {
				return
			}
		}
	}
}

// flush sends the batches being filled; false if the readers must stop.
func (r *shardReader) flush() bool {
	for i, b := range r.open {
		if b == nil {
			continue
		}
		select {
		case r.lanes[i].full <- b:
		case <-r.rs.quit:
			return false
		}
		r.open[i] = nil
		r.rs.kick(i)
	}
	return true
}

// publish moves the watermark to w (it never goes back) and wakes the
// streamers.
func (r *shardReader) publish(w int64) {
	r.last = max(r.last, w)
	r.wm.Store(r.last)
	r.rs.kickAll()
}

// finish sends what is left and closes the lanes: the reader's part of
// every streamer's input has ended.
func (r *shardReader) finish() {
	r.flush()
	for _, l := range r.lanes {
		close(l.full)
	}
	r.rs.kickAll()
}

// shardSource is a streamer's source: the frames of its flows from every
// reader, merged by time.
type shardSource struct {
	rs       *resharder
	i        int
	lanes    []*lane       // from each reader
	heads    []*shardBatch // batch being read from each lane
	done     []bool        // the lane is closed and read
	timer    *time.Timer
	lastTick time.Time
}

func (m *shardSource) Next(f *flows.Frame) error {
	rs := m.rs
	if m.lastTick.IsZero() {
		m.lastTick = time.Now()
	}
	for {
		if rs.failed.Load() {
			return rs.error()
		}
		best, bestKey := -1, int64(0)
		minWM, live := int64(math.MaxInt64), 0
		for j, b := range m.heads {
			if b != nil && b.pos == len(b.recs) {
				m.lanes[j].free <- b // never blocks: a lane has fewer batches
				b, m.heads[j] = nil, nil
			}
			if b == nil {
				if m.done[j] {
					continue
				}
				// The watermark first: frames sent before it moved are
				// then in the lane.
				w := rs.readers[j].wm.Load()
				select {
				case nb, ok := <-m.lanes[j].full:
					if !ok {
						m.done[j] = true
						continue
					}
					b, m.heads[j] = nb, nb
				default:
					live++
					minWM = min(minWM, w)
					continue
				}
			}
			live++
			if k := b.recs[b.pos].key; best < 0 || k < bestKey {
				best, bestKey = j, k
			}
		}
		if best >= 0 && bestKey <= minWM {
			b := m.heads[best]
			r := &b.recs[b.pos]
			b.pos++
			*f = flows.Frame{
				Sec: r.sec, Usec: r.usec, CapLen: uint32(r.n), WireLen: r.wireLen, LinkType: r.linkType,
				File: rs.readers[best].s.Interface(), Data: b.buf[r.off : r.off+r.n : r.off+r.n],
			}
			return nil
		}
		if live == 0 {
			return io.EOF
		}
		now := time.Now()
		wait := time.Second
		if rs.tickEvery > 0 {
			if since := now.Sub(m.lastTick); since >= rs.tickEvery {
				m.lastTick = now
				at := minWM
				if best >= 0 {
					at = min(at, bestKey)
				}
				if at > 0 {
					return flows.Idle(f, time.Unix(0, at))
				}
				wait = rs.tickEvery
			} else {
				wait = rs.tickEvery - since
			}
		}
		if m.timer == nil {
			m.timer = time.NewTimer(wait)
		} else {
			m.timer.Reset(wait)
		}
		select {
		case <-rs.kicks[m.i]:
		case <-m.timer.C:
		}
	}
}
