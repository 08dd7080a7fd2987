package export

import (
	"sync"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// asyncFlows hands flows, in batches, to one goroutine that writes them in
// arrival order, so that an exporter whose work cannot be split by row
// (the Parquet writer encodes and compresses whole columns) still runs
// beside the metering goroutine.
type asyncFlows struct {
	cur    []*flows.Flow
	work   chan []*flows.Flow
	free   chan []*flows.Flow
	done   sync.WaitGroup
	mu     sync.Mutex
	err    error
	failed chan struct{}
}

const flowBatchSize = 512

// newAsyncFlows starts the goroutine; write's first error stops the
// writing and is reported by the next add or by close.
func newAsyncFlows(write func(*flows.Flow) error) *asyncFlows {
	const batches = 4
	a := &asyncFlows{work: make(chan []*flows.Flow, batches), free: make(chan []*flows.Flow, batches+1), failed: make(chan struct{})}
	for range batches + 1 {
		a.free <- make([]*flows.Flow, 0, flowBatchSize)
	}
	a.done.Add(1)
	go func() {
		defer a.done.Done()
		ok := true
		for b := range a.work {
			for _, f := range b {
				if !ok {
					break
				}
				if err := write(f); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
					close(a.failed)
					ok = false
				}
			}
			clear(b)
			a.free <- b[:0]
		}
	}()
	return a
}

// add queues a flow; it returns the writer's error, if any so far.
func (a *asyncFlows) add(f *flows.Flow) error {
	select {
	case <-a.failed:
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.err
	default:
	}
	if a.cur == nil {
		a.cur = <-a.free
	}
	a.cur = append(a.cur, f)
	if len(a.cur) == flowBatchSize {
		a.work <- a.cur
		a.cur = nil
	}
	return nil
}

// close writes the queued flows, stops the goroutine and returns the first
// write error.
func (a *asyncFlows) close() error {
	if len(a.cur) > 0 {
		a.work <- a.cur
		a.cur = nil
	}
	close(a.work)
	a.done.Wait()
	return a.err
}
