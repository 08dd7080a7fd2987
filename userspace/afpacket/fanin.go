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

// Fan-in: the readers of a fanout group send their frames to one source
// that merges them by time under the readers' watermarks (see the package
// documentation, "One meter for the whole group").
//
// No deadlock: a reader publishes a watermark only after sending every
// frame it read before it, and sends at most one batch between two
// watermarks, while a lane holds more. So the frame with the smallest key
// of all those sent can always be released: a reader whose watermark is
// below that key has no batch of an earlier round in its lane (their
// frames are not below its watermark, and none is below the smallest key),
// so its lane is not full and it is reading or waiting for frames, and its
// watermark moves on.

const (
	laneBatchFrames = 64       // frames a batch holds
	laneBatchBytes  = 64 << 10 // bytes of frames after which a batch is sent
	laneBatches     = 16       // batches a lane from a reader holds
	// fanInPoll is how long an idle reader waits for a block before it
	// checks its ring and moves its watermark on.
	fanInPoll = 5 * time.Millisecond
	// fanInMargin is how much earlier than its entering the ring a frame
	// may be timestamped.
	fanInMargin = 10 * time.Millisecond
)

// fanInLag is the longest a frame can wait in an open block of a ring
// with block timeout bt before the kernel hands the block over: the
// retire timer runs in scheduler ticks.
func fanInLag(bt time.Duration) int64 { return int64(2*bt + 10*time.Millisecond) }

// laneRec is one frame of a batch; its bytes are buf[off:off+n].
type laneRec struct {
	key       int64 // merge key: kernel time in unix ns, never below the lane's previous key
	sec, usec int64
	wireLen   uint32
	linkType  int
	off, n    int
}

type laneBatch struct {
	recs []laneRec
	buf  []byte
	pos  int // next record the source reads
}

// lane carries batches from a reader to the merged source, and gives them
// back for reuse.
type lane struct {
	full chan *laneBatch
	free chan *laneBatch // never full: a lane has at most laneBatches+2 batches
}

func newLane() *lane {
	return &lane{full: make(chan *laneBatch, laneBatches), free: make(chan *laneBatch, laneBatches+2)}
}

func (l *lane) batch() *laneBatch {
	select {
	case b := <-l.free:
		b.recs, b.buf, b.pos = b.recs[:0], b.buf[:0], 0
		return b
	default:
		return &laneBatch{recs: make([]laneRec, 0, laneBatchFrames), buf: make([]byte, 0, 16<<10)}
	}
}

// fanIn reads every socket of a group, each on its own goroutine, and
// delivers their frames as one [flows.Source] in the order of the kernel's
// timestamps.
type fanIn struct {
	readers []*laneReader
	heads   []*laneBatch  // batch being read from each lane
	done    []bool        // the lane is closed and read
	kick    chan struct{} // a batch was sent or a watermark moved

	quit     chan struct{} // closed to stop the readers
	quitOnce sync.Once
	failed   atomic.Bool
	errMu    sync.Mutex
	err      error

	stopped   *atomic.Int64 // unix ns when the meter was stopped; 0 before
	quiet     time.Duration // drain: a stopped reader ends after this long without a frame
	tickEvery time.Duration // idle ticks; 0: none
	lag       int64
	wg        sync.WaitGroup

	timer    *time.Timer
	lastTick time.Time
}

// newFanIn prepares a reader for each socket. pollTimeout is the meter's
// poll timeout: the interval of the idle ticks (none if negative) and how
// long a stopped meter waits for frames still coming.
func newFanIn(socks []*Socket, pollTimeout, blockTimeout time.Duration, stopped *atomic.Int64) *fanIn {
	fi := &fanIn{
		heads:     make([]*laneBatch, len(socks)),
		done:      make([]bool, len(socks)),
		kick:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		stopped:   stopped,
		quiet:     max(pollTimeout, fanInPoll),
		tickEvery: max(pollTimeout, 0),
		lag:       fanInLag(blockTimeout),
	}
	for j, s := range socks {
		fi.readers = append(fi.readers, &laneReader{fi: fi, s: s, idx: j, lane: newLane()})
	}
	return fi
}

// start runs the readers.
func (fi *fanIn) start() {
	for _, r := range fi.readers {
		fi.wg.Go(r.run)
	}
}

// stop makes the readers return and waits for them.
func (fi *fanIn) stop() {
	fi.quitOnce.Do(func() { close(fi.quit) })
	fi.wg.Wait()
}

// fail ends the capture with err (the first one wins).
func (fi *fanIn) fail(err error) {
	fi.errMu.Lock()
	if fi.err == nil {
		fi.err = err
	}
	fi.errMu.Unlock()
	fi.failed.Store(true)
	fi.quitOnce.Do(func() { close(fi.quit) })
	fi.wake()
}

func (fi *fanIn) error() error {
	fi.errMu.Lock()
	defer fi.errMu.Unlock()
	return fi.err
}

func (fi *fanIn) wake() {
	select {
	case fi.kick <- struct{}{}:
	default:
	}
}

// late sums the readers' late frames.
func (fi *fanIn) late() uint64 {
	var n uint64
	for _, r := range fi.readers {
		n += r.late.Load()
	}
	return n
}

// perSocket returns the frames each reader sent.
func (fi *fanIn) perSocket() []uint64 {
	out := make([]uint64, len(fi.readers))
	for i, r := range fi.readers {
		out[i] = r.sent.Load()
	}
	return out
}

// laneReader reads one socket into its lane.
type laneReader struct {
	fi   *fanIn
	s    *Socket
	idx  int
	lane *lane
	open *laneBatch   // batch being filled
	wm   atomic.Int64 // watermark, unix ns
	last int64        // key of the last frame, or the last watermark
	late atomic.Uint64
	sent atomic.Uint64
	n    uint64 // frames in batches sent, published to sent
}

func (r *laneReader) run() {
	fi := r.fi
	defer r.finish()
	var (
		f       flows.Frame
		fresh   bool // a frame came since the last idle check
		quietAt = time.Now()
	)
	for {
		select {
		case <-fi.quit:
			return
		default:
		}
		if ready, _ := r.s.pending(); !ready {
			now := time.Now()
			if ready, empty := r.s.pending(); !ready {
				if !r.flush() {
					return
				}
				margin := fi.lag
				if empty {
					margin = int64(fanInMargin)
				}
				r.publish(now.UnixNano() - margin)
				if fresh {
					quietAt, fresh = now, false
				}
				if since := fi.stopped.Load(); since != 0 {
					t := now.UnixNano()
					if t-max(since, quietAt.UnixNano()) >= int64(fi.quiet) || t-since > int64(DrainLimit) {
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
			fi.fail(err)
			return
		}
		fresh = true
		if ts := r.s.lastTime(); ts >= r.last {
			r.last = ts
		} else {
			r.late.Add(1)
		}
		b := r.open
		if b == nil {
			b = r.lane.batch()
			r.open = b
		}
		off := len(b.buf)
		b.buf = append(b.buf, f.Data...)
		b.recs = append(b.recs, laneRec{key: r.last, sec: f.Sec, usec: f.Usec, wireLen: f.WireLen, linkType: f.LinkType, off: off, n: len(f.Data)})
		if len(b.recs) == laneBatchFrames || len(b.buf) >= laneBatchBytes {
			if !r.flush() {
				return
			}
			r.publish(r.last)
			if since := fi.stopped.Load(); since != 0 && time.Now().UnixNano()-since > int64(DrainLimit) {
				return
			}
		}
	}
}

// flush sends the batch being filled; false if the reader must stop.
func (r *laneReader) flush() bool {
	b := r.open
	if b == nil {
		return true
	}
	select {
	case r.lane.full <- b:
	case <-r.fi.quit:
		return false
	}
	r.open = nil
	r.n += uint64(len(b.recs))
	r.sent.Store(r.n)
	return true
}

// publish moves the watermark to w (it never goes back) and wakes the
// source.
func (r *laneReader) publish(w int64) {
	r.last = max(r.last, w)
	r.wm.Store(r.last)
	r.fi.wake()
}

// finish sends what is left and closes the lane.
func (r *laneReader) finish() {
	r.flush()
	close(r.lane.full)
	r.fi.wake()
}

// Next delivers the frame with the smallest key of all the readers' once
// no reader can send an earlier one. f.Data is valid until the next call.
func (fi *fanIn) Next(f *flows.Frame) error {
	if fi.lastTick.IsZero() {
		fi.lastTick = time.Now()
	}
	for {
		if fi.failed.Load() {
			return fi.error()
		}
		best, bestKey := -1, int64(0)
		minWM, live := int64(math.MaxInt64), 0
		for j, b := range fi.heads {
			r := fi.readers[j]
			if b != nil && b.pos == len(b.recs) {
				r.lane.free <- b
				b, fi.heads[j] = nil, nil
			}
			if b == nil {
				if fi.done[j] {
					continue
				}
				// The watermark first: every frame sent before it moved is
				// then in the lane.
				w := r.wm.Load()
				select {
				case nb, ok := <-r.lane.full:
					if !ok {
						fi.done[j] = true
						continue
					}
					b, fi.heads[j] = nb, nb
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
			b := fi.heads[best]
			r := &b.recs[b.pos]
			b.pos++
			*f = flows.Frame{
				Sec: r.sec, Usec: r.usec, CapLen: uint32(r.n), WireLen: r.wireLen, LinkType: r.linkType,
				File: fi.readers[best].s.Interface(), Data: b.buf[r.off : r.off+r.n : r.off+r.n],
			}
			return nil
		}
		if live == 0 {
			return io.EOF
		}
		now := time.Now()
		wait := time.Second
		if fi.tickEvery > 0 {
			wait = fi.tickEvery
			if since := now.Sub(fi.lastTick); since >= fi.tickEvery {
				fi.lastTick = now
				at := minWM
				if best >= 0 {
					at = min(at, bestKey)
				}
				if at > 0 {
					return flows.Idle(f, time.Unix(0, at))
				}
			} else {
				wait -= since
			}
		}
		if fi.timer == nil {
			fi.timer = time.NewTimer(wait)
		} else {
			fi.timer.Reset(wait)
		}
		select {
		case <-fi.kick:
		case <-fi.timer.C:
		}
	}
}
