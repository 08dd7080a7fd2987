package flows_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

var (
	hostA = netip.MustParseAddrPort("10.0.0.1:1000")
	hostB = netip.MustParseAddrPort("10.0.0.2:80")
	hostC = netip.MustParseAddrPort("10.0.0.3:2000")
	hostD = netip.MustParseAddrPort("10.0.0.4:53")
)

func meterAll(t *testing.T, src flows.Source, o flows.Options) ([]*flows.Flow, error) {
	t.Helper()
	o.NDissections = 0
	st, err := flows.NewStreamer(src, o)
	if err != nil {
		t.Fatal(err)
	}
	var out []*flows.Flow
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

func TestMeterDirectionAndCounters(t *testing.T) {
	// GIVEN a TCP exchange B→A first, so B is the flow's source
	var src flowstest.Source
	src.Push(1000, flowstest.TCP(hostB, hostA, 0x02, 0))
	src.Push(1010, flowstest.TCP(hostA, hostB, 0x12, 0))
	src.Push(1030, flowstest.TCP(hostB, hostA, 0x10, 10))
	// WHEN it is metered
	got, err := meterAll(t, &src, flows.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	// THEN one flow with B as source and per-direction counters
	if len(got) != 1 {
		t.Fatalf("%d flows", len(got))
	}
	f := got[0]
	if f.SrcAddr() != hostB.Addr() || f.SrcPort() != 80 || f.DstPort() != 1000 {
		t.Errorf("src %v:%d dst port %d", f.SrcAddr(), f.SrcPort(), f.DstPort())
	}
	if f.Src2Dst.Packets != 2 || f.Dst2Src.Packets != 1 || f.Bidirectional.DurationMs() != 30 || f.Dst2Src.FirstSeenMs != 1010 {
		t.Errorf("counters %+v %+v %+v", f.Bidirectional, f.Src2Dst, f.Dst2Src)
	}
}

func TestMeterActiveTimeoutStartsNewFlowFromSender(t *testing.T) {
	var src flowstest.Source
	src.Push(0, flowstest.UDP(hostA, hostB, 10))
	src.Push(1500, flowstest.UDP(hostA, hostB, 10))
	src.Push(2500, flowstest.UDP(hostB, hostA, 10)) // past the 2 s active timeout
	o := flows.DefaultOptions()
	o.ActiveTimeout = 2
	got, err := meterAll(t, &src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d flows, want 2", len(got))
	}
	if got[0].ExpirationID != 1 || got[0].Bidirectional.Packets != 2 {
		t.Errorf("first flow: expiration %d packets %d", got[0].ExpirationID, got[0].Bidirectional.Packets)
	}
	if got[1].SrcAddr() != hostB.Addr() || got[1].ExpirationID != 0 {
		t.Errorf("second flow src %v expiration %d", got[1].SrcAddr(), got[1].ExpirationID)
	}
}

// The idle scan walks creation order and stops at the first flow that is
// not idle: an idle flow behind an active one waits.
func TestMeterIdleScanStopsAtFirstActiveFlow(t *testing.T) {
	var src flowstest.Source
	src.Push(0, flowstest.UDP(hostA, hostB, 1)) // flow 1 created first, stays active
	src.Push(5, flowstest.UDP(hostC, hostD, 1)) // flow 2, goes idle
	for ms := int64(1000); ms <= 4000; ms += 1000 {
		src.Push(ms, flowstest.UDP(hostA, hostB, 1))
	}
	src.Push(4005, flowstest.UDP(hostA, hostC, 1)) // flow 3
	o := flows.DefaultOptions()
	o.IdleTimeout = 2
	got, err := meterAll(t, &src, o)
	if err != nil {
		t.Fatal(err)
	}
	// Flow 2 is idle since 2005 ms but sits behind flow 1: only the final
	// flush emits them, in creation order.
	if len(got) != 3 {
		t.Fatalf("%d flows", len(got))
	}
	if got[0].SrcAddr() != hostA.Addr() || got[1].SrcAddr() != hostC.Addr() || got[0].Bidirectional.Packets != 5 {
		t.Errorf("order: %v %v %v", got[0].SrcAddr(), got[1].SrcAddr(), got[2].SrcAddr())
	}
}

func TestMeterIdleScanEmitsOldestIdle(t *testing.T) {
	var src flowstest.Source
	src.Push(0, flowstest.UDP(hostC, hostD, 1)) // flow 1, goes idle
	src.Push(5, flowstest.UDP(hostA, hostB, 1)) // flow 2, stays active
	src.Push(1000, flowstest.UDP(hostA, hostB, 1))
	src.Push(2000, flowstest.UDP(hostA, hostB, 1))
	src.Push(3000, flowstest.UDP(hostA, hostB, 1)) // scan at 3000: flow 1 idle (3000-0 >= 2000)
	src.Push(3001, flowstest.UDP(hostA, hostC, 1))
	o := flows.DefaultOptions()
	o.IdleTimeout = 2
	got, err := meterAll(t, &src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].SrcAddr() != hostC.Addr() || got[0].ID != 0 {
		t.Fatalf("first emitted flow should be the idle one: %d flows, first src %v", len(got), got[0].SrcAddr())
	}
}

func TestMeterClockIsClampedMonotonic(t *testing.T) {
	var src flowstest.Source
	src.Push(1000, flowstest.UDP(hostA, hostB, 1))
	src.Push(900, flowstest.UDP(hostB, hostA, 1)) // back in time: counts as 1000
	got, err := meterAll(t, &src, flows.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if f := got[0]; f.Dst2Src.FirstSeenMs != 1000 || f.Bidirectional.DurationMs() != 0 {
		t.Errorf("dst2src first %d duration %d", f.Dst2Src.FirstSeenMs, f.Bidirectional.DurationMs())
	}
}

func TestMeterMaxNFlows(t *testing.T) {
	var src flowstest.Source
	for i := range 10 {
		src.Push(int64(i), flowstest.UDP(netip.AddrPortFrom(hostA.Addr(), uint16(i+1)), hostB, 1))
	}
	o := flows.DefaultOptions()
	o.MaxNFlows = 4
	got, err := meterAll(t, &src, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[3].ID != 3 {
		t.Fatalf("%d flows", len(got))
	}
}

// A source error ends the stream after every cached flow was yielded.
func TestMeterSourceErrorFlushesFirst(t *testing.T) {
	for _, meters := range []int{1, 2} {
		var src flowstest.Source
		src.Push(0, flowstest.UDP(hostA, hostB, 1))
		src.Push(1, flowstest.UDP(hostC, hostD, 1))
		src.Err = errors.New("disk on fire")
		o := flows.DefaultOptions()
		o.NMeters = meters
		got, err := meterAll(t, &src, o)
		if len(got) != 2 || err == nil || err.Error() != "disk on fire" {
			t.Fatalf("meters=%d: %d flows, err %v", meters, len(got), err)
		}
	}
}

func TestMeterCancelFlushes(t *testing.T) {
	var src flowstest.Source
	for i := range 5000 {
		src.Push(int64(i), flowstest.UDP(netip.AddrPortFrom(hostA.Addr(), uint16(i%100+1)), hostB, 1))
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := flows.DefaultOptions()
	o.NDissections = 0
	st, err := flows.NewStreamer(&src, o)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	n := 0
	var last error
	for _, err := range st.Flows(ctx) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", last)
	}
	if got := st.Counters().PacketsProcessed.Load(); uint64(n) == 0 && got > 0 {
		t.Errorf("%d packets metered but no flow yielded", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*flows.Options)
		param string
	}{
		{"accounting mode", func(o *flows.Options) { o.AccountingMode = 4 }, "accounting_mode"},
		{"n_dissections", func(o *flows.Options) { o.NDissections = 256 }, "n_dissections"},
		{"splt", func(o *flows.Options) { o.SPLTAnalysis = 70000 }, "splt_analysis"},
		{"negative splt", func(o *flows.Options) { o.SPLTAnalysis = -1 }, "splt_analysis"},
		{"snapshot", func(o *flows.Options) { o.SnapshotLength = 0 }, "snapshot_length"},
		{"meters", func(o *flows.Options) { o.NMeters = -1 }, "n_meters"},
		{"nil plugin", func(o *flows.Options) { o.Plugins = []flows.Plugin{nil} }, "udps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := flows.DefaultOptions()
			tt.mod(&o)
			var pe *flows.ParamError
			if err := o.Validate(); !errors.As(err, &pe) || pe.Param != tt.param {
				t.Errorf("Validate() = %v, want a ParamError for %s", err, tt.param)
			}
		})
	}
	o := flows.DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestKeyPartsRoundTrip(t *testing.T) {
	for _, frame := range [][]byte{
		flowstest.TCP(hostB, hostA, 0x02, 0),
		flowstest.UDP(hostC, hostD, 3),
		flowstest.UDP(netip.MustParseAddrPort("[2001:db8::2]:53"), netip.MustParseAddrPort("[2001:db8::1]:5353"), 1),
	} {
		var d flows.Decoded
		if !flows.Decode(&d, frame, flows.DLTEthernet, uint32(len(frame)), true) {
			t.Fatal("not decoded")
		}
		k, srcIsLo := flows.KeyOf(&d)
		p := k.Parts()
		if got := flows.MakeKey(p.Lo, p.Hi, p.LoPort, p.HiPort, p.VLAN, p.Protocol, p.IPVersion, p.Tunnel); got != k {
			t.Errorf("round trip: %+v != %+v", got, k)
		}
		src := k.Lo()
		if !srcIsLo {
			src = k.Hi()
		}
		if src.Port() != d.SrcPort {
			t.Errorf("srcIsLo %v but lo %v, packet from port %d", srcIsLo, k.Lo(), d.SrcPort)
		}
	}
}
