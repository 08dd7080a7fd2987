package flows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync/atomic"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/bpffilter"
)

// Source delivers captured frames, like [pcapreplay.Reader]. Next returns
// io.EOF after the last frame. An error for which [Recoverable] reports true
// loses that record only; any other error ends the source.
type Source interface {
	Next(p *pcapreplay.Packet) error
}

// ErrIdle is what a live [Source] returns from Next when no frame arrived
// within its poll interval. The packet's time fields must then hold the
// current time: the meter advances its clock to it and expires idle flows,
// so that live flows end even when no packet comes. ErrIdle loses nothing.
var ErrIdle = errors.New("no packet within the poll interval")

// Idle sets p to a packet without a frame at time t and returns ErrIdle:
// what a live Source's Next returns when no frame came in time.
func Idle(p *pcapreplay.Packet, t time.Time) error {
	*p = pcapreplay.Packet{Sec: t.Unix(), Usec: int64(t.Nanosecond() / 1000), LinkType: DLTEthernet}
	return ErrIdle
}

// Recoverable reports whether a source error only lost one record.
func Recoverable(err error) bool {
	var re interface{ Recoverable() bool }
	return errors.As(err, &re) && re.Recoverable()
}

// Counters are a streamer's running totals. They are updated atomically
// and may be read while iterating.
type Counters struct {
	PacketsRead      atomic.Uint64 // frames delivered by the source
	PacketsProcessed atomic.Uint64 // frames metered
	PacketsIgnored   atomic.Uint64 // frames NFStream would ignore (not IP, truncated, ...)
	PacketsFiltered  atomic.Uint64 // frames rejected by the BPF filter
	RecordsLost      atomic.Uint64 // records the source could not deliver (recoverable errors)
	Flows            atomic.Uint64 // flows emitted
}

// Streamer turns a packet source into flows. Iterate with [Streamer.Flows].
type Streamer struct {
	src      Source
	opts     Options
	counters Counters
}

// NewStreamer validates opts and returns a streamer reading src.
func NewStreamer(src Source, opts Options) (*Streamer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.NDissections > 0 && opts.NewDissector == nil {
		return nil, &ParamError{"n_dissections", opts.NDissections, "0 unless a dissector (nDPI) is configured"}
	}
	return &Streamer{src: src, opts: opts}, nil
}

// Counters returns the streamer's live counters.
func (s *Streamer) Counters() *Counters { return &s.counters }

// Flows meters the whole source and yields every flow in NFStream's emission
// order with ids 0, 1, 2, ... The order and every value are the same for any
// NMeters. When the source fails or ctx is cancelled, every flow still in the
// cache is yielded first, then the error (ctx.Err() on cancellation). A
// streamer can be iterated once.
func (s *Streamer) Flows(ctx context.Context) iter.Seq2[*Flow, error] {
	return func(yield func(*Flow, error) bool) {
		stopped := false
		var id uint64
		emit := func(f *Flow) bool {
			if stopped {
				return false
			}
			f.ID = id
			id++
			s.counters.Flows.Add(1)
			if !yield(f, nil) {
				stopped = true
				return false
			}
			if s.opts.MaxNFlows > 0 && id >= s.opts.MaxNFlows {
				stopped = true
				return false
			}
			return true
		}
		m := newMeter(&s.opts, emit)
		if s.opts.NDissections > 0 {
			ds, err := s.opts.newDissectorShards()
			if err != nil {
				yield(nil, err)
				return
			}
			async := s.opts.Meters() > 1 && len(s.opts.Plugins) == 0
			m.dis = newDissectors(ds, s.opts.NDissections, async)
		}
		var err error
		if s.opts.Meters() > 1 {
			err = s.runParallel(ctx, m)
		} else {
			err = s.runSerial(ctx, m)
		}
		if !m.stopped {
			m.flush()
		}
		m.deliverReady(true)
		m.release()
		if m.dis != nil {
			if cerr := m.dis.close(); err == nil {
				err = cerr
			}
		}
		if err != nil && !stopped {
			yield(nil, err)
		}
	}
}

// frameState is what became of a frame.
type frameState uint8

const (
	frameMetered  frameState = iota
	frameIgnored             // NFStream would ignore it (not IP, truncated, ...)
	frameFiltered            // rejected by the BPF filter
)

// frameDecoder applies the BPF filter (compiled once per link type) and
// decodes and keys frames. Each goroutine that decodes has its own.
type frameDecoder struct {
	expr    string
	tunnels bool
	byDLT   map[int]*bpffilter.Filter
	lastDLT int
	last    *bpffilter.Filter
}

func newFrameDecoder(o *Options) *frameDecoder {
	return &frameDecoder{expr: o.BPFFilter, tunnels: o.DecodeTunnels, lastDLT: -1}
}

func (fd *frameDecoder) filter(dlt int) (*bpffilter.Filter, error) {
	if dlt == fd.lastDLT {
		return fd.last, nil
	}
	f, ok := fd.byDLT[dlt]
	if !ok {
		var err error
		if f, err = bpffilter.Compile(fd.expr, dlt, 262144); err != nil {
			return nil, fmt.Errorf("bpf_filter: %w", err)
		}
		if fd.byDLT == nil {
			fd.byDLT = make(map[int]*bpffilter.Filter)
		}
		fd.byDLT[dlt] = f
	}
	fd.lastDLT, fd.last = dlt, f
	return f, nil
}

// decode filters and decodes one frame into kp, keyed with time t.
func (fd *frameDecoder) decode(kp *keyedPacket, data []byte, dlt int, wireLen uint32, t uint64) (frameState, error) {
	if fd.expr != "" {
		flt, err := fd.filter(dlt)
		if err != nil {
			return 0, err
		}
		if !flt.Match(data, wireLen) {
			return frameFiltered, nil
		}
	}
	if !Decode(&kp.d, data, dlt, wireLen, fd.tunnels) {
		return frameIgnored, nil
	}
	kp.keyed(t)
	return frameMetered, nil
}

// runSerial reads, filters, decodes and meters on the calling goroutine.
// Without plugins (which need the frames) packets are decoded in runs of
// serialRun so that the meter can prefetch their flows. Counters are
// published every few thousand packets and at the end.
func (s *Streamer) runSerial(ctx context.Context, m *meter) error {
	var (
		p    pcapreplay.Packet
		fd   = newFrameDecoder(&s.opts)
		done = ctx.Done()
		loc  localCounters
		run  = make([]keyedPacket, serialRun)
	)
	defer loc.publish(&s.counters)
	select {
	case <-done:
		return ctx.Err()
	default:
	}
	runLen := serialRun
	if len(s.opts.Plugins) > 0 || s.opts.NDissections > 0 {
		runLen = 1 // they need the frame of each packet
	}
	lastDLT := -1
	for !m.stopped {
		if loc.read-loc.pRead >= 4096 {
			loc.publish(&s.counters)
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		n := 0
		var err error
		idle := false
		for n < runLen {
			if err = s.src.Next(&p); err != nil {
				if err == ErrIdle {
					idle, err = true, nil
					break
				}
				if err != io.EOF && Recoverable(err) {
					loc.lost++
					err = nil
					continue
				}
				break
			}
			loc.read++
			if p.LinkType != lastDLT {
				if !SupportedLinkType(p.LinkType) {
					err = &LinkTypeError{File: p.File, LinkType: p.LinkType}
					break
				}
				lastDLT = p.LinkType
			}
			state, ferr := fd.decode(&run[n], p.Data, p.LinkType, p.WireLen, p.TimeMs())
			if ferr != nil {
				err = ferr
				break
			}
			switch state {
			case frameFiltered:
				loc.filtered++
			case frameIgnored:
				loc.ignored++
			default:
				n++
			}
		}
		if runLen == 1 {
			if n == 1 {
				loc.processed++
				m.processKeyed(&run[0], p.Data)
			}
		} else {
			m.prefetch(run[:n])
			for i := range n {
				loc.processed++
				m.processKeyed(&run[i], nil)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if idle {
			m.advance(p.TimeMs())
			loc.publish(&s.counters)
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
	}
	return nil
}

// serialRun is how many packets the serial path decodes before metering
// them.
const serialRun = 32

// localCounters accumulate on the hot path and are published in bulk.
type localCounters struct {
	read, processed, ignored, filtered, lost      uint64
	pRead, pProcessed, pIgnored, pFiltered, pLost uint64
}

func (l *localCounters) publish(c *Counters) {
	c.PacketsRead.Add(l.read - l.pRead)
	c.PacketsProcessed.Add(l.processed - l.pProcessed)
	c.PacketsIgnored.Add(l.ignored - l.pIgnored)
	c.PacketsFiltered.Add(l.filtered - l.pFiltered)
	c.RecordsLost.Add(l.lost - l.pLost)
	l.pRead, l.pProcessed, l.pIgnored, l.pFiltered, l.pLost = l.read, l.processed, l.ignored, l.filtered, l.lost
}
