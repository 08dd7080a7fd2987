package export

import (
	"sync"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// asyncRows formats flows into CSV rows on several goroutines and hands the
// rows to one writer goroutine in the order the flows arrived, so the
// output is the same as the serial path's, byte for byte.
//
//	Write ──batch i──► formatter[i mod W] ──► writer (takes batch 0, 1, 2, ... in order)
type asyncRows struct {
	cur     *rowBatch
	in, out []chan *rowBatch
	free    chan *rowBatch
	n       int // batches sent
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
	errSet  chan struct{}
}

type rowBatch struct {
	flows []*flows.Flow
	rows  []byte
	ends  []int
}

const rowBatchSize = 512

// newAsyncRows starts workers formatters (copies of proto) and a writer
// that calls write for every row in order; write's first error stops the
// pipeline and is reported by the next send or by close.
func newAsyncRows(workers int, proto *CSV, write func(row []byte) error) *asyncRows {
	a := &asyncRows{free: make(chan *rowBatch, workers*3+2), errSet: make(chan struct{})}
	for range workers*3 + 2 {
		a.free <- &rowBatch{}
	}
	a.in = make([]chan *rowBatch, workers)
	a.out = make([]chan *rowBatch, workers)
	for i := range workers {
		a.in[i] = make(chan *rowBatch, 1)
		a.out[i] = make(chan *rowBatch, 1)
		fm := proto.formatter()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(a.out[i])
			for b := range a.in[i] {
				b.rows, b.ends = b.rows[:0], b.ends[:0]
				for _, f := range b.flows {
					b.rows = fm.AppendFlow(b.rows, f)
					b.ends = append(b.ends, len(b.rows))
				}
				a.out[i] <- b
			}
		}()
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		failed := false
		for i := 0; ; i++ {
			b, ok := <-a.out[i%workers]
			if !ok {
				return
			}
			start := 0
			for _, end := range b.ends {
				if !failed {
					if err := write(b.rows[start:end]); err != nil {
						a.fail(err)
						failed = true
					}
				}
				start = end
			}
			clear(b.flows)
			b.flows = b.flows[:0]
			a.free <- b
		}
	}()
	return a
}

func (a *asyncRows) fail(err error) {
	a.errOnce.Do(func() {
		a.err = err
		close(a.errSet)
	})
}

// add queues a flow; it returns the writer's error, if any so far.
func (a *asyncRows) add(f *flows.Flow) error {
	select {
	case <-a.errSet:
		return a.err
	default:
	}
	if a.cur == nil {
		a.cur = <-a.free
	}
	a.cur.flows = append(a.cur.flows, f)
	if len(a.cur.flows) == rowBatchSize {
		a.send()
	}
	return nil
}

func (a *asyncRows) send() {
	a.in[a.n%len(a.in)] <- a.cur
	a.n++
	a.cur = nil
}

// close flushes the queued flows, waits for every row to be written and
// returns the first write error.
func (a *asyncRows) close() error {
	if a.cur != nil && len(a.cur.flows) > 0 {
		a.send()
	}
	for _, c := range a.in {
		close(c)
	}
	a.wg.Wait()
	return a.err
}
