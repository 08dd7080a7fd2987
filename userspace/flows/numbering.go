package flows

import "sync/atomic"

// Numbering gives the flows of one sequence their ids 0, 1, 2, ... and
// ends the sequence after max_nflows ([Options.MaxNFlows]) flows. Every
// producer of flows yields through one: a [Streamer], a [Merge] of several,
// the kernel meter. A producer that receives flows from goroutines of its
// own (over a channel) numbers them as it yields them, and stops those
// goroutines once [Numbering.Yield] returns false.
//
// A Numbering is used by one goroutine.
type Numbering struct {
	yield   func(*Flow, error) bool
	max     uint64
	count   *atomic.Uint64
	next    uint64
	stopped bool
}

// NewNumbering returns a Numbering passing flows to yield and ending after
// maxNFlows of them (0: no limit). count, when not nil, is incremented for
// every flow yielded (before yield sees it), for counters read while
// iterating.
func NewNumbering(yield func(*Flow, error) bool, maxNFlows uint64, count *atomic.Uint64) *Numbering {
	return &Numbering{yield: yield, max: maxNFlows, count: count}
}

// Yield gives f the next id and yields it. It returns false once the
// sequence is over: the consumer stopped, or f was flow max_nflows. From
// then on it drops every flow (the producer should stop and release them)
// and keeps returning false.
func (n *Numbering) Yield(f *Flow) bool {
	if n.stopped {
		return false
	}
	f.ID = n.next
	n.next++
	if n.count != nil {
		n.count.Add(1)
	}
	if !n.yield(f, nil) || (n.max > 0 && n.next >= n.max) {
		n.stopped = true
	}
	return !n.stopped
}

// Fail ends the sequence with err, which is yielded unless the sequence
// was already over (then nobody is listening, or max_nflows was reached
// and the error is that of the producers being stopped).
func (n *Numbering) Fail(err error) {
	if n.stopped {
		return
	}
	n.stopped = true
	n.yield(nil, err)
}

// Stopped reports whether the sequence is over.
func (n *Numbering) Stopped() bool { return n.stopped }

// Len returns how many flows have been numbered.
func (n *Numbering) Len() uint64 { return n.next }
