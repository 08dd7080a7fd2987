package flows_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// gatedSource is a live source: it returns queued frames, reports ErrIdle
// at the time of each queued tick, and blocks before its last frame until
// the test releases it.
type gatedSource struct {
	inner   flowstest.Source
	n, gate int
	release chan struct{}
}

func (g *gatedSource) Next(p *flows.Frame) error {
	if g.n == g.gate {
		select {
		case <-g.release:
		case <-time.After(10 * time.Second):
			return io.ErrUnexpectedEOF
		}
	}
	g.n++
	return g.inner.Next(p)
}

// A live source that goes quiet must still see its idle flows expire: the
// ErrIdle tick advances the clock and every idle flow is emitted then, not
// when the next frame comes.
func TestIdleTickExpiresFlows(t *testing.T) {
	for _, meters := range []int{1, 3} {
		// GIVEN two flows at t=1s and t=1.5s, then silence until t=4s
		// (ticks at 3.2 s and 4 s), and a third flow that the source only
		// delivers once both are out, with a 2 s idle timeout
		src := &gatedSource{gate: 4, release: make(chan struct{})}
		src.inner.Push(1000, flowstest.TCP(hostA, hostB, 0x02, 0))
		src.inner.Push(1500, flowstest.UDP(hostC, hostD, 10))
		src.inner.PushIdle(3200) // only the first flow is idle (2.2 s)
		src.inner.PushIdle(4000) // now the second too
		src.inner.Push(10000, flowstest.UDP(hostA, hostD, 10))
		o := flows.DefaultOptions()
		o.NDissections = 0
		o.IdleTimeout = 2
		o.NMeters = meters
		st, err := flows.NewStreamer(src, o)
		if err != nil {
			t.Fatal(err)
		}
		// WHEN it is metered
		var got []*flows.Flow
		for f, err := range st.Flows(context.Background()) {
			if err != nil {
				t.Fatalf("meters %d: %v (idle flows were not emitted on the ticks)", meters, err)
			}
			got = append(got, f)
			if len(got) == 2 {
				close(src.release)
			}
		}
		// THEN the two idle flows came out before the third frame was
		// read, in creation order, and the third at the end
		if len(got) != 3 {
			t.Fatalf("meters %d: %d flows", meters, len(got))
		}
		if got[0].SrcPort() != hostA.Port() || got[1].SrcPort() != hostC.Port() || got[2].DstPort() != hostD.Port() {
			t.Errorf("meters %d: order %v %v %v", meters, got[0].SrcAddr(), got[1].SrcAddr(), got[2].SrcAddr())
		}
		for i, f := range got {
			if f.ExpirationID != 0 || f.Bidirectional.Packets != 1 {
				t.Errorf("meters %d flow %d: expiration %d packets %d", meters, i, f.ExpirationID, f.Bidirectional.Packets)
			}
		}
	}
}
