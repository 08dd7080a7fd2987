//go:build cgo && linux

package ndpi

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfmeter/nfmeter/internal/capgen"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// mustShortFlows writes a capture of many short flows (about 4 packets
// each, 1,000 open at a time) spread over time so that idle flows expire.
func mustShortFlows(tb testing.TB, packets int) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "short.pcap")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	sum, err := capgen.Generate(w, capgen.Config{Packets: packets, Concurrent: 1000, MeanPackets: 4, PPS: 200_000, Seed: 7})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	tb.Logf("capture: %d packets, %d flows", sum.Packets, sum.Flows)
	return path
}

// meterWithNDPI meters path with nDPI and a 1 s idle timeout, calling
// sample every n flows; it returns the number of flows.
func meterWithNDPI(tb testing.TB, path string, meters int, every int, sample func(flows int)) int {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	o := flows.DefaultOptions()
	o.IdleTimeout = 1
	o.NMeters = meters
	o.NewDissector = NewDissector(Options{NDissections: o.NDissections})
	st, err := flows.NewStreamer(r, o)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			tb.Fatal(err)
		}
		if f.App == nil {
			tb.Fatalf("flow %d has no application fields", f.ID)
		}
		n++
		if sample != nil && n%every == 0 {
			sample(n)
		}
	}
	return n
}

// A million short flows: nDPI's memory is given back as flows complete or
// expire, so the C heap stays bounded instead of growing with the flows.
func TestNDPIMemoryBoundedWithMillionFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("meters a million flows")
	}
	path := mustShortFlows(t, 5_000_000)
	base := cHeapInUse()
	var peak, quarter uint64 // C heap at its highest, and at 250k flows
	n := meterWithNDPI(t, path, 2, 50_000, func(n int) {
		h := cHeapInUse()
		peak = max(peak, h)
		if n == 250_000 {
			quarter = h
		}
	})
	if n < 900_000 {
		t.Fatalf("only %d flows; the test needs about a million", n)
	}
	t.Logf("%d flows: C heap baseline %d MiB, at 250k flows %d MiB, peak %d MiB", n, base>>20, quarter>>20, peak>>20)
	if peak-base > 256<<20 {
		t.Errorf("C heap grew by %d MiB: nDPI memory is not released", (peak-base)>>20)
	}
	// Holding nDPI state for every flow would take at least its 688-byte
	// flow struct plus about 1 KiB of buffers each. NFStream's idle scan
	// stops at the first live flow, so flows queued behind the capture's
	// longest flows are released only when those end: a backlog bounded by
	// the longest flow's lifetime, not by the number of flows.
	if retained := n * 1700; peak-base > uint64(retained)/4 {
		t.Errorf("C heap peak %d MiB: more than a quarter of the %d flows seem to keep their nDPI state", (peak-base)>>20, n)
	}
}

// Repeated runs leave no C memory behind (modules and flows are freed).
func TestNDPINoLeakAcrossRuns(t *testing.T) {
	path := mustShortFlows(t, 200_000)
	meterWithNDPI(t, path, 1, 1, nil) // warm up allocator caches
	before := cHeapInUse()
	for range 3 {
		meterWithNDPI(t, path, 1, 1, nil)
		meterWithNDPI(t, path, 2, 1, nil)
	}
	after := cHeapInUse()
	t.Logf("C heap before %d KiB, after 6 runs %d KiB", before>>10, after>>10)
	if after > before+(4<<20) {
		t.Errorf("C heap grew by %d KiB over 6 runs", (after-before)>>10)
	}
}
