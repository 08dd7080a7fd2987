package flows

import (
	"context"
	"io"
	"sync"
)

// The parallel pipeline keeps NFStream's single-meter semantics (one clock,
// one cache, one emission order) and moves the per-packet work that does not
// depend on flow state off the metering goroutine:
//
//	reader ──batch i──► decoder[i mod W] ──► meter (reads batches i = 0, 1, 2, ... in order)
//
// The reader copies frames into fixed-size batches; W decoders apply the BPF
// filter and decode; the metering goroutine takes batches strictly in read
// order (decoder i mod W) so it sees exactly the packet sequence of the
// serial path. Output is therefore byte-identical for every n_meters.

const (
	batchSize   = 256
	prefetchRun = 32
)

type batch struct {
	buf  []byte
	recs []batchRec
	kp   []keyedPacket
	err  error  // source error after the records (terminates the stream)
	read uint64 // frames read for the batch (the records, and one the source or the reader rejected)
	lost uint64 // records the source lost (recoverable errors)
	tick uint64 // the source was idle at this time (ms) after the records; 0 if not
}

type batchRec struct {
	off, n  int
	timeMs  uint64
	wireLen uint32
	dlt     int
	state   frameState
}

func (s *Streamer) runParallel(ctx context.Context, m *meter) error {
	workers := max(s.opts.Meters()-1, 1)
	free := make(chan *batch, workers*4+4)
	for range workers*4 + 4 {
		free <- &batch{buf: make([]byte, 0, batchSize*1600), recs: make([]batchRec, 0, batchSize), kp: make([]keyedPacket, batchSize)}
	}
	in := make([]chan *batch, workers)
	out := make([]chan *batch, workers)
	for i := range workers {
		in[i] = make(chan *batch, 2)
		out[i] = make(chan *batch, 2)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()

	// Reader.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			for _, c := range in {
				close(c)
			}
		}()
		r := newFrameReader(s.src)
		done := ctx.Done()
		for i := 0; ; i++ {
			var b *batch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			b.buf, b.recs, b.err, b.tick = b.buf[:0], b.recs[:0], nil, 0
			r.read, r.lost = 0, 0
			for len(b.recs) < batchSize {
				if err := r.next(); err != nil {
					if err == ErrIdle {
						b.tick = max(r.f.TimeMs(), 1)
					} else {
						b.err = err
					}
					break
				}
				f := &r.f
				off := len(b.buf)
				b.buf = append(b.buf, f.Data...)
				b.recs = append(b.recs, batchRec{off: off, n: len(f.Data), timeMs: f.TimeMs(), wireLen: f.WireLen, dlt: f.LinkType})
			}
			b.read, b.lost = r.read, r.lost
			select {
			case <-done:
				if b.err == nil {
					b.err = ctx.Err()
				}
			default:
			}
			last := b.err != nil // b belongs to the decoder once sent
			select {
			case in[i%workers] <- b:
			case <-stop:
				return
			}
			if last {
				return
			}
		}
	}()

	// Decoders.
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(out[w])
			fd := newFrameDecoder(&s.opts)
			for b := range in[w] {
				for i := range b.recs {
					r := &b.recs[i]
					state, err := fd.decode(&b.kp[i], b.buf[r.off:r.off+r.n], r.dlt, r.wireLen, r.timeMs)
					if err != nil {
						b.recs = b.recs[:i]
						b.err = err
						break
					}
					r.state = state
				}
				select {
				case out[w] <- b:
				case <-stop:
					return
				}
			}
		}()
	}

	// Meter, in read order.
	c := &s.counters
	for i := 0; ; i++ {
		b, ok := <-out[i%workers]
		if !ok {
			return nil
		}
		var processed, ignored, filtered uint64
		for lo := 0; lo < len(b.recs); lo += prefetchRun {
			hi := min(lo+prefetchRun, len(b.recs))
			m.prefetch(b.kp[lo:hi])
			for j := lo; j < hi; j++ {
				r := &b.recs[j]
				switch r.state {
				case frameIgnored:
					ignored++
				case frameFiltered:
					filtered++
				default:
					if !m.stopped {
						processed++
						m.processKeyed(&b.kp[j], b.buf[r.off:r.off+r.n])
					}
				}
			}
		}
		c.PacketsRead.Add(b.read)
		c.PacketsProcessed.Add(processed)
		c.PacketsIgnored.Add(ignored)
		c.PacketsFiltered.Add(filtered)
		c.RecordsLost.Add(b.lost)
		if b.tick != 0 && !m.stopped {
			m.advance(b.tick)
		}
		if m.dis != nil && m.dis.async {
			m.dis.handOver()
			m.deliverReady(false)
		}
		err := b.err
		free <- b
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if m.stopped {
			return nil
		}
	}
}
