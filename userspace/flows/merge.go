package flows

import (
	"context"
	"errors"
	"iter"
	"sync"
)

// Producer is anything that meters into flows: a [Streamer], or a live
// meter. Flows is iterated once.
type Producer interface {
	Flows(ctx context.Context) iter.Seq2[*Flow, error]
}

// Merge iterates every producer at once, each on its own goroutine, and
// yields their flows in the order they arrive as one sequence numbered by
// a [Numbering]: ids 0, 1, 2, ..., ending after maxNFlows flows (0: no
// limit). This is how the meters of a live capture (one streamer per
// socket of a fanout group, as NFStream's meters) make one flow stream.
//
// The producers run with a context derived from ctx. Merge cancels it when
// the sequence ends early: a producer failed (its error is yielded, once),
// max_nflows was reached, or the consumer stopped. A producer ending with
// an error wrapping context.Canceled (because of that, or because ctx was
// cancelled) has ended normally: that is not an error. A [Streamer] yields
// its open flows first; a live source that must first deliver what is
// already captured ends itself instead (it returns io.EOF) and is run with
// a ctx that is never cancelled. Merge returns once every producer has
// returned.
func Merge(ctx context.Context, ps []Producer, maxNFlows uint64) iter.Seq2[*Flow, error] {
	return func(yield func(*Flow, error) bool) {
		inner, cancel := context.WithCancel(ctx)
		defer cancel()
		type item struct {
			f   *Flow
			err error
		}
		ch := make(chan item, 256)
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() {
				for f, err := range p.Flows(inner) {
					if err != nil && errors.Is(err, context.Canceled) {
						return
					}
					ch <- item{f, err}
					if err != nil {
						return
					}
				}
			})
		}
		go func() {
			wg.Wait()
			close(ch)
		}()
		num := NewNumbering(yield, maxNFlows, nil)
		for it := range ch {
			switch {
			case num.Stopped():
				// Drain: the producers are ending.
			case it.err != nil:
				cancel()
				num.Fail(it.err)
			case !num.Yield(it.f):
				cancel()
			}
		}
	}
}
