//go:build linux

package kmeter

import (
	"context"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// udpFlows returns perFlow frames for each of n UDP flows, interleaved
// (flow 0 packet 0, flow 1 packet 0, ...), and the frames' flow index.
func udpFlows(n, perFlow int) ([]pcapreplay.Packet, []int) {
	var out []pcapreplay.Packet
	var owner []int
	dst := netip.MustParseAddrPort("10.9.0.1:53")
	for j := range perFlow {
		for i := range n {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), uint16(1000+i))
			f := flowstest.UDP(src, dst, 10+j)
			out = append(out, pcapreplay.Packet{Sec: 1, CapLen: uint32(len(f)), WireLen: uint32(len(f)), LinkType: 1, Data: f})
			owner = append(owner, i)
		}
	}
	return out, owner
}

// drain runs the frames through the XDP program first (nobody reads the
// ring meanwhile), then collects every flow.
func drain(tb testing.TB, o Options, frames []pcapreplay.Packet) ([]*flows.Flow, Counters) {
	tb.Helper()
	requireKernelPath(tb)
	m, err := New(o)
	if err != nil {
		tb.Fatalf("load kernel path: %v", err)
	}
	defer m.Close()
	for i := range frames {
		if _, err := m.objs.NfmXdp.Run(&ebpf.RunOptions{Data: frames[i].Data}); err != nil {
			tb.Fatalf("frame %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop at once: drain the ring, dump the table
	var fs []*flows.Flow
	for f, err := range m.Flows(ctx) {
		if err != nil {
			tb.Fatal(err)
		}
		fs = append(fs, f)
	}
	c, err := m.Counters()
	if err != nil {
		tb.Fatal(err)
	}
	return fs, c
}

func byPort(fs []*flows.Flow) map[uint16]*flows.Flow {
	m := map[uint16]*flows.Flow{}
	for _, f := range fs {
		m[f.SrcPort()] = f
	}
	return m
}

// A full flow table loses nothing: packets of flows that do not fit are
// counted exactly and metered in userspace.
func TestMapFull(t *testing.T) {
	testutil.RequirePrivilege(t)
	const n, perFlow, capacity = 40, 3, 16
	frames, _ := udpFlows(n, perFlow)
	o := liveOptions(false)
	fs, c := drain(t, Options{Flow: o, MaxFlows: capacity}, frames)
	// The first capacity flows (by first packet) fit; every packet of the
	// others finds the table full.
	wantFull := uint64((n - capacity) * perFlow)
	if c.FlowsCreated != capacity || c.MapFull != wantFull || c.KernelFlows != capacity || c.PuntFlows != n-capacity {
		t.Errorf("counters %+v: want %d kernel flows, map_full %d, %d userspace flows", c, capacity, wantFull, n-capacity)
	}
	if c.PuntLost != 0 || c.Seen != uint64(len(frames)) { // Seen is metered + ignored + punted
		t.Errorf("counters do not add up: %+v", c)
	}
	got := byPort(fs)
	if len(fs) != n || len(got) != n {
		t.Fatalf("%d flows, want %d", len(fs), n)
	}
	for i := range n {
		f := got[uint16(1000+i)]
		if f == nil || f.Bidirectional.Packets != perFlow || f.Src2Dst.Packets != perFlow {
			t.Errorf("flow %d: %+v", i, f)
		}
	}
}

// A full ring buffer loses only copies of first packets, each counted:
// every flow keeps exact counters, and SPLT entries of lost copies are
// reported as gaps.
func TestRingFull(t *testing.T) {
	testutil.RequirePrivilege(t)
	const n, perFlow = 50, 4
	frames, _ := udpFlows(n, perFlow)
	o := liveOptions(false)
	o.SPLTAnalysis = 3
	fs, c := drain(t, Options{Flow: o, RingBytes: 4096}, frames)
	attempts := uint64(n * 3) // packets 0, 1, 2 of each flow are copied
	if c.PacketCopied+c.PacketLost != attempts || c.PacketLost == 0 {
		t.Errorf("copies %d + lost %d, want %d attempts with losses", c.PacketCopied, c.PacketLost, attempts)
	}
	if c.Records != c.PacketCopied {
		t.Errorf("%d records read, %d copies sent", c.Records, c.PacketCopied)
	}
	if c.SPLTGaps != c.PacketLost {
		t.Errorf("%d SPLT gaps, %d copies lost", c.SPLTGaps, c.PacketLost)
	}
	gaps := 0
	for _, f := range fs {
		if f.Bidirectional.Packets != perFlow {
			t.Errorf("flow %v: %d packets", f.SrcAddr(), f.Bidirectional.Packets)
		}
		for _, d := range f.SPLT.Direction {
			if d < 0 {
				gaps++
			}
		}
	}
	if len(fs) != n || uint64(gaps) != c.PacketLost {
		t.Errorf("%d flows (want %d), %d SPLT gaps (want %d)", len(fs), n, gaps, c.PacketLost)
	}
	t.Logf("ring of 4096 bytes: %d copies sent, %d lost, all counted", c.PacketCopied, c.PacketLost)
}
