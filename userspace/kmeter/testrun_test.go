//go:build linux

package kmeter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/ndpi"
)

// requireKernelPath skips tb, or fails it under NFMETER_TEST_REQUIRE_BPF=1,
// only when the process lacks the privilege or a feature probe shows the
// kernel lacks what the kernel path needs (ring buffers, XDP and TC
// programs). After it, failing to load the kernel path is a failure, never
// a skip; so is a probe that proves nothing either way.
func requireKernelPath(tb testing.TB) {
	tb.Helper()
	testutil.RequirePrivilege(tb)
	switch err := Probe().Usable(HookXDP); {
	case err == nil:
	case errors.Is(err, ebpf.ErrNotSupported):
		testutil.SkipOrFail(tb, "kernel path: "+err.Error())
	default:
		tb.Fatalf("probe the kernel path's features: %v", err)
	}
}

// frameSource replays frames as a flows.Source, with the wire length equal
// to the captured length (what an XDP program sees).
type frameSource struct {
	frames []pcapreplay.Packet
	i      int
}

func (s *frameSource) Next(p *pcapreplay.Packet) error {
	if s.i >= len(s.frames) {
		return io.EOF
	}
	*p = s.frames[s.i]
	s.i++
	return nil
}

// ethernetFrames reads the frames of an Ethernet capture that XDP's test
// runner accepts (14 bytes to one page), with WireLen = CapLen. It returns
// nil for other link types.
func ethernetFrames(tb testing.TB, path string) []pcapreplay.Packet {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out []pcapreplay.Packet
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			if flows.Recoverable(err) {
				continue
			}
			return out // a truncated capture: keep what was read
		}
		if p.LinkType != flows.DLTEthernet {
			return nil
		}
		if len(p.Data) < 14 || len(p.Data) > 3500 {
			continue
		}
		q := p
		q.Data = append([]byte(nil), p.Data...)
		q.WireLen = uint32(len(q.Data))
		out = append(out, q)
	}
}

// liveOptions are flow options under which a capture's flows do not depend
// on time: timeouts never fire, so offline and kernel runs see the same
// flows.
func liveOptions(ndpiOn bool) flows.Options {
	o := flows.DefaultOptions()
	o.IdleTimeout = 1 << 30
	o.ActiveTimeout = 1 << 30
	o.StatisticalAnalysis = true
	o.SPLTAnalysis = 10
	o.NMeters = 1
	o.SnapshotLength = SnapMax // copies as long as the frames of the file
	o.NDissections = 0
	if ndpiOn {
		o.NDissections = 20
		o.NewDissector = ndpi.NewDissector(ndpi.Options{NDissections: 20})
	}
	return o
}

func flowsCSV(tb testing.TB, o flows.Options, fs []*flows.Flow) []byte {
	tb.Helper()
	var buf bytes.Buffer
	c := export.NewCSV(&buf, nil)
	if len(fs) == 0 {
		return nil
	}
	s := flows.NewSchema(&o, fs[0])
	if err := c.WriteHeader(s); err != nil {
		tb.Fatal(err)
	}
	for _, f := range fs {
		if err := c.Write(f, s); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// runXDP feeds frames to the XDP program with BPF_PROG_TEST_RUN while
// Flows collects, then stops and returns every flow and the counters.
func runXDP(tb testing.TB, o Options, frames []pcapreplay.Packet) ([]*flows.Flow, Counters) {
	tb.Helper()
	requireKernelPath(tb)
	m, err := New(o)
	if err != nil {
		tb.Fatalf("load kernel path: %v", err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		fs  []*flows.Flow
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for f, err := range m.Flows(ctx) {
			if err != nil {
				r.err = err
				break
			}
			r.fs = append(r.fs, f)
		}
		done <- r
	}()
	for i := range frames {
		ret, err := m.objs.NfmXdp.Run(&ebpf.RunOptions{Data: frames[i].Data})
		if err != nil {
			cancel()
			tb.Fatalf("test run of frame %d: %v", i, err)
		}
		if ret != 2 { // XDP_PASS
			tb.Fatalf("frame %d: verdict %d, want XDP_PASS", i, ret)
		}
	}
	cancel()
	r := <-done
	if r.err != nil {
		tb.Fatal(r.err)
	}
	c, err := m.Counters()
	if err != nil {
		tb.Fatal(err)
	}
	return r.fs, c
}

// The XDP program and the userspace engine must agree: after the frames of
// a capture, the kernel's flows (joined with the copied packets for nDPI
// and SPLT, plus the punted frames metered in userspace) equal the offline
// run on every column that does not depend on arrival times.
func TestXDPMatchesUserspace(t *testing.T) {
	testXDPMatchesUserspace(t, 1)
}

// With several nDPI shards the kernel path completes flows on one
// goroutine per shard, flows spread by key hash as the offline meter
// spreads them over its nDPI modules: the labels equal the offline run's
// with the same --ndpi-shards.
func TestXDPMatchesUserspaceShards(t *testing.T) {
	testXDPMatchesUserspace(t, 3)
}

func testXDPMatchesUserspace(t *testing.T, shards int) {
	testutil.RequirePrivilege(t)
	paths := []string{filepath.Join("..", "..", "testdata", "demo.pcap")}
	if dir := testutil.ConformanceDir(t); dir != "" {
		all, _ := filepath.Glob(filepath.Join(dir, "nfstream", "pcaps", "*.pcap*"))
		sort.Strings(all)
		paths = append(paths, all...)
	}
	exact, compared := 0, 0
	var inexact []string
	for _, path := range paths {
		frames := ethernetFrames(t, path)
		if len(frames) == 0 {
			continue
		}
		name := filepath.Base(path)
		o := liveOptions(true)
		o.DissectorShards = shards
		want := flowsCSV(t, o, testutil.MeterSource(t, &frameSource{frames: frames}, o))
		got, c := runXDP(t, Options{Flow: o}, frames)
		if c.Seen != uint64(len(frames)) { // Seen is metered + ignored + punted
			t.Errorf("%s: counters %+v do not add up to %d frames", name, c, len(frames))
		}
		if c.PacketLost+c.PuntLost+c.FlowEndLost+c.MapFull != 0 {
			t.Errorf("%s: losses in a test run: %+v", name, c)
		}
		d, err := testutil.CompareFlowCSV(want, flowsCSV(t, o, got), testutil.TimeColumn, 1e-9)
		if err != nil {
			t.Fatal(err)
		}
		compared++
		if d.Exact() {
			exact++
		} else {
			inexact = append(inexact, name+": "+d.String())
		}
	}
	t.Logf("XDP test run equals the userspace engine on %d/%d Ethernet captures (%d nDPI shards)", exact, compared, shards)
	for _, s := range inexact {
		t.Error(s)
	}
}

// collectFlows ranges over seq on a goroutine of its own and sends every
// flow it yielded, once it ends; an error fails the test and ends the
// collection.
func collectFlows(tb testing.TB, seq iter.Seq2[*flows.Flow, error]) <-chan []*flows.Flow {
	res := make(chan []*flows.Flow, 1)
	go func() {
		var fs []*flows.Flow
		for f, err := range seq {
			if err != nil {
				tb.Error(err)
				break
			}
			fs = append(fs, f)
		}
		res <- fs
	}()
	return res
}
