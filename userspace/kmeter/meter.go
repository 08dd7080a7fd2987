//go:build linux

package kmeter

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Meter is a loaded kernel path. Attach it, then iterate [Meter.Flows]
// once; Close releases everything.
type Meter struct {
	opts  Options
	objs  *bpfobj.MeterObjects
	clock clock
	log   *slog.Logger

	mu       sync.Mutex
	attached []detacher
	att      Attachment

	user userCounters
}

// userCounters are the userspace side of [Counters].
type userCounters struct {
	records, flows, kernelFlows, puntFlows, spltGaps, orphans atomic.Uint64
	puntIgnored, applyFailed                                  atomic.Uint64
}

// New loads the programs and maps for o, with zero sizes replaced by their
// defaults. It refuses options out of range ([Options.Validate]) and those
// the kernel path cannot run ([Supports]). It needs CAP_BPF (or root).
func New(o Options) (*Meter, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := Supports(&o.Flow); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := newClock()
	objs, err := load(&o, c)
	if err != nil {
		return nil, err
	}
	return &Meter{opts: o, objs: objs, clock: c, log: log}, nil
}

// Close detaches and releases the programs and maps.
func (m *Meter) Close() error {
	err := m.Detach()
	if cerr := m.objs.Close(); err == nil {
		err = cerr
	}
	return err
}

// Flows meters until ctx is cancelled, yielding every finished flow with
// ids 0, 1, 2, ... On cancellation it detaches, drains the ring buffer and
// yields every flow still in the kernel table and in the userspace engine
// (expiration id 0), then returns without error. Iterate once.
func (m *Meter) Flows(ctx context.Context) iter.Seq2[*flows.Flow, error] {
	return func(yield func(*flows.Flow, error) bool) {
		inner, cancel := context.WithCancel(ctx)
		defer cancel()
		out := make(chan *flows.Flow, 1024)
		errc := make(chan error, 2)
		puntCh := make(chan puntFrame, 4096)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			errc <- m.kernelLoop(inner, out, puntCh)
		}()
		go func() {
			defer wg.Done()
			errc <- m.puntLoop(puntCh, out)
		}()
		go func() {
			wg.Wait()
			close(out)
		}()
		num := flows.NewNumbering(yield, m.opts.Flow.MaxNFlows, &m.user.flows)
		for f := range out {
			if !num.Yield(f) {
				cancel()
			}
		}
		var errs []error
		for range 2 {
			if err := <-errc; err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			num.Fail(err)
		}
	}
}
