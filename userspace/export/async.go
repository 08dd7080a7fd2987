package export

import (
	"sync"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// async runs the encoding of a flow stream beside the caller. Flows are
// queued in batches; with formatters, each batch goes to one of them in
// turn to be formatted into rows; one writer goroutine takes the batches
// back in arrival order and writes their rows, or their flows when there
// are no formatters (a format, like Parquet, whose work cannot be split by
// row). The output is the serial path's, byte for byte.
//
//	add ──batch i──► formatter[i mod W] ──► writer (takes batch 0, 1, 2, ... in order)
type async struct {
	cur     *batch
	in, out []chan *batch
	free    chan *batch
	n       int // batches sent
	wg      sync.WaitGroup
	errOnce sync.Once
	err     error
	errSet  chan struct{}
}

// batch is a run of flows and, once formatted, their rows.
type batch struct {
	flows []*flows.Flow
	rows  []byte
	ends  []int
}

const batchSize = 512

// newAsync starts one goroutine per formatter and the writer, which calls
// writeRow for every row in order or, without formatters, writeFlow for
// every flow. The first write error stops the writing and is reported by
// the next add or by close.
func newAsync(formatters []func(b []byte, f *flows.Flow) []byte, writeRow func([]byte) error, writeFlow func(*flows.Flow) error) *async {
	stages, depth := len(formatters), 1
	if stages == 0 {
		stages, depth = 1, 4 // the writer takes the batches as they come
	}
	nbatch := stages*3 + 2
	a := &async{free: make(chan *batch, nbatch), errSet: make(chan struct{})}
	for range nbatch {
		a.free <- &batch{flows: make([]*flows.Flow, 0, batchSize)}
	}
	a.in = make([]chan *batch, stages)
	a.out = make([]chan *batch, stages)
	for i := range stages {
		a.in[i] = make(chan *batch, depth)
		a.out[i] = a.in[i]
		if len(formatters) == 0 {
			continue
		}
		a.out[i] = make(chan *batch, 1)
		format := formatters[i]
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(a.out[i])
			for b := range a.in[i] {
				b.rows, b.ends = b.rows[:0], b.ends[:0]
				for _, f := range b.flows {
					b.rows = format(b.rows, f)
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
			b, ok := <-a.out[i%stages]
			if !ok {
				return
			}
			if !failed {
				if err := b.write(writeRow, writeFlow); err != nil {
					a.fail(err)
					failed = true
				}
			}
			clear(b.flows)
			b.flows = b.flows[:0]
			a.free <- b
		}
	}()
	return a
}

// write writes the batch's rows with writeRow, or its flows with
// writeFlow when writeRow is nil, up to the first error.
func (b *batch) write(writeRow func([]byte) error, writeFlow func(*flows.Flow) error) error {
	if writeRow == nil {
		for _, f := range b.flows {
			if err := writeFlow(f); err != nil {
				return err
			}
		}
		return nil
	}
	start := 0
	for _, end := range b.ends {
		if err := writeRow(b.rows[start:end]); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (a *async) fail(err error) {
	a.errOnce.Do(func() {
		a.err = err
		close(a.errSet)
	})
}

// add queues a flow; it returns the writer's error, if any so far.
func (a *async) add(f *flows.Flow) error {
	select {
	case <-a.errSet:
		return a.err
	default:
	}
	if a.cur == nil {
		a.cur = <-a.free
	}
	a.cur.flows = append(a.cur.flows, f)
	if len(a.cur.flows) == batchSize {
		a.send()
	}
	return nil
}

func (a *async) send() {
	a.in[a.n%len(a.in)] <- a.cur
	a.n++
	a.cur = nil
}

// close writes the queued flows, waits for every one to be written and
// returns the first write error.
func (a *async) close() error {
	if a.cur != nil && len(a.cur.flows) > 0 {
		a.send()
	}
	for _, c := range a.in {
		close(c)
	}
	a.wg.Wait()
	return a.err
}
