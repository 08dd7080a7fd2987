package flows

import (
	"context"
	"io"
	"iter"
	"sync/atomic"
)

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
	if opts.BPFFilter != "" && opts.NewFilter == nil {
		return nil, &ParamError{"bpf_filter", opts.BPFFilter, "empty unless a filter compiler (bpffilter) is configured"}
	}
	return &Streamer{src: src, opts: opts}, nil
}

// Counters returns the streamer's live counters.
func (s *Streamer) Counters() *Counters { return &s.counters }

// Flows meters the whole source and yields every flow in NFStream's emission
// order with ids 0, 1, 2, ..., stopping after [Options.MaxNFlows] (see
// [Numbering]). The order and every value are the same for any
// NMeters. When the source fails or ctx is cancelled, every flow still in the
// cache is yielded first, then the error (ctx.Err() on cancellation). A
// streamer can be iterated once.
func (s *Streamer) Flows(ctx context.Context) iter.Seq2[*Flow, error] {
	return func(yield func(*Flow, error) bool) {
		num := NewNumbering(yield, s.opts.MaxNFlows, &s.counters.Flows)
		m := newMeter(&s.opts, num.Yield)
		if s.opts.NDissections > 0 {
			ds, err := s.opts.newDissectorShards()
			if err != nil {
				num.Fail(err)
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
		if err != nil {
			num.Fail(err)
		}
	}
}

// runSerial reads, filters, decodes and meters on the calling goroutine.
// Without plugins (which need the frames) packets are decoded in runs of
// serialRun so that the meter can prefetch their flows. Counters are
// published every few thousand packets and at the end.
func (s *Streamer) runSerial(ctx context.Context, m *meter) error {
	var (
		r    = newFrameReader(s.src)
		fd   = newFrameDecoder(&s.opts)
		done = ctx.Done()
		loc  = localCounters{r: &r}
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
	for !m.stopped {
		if r.read-loc.pRead >= 4096 {
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
			if err = r.next(); err != nil {
				if err == ErrIdle {
					idle, err = true, nil
				}
				break
			}
			f := &r.f
			state, ferr := fd.decode(&run[n], f.Data, f.LinkType, f.WireLen, f.TimeMs())
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
				m.processKeyed(&run[0], r.f.Data)
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
			m.advance(r.f.TimeMs())
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

// localCounters accumulate on the hot path and are published in bulk; the
// frames read and the records lost are the reader's.
type localCounters struct {
	r                                             *frameReader
	processed, ignored, filtered                  uint64
	pRead, pProcessed, pIgnored, pFiltered, pLost uint64
}

func (l *localCounters) publish(c *Counters) {
	c.PacketsRead.Add(l.r.read - l.pRead)
	c.PacketsProcessed.Add(l.processed - l.pProcessed)
	c.PacketsIgnored.Add(l.ignored - l.pIgnored)
	c.PacketsFiltered.Add(l.filtered - l.pFiltered)
	c.RecordsLost.Add(l.r.lost - l.pLost)
	l.pRead, l.pProcessed, l.pIgnored, l.pFiltered, l.pLost = l.r.read, l.processed, l.ignored, l.filtered, l.r.lost
}
