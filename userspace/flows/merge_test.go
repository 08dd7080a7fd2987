package flows_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// flowSources returns n sources of k single-packet UDP flows each, all
// different.
func flowSources(n, k int) []*flowstest.Source {
	srcs := make([]*flowstest.Source, n)
	for i := range srcs {
		srcs[i] = new(flowstest.Source)
		for j := range k {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j)}), 5000)
			srcs[i].Push(int64(1000+j), flowstest.UDP(src, hostD, 10))
		}
	}
	return srcs
}

func producers(t *testing.T, srcs []*flowstest.Source) []flows.Producer {
	t.Helper()
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.NMeters = 1
	var ps []flows.Producer
	for _, src := range srcs {
		st, err := flows.NewStreamer(src, o)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, st)
	}
	return ps
}

func TestMerge(t *testing.T) {
	// GIVEN three streamers of 50 flows each
	ps := producers(t, flowSources(3, 50))
	// WHEN they are merged
	var ids []uint64
	srcs := map[netip.Addr]bool{}
	for f, err := range flows.Merge(context.Background(), ps, 0) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
		srcs[f.SrcAddr()] = true
	}
	// THEN every flow comes once, numbered 0 to 149 in arrival order
	if len(ids) != 150 || len(srcs) != 150 {
		t.Fatalf("%d flows, %d different", len(ids), len(srcs))
	}
	for i, id := range ids {
		if id != uint64(i) {
			t.Fatalf("flow %d has id %d", i, id)
		}
	}
}

func TestMergeMaxNFlows(t *testing.T) {
	// GIVEN three streamers of 50 flows each, merged with max_nflows 70
	ps := producers(t, flowSources(3, 50))
	// WHEN the merge is iterated
	n := 0
	for f, err := range flows.Merge(context.Background(), ps, 70) {
		if err != nil {
			t.Fatal(err)
		}
		if f.ID != uint64(n) {
			t.Fatalf("flow %d has id %d", n, f.ID)
		}
		n++
	}
	// THEN it ends after 70 flows, without error
	if n != 70 {
		t.Errorf("%d flows, want 70", n)
	}
}

func TestMergeError(t *testing.T) {
	// GIVEN three streamers, one of whose sources fails after its frames
	srcs := flowSources(3, 20)
	srcs[1].Err = io.ErrUnexpectedEOF
	ps := producers(t, srcs)
	// WHEN they are merged
	var errs []error
	for _, err := range flows.Merge(context.Background(), ps, 0) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	// THEN the error is yielded once and ends the merge
	if len(errs) != 1 || !errors.Is(errs[0], io.ErrUnexpectedEOF) {
		t.Errorf("errors %v, want one unexpected EOF", errs)
	}
}

// heldSource delivers its frames, but the last two (an idle tick and a
// frame) only once release is closed; it closes reached when it gets there.
type heldSource struct {
	inner            flowstest.Source
	reached, release chan struct{}
}

func (h *heldSource) Next(f *flows.Frame) error {
	if h.inner.Reads() == h.inner.Len()-2 {
		close(h.reached)
		<-h.release
	}
	return h.inner.Next(f)
}

func TestMergeCancel(t *testing.T) {
	// GIVEN two streamers of 10 flows each whose sources are held, until
	// ctx is cancelled, before an idle tick and one more flow
	ctx, cancel := context.WithCancel(context.Background())
	var (
		ps   []flows.Producer
		held []*heldSource
	)
	for _, src := range flowSources(2, 10) {
		src.PushIdle(5000)
		src.Push(6000, flowstest.UDP(hostA, hostB, 10))
		h := &heldSource{inner: *src, reached: make(chan struct{}), release: make(chan struct{})}
		held = append(held, h)
	}
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.NMeters = 1
	for _, h := range held {
		st, err := flows.NewStreamer(h, o)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, st)
	}
	go func() {
		for _, h := range held {
			<-h.reached
		}
		cancel()
		for _, h := range held {
			close(h.release)
		}
	}()
	// WHEN ctx is cancelled while they read (the streamers see it at the
	// idle tick)
	n := 0
	for _, err := range flows.Merge(ctx, ps, 0) {
		if err != nil {
			t.Fatalf("cancellation is not an error: %v", err)
		}
		n++
	}
	// THEN every streamer ended with its open flows, and no error
	if n != 20 {
		t.Errorf("%d flows, want 20", n)
	}
}
