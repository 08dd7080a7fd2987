//go:build linux

package kmeter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// The XDP benchmarks time programs inside the kernel with
// BPF_PROG_TEST_RUN (its repeat loop, no syscall per packet) and report
// ns/pkt. The references, measured in the same run: ref_pass (a program
// that returns XDP_PASS) and ref_count (Ethernet/IPv4/TCP parse, hash map
// lookup, atomic add).

var benchFrame = flowstest.TCP(netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:443"), 0x18, 100)

func tcpFrame(i int) []byte {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
	return flowstest.TCP(src, netip.MustParseAddrPort("10.0.0.2:443"), 0x18, 100)
}

func loadBench(b *testing.B) *bpfobj.BenchObjects {
	b.Helper()
	testutil.RequirePrivilege(b)
	if err := rlimit.RemoveMemlock(); err != nil {
		b.Fatal(err)
	}
	var objs bpfobj.BenchObjects
	if err := bpfobj.LoadBenchObjects(&objs, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { objs.Close() })
	return &objs
}

func newBenchMeter(b *testing.B, o flows.Options, ring int) *Meter {
	b.Helper()
	o.IdleTimeout, o.ActiveTimeout = 1<<30, 1<<30
	requireKernelPath(b)
	m, err := New(Options{Flow: o, MaxFlows: 1 << 20, RingBytes: ring})
	if err != nil {
		b.Fatalf("load kernel path: %v", err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// repeatRun runs prog on frame b.N times in the kernel's loop and reports
// the mean time per run.
func repeatRun(b *testing.B, prog *ebpf.Program, frame []byte) {
	b.Helper()
	var total time.Duration
	left := b.N
	for left > 0 {
		n := min(left, 1<<20)
		_, d, err := prog.Benchmark(frame, n, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += d * time.Duration(n)
		left -= n
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
}

// singleRuns runs prog once on each of b.N distinct frames (a new flow
// each) and reports the mean in-kernel time per run.
func singleRuns(b *testing.B, prog *ebpf.Program) {
	b.Helper()
	frames := make([][]byte, min(b.N, 1<<20))
	for i := range frames {
		frames[i] = tcpFrame(i)
	}
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		_, d, err := prog.Benchmark(frames[i%len(frames)], 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
}

func BenchmarkXDP(b *testing.B) {
	ref := loadBench(b)
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.StatisticalAnalysis = true

	b.Run("ref_pass", func(b *testing.B) { repeatRun(b, ref.RefPass, benchFrame) })
	b.Run("ref_count", func(b *testing.B) { repeatRun(b, ref.RefCount, benchFrame) })
	b.Run("existing_flow", func(b *testing.B) {
		repeatRun(b, newBenchMeter(b, o, 0).objs.NfmXdp, benchFrame)
	})
	b.Run("existing_flow_no_stats", func(b *testing.B) {
		o := o
		o.StatisticalAnalysis = false
		repeatRun(b, newBenchMeter(b, o, 0).objs.NfmXdp, benchFrame)
	})
	b.Run("copy_to_ring", func(b *testing.B) {
		// Every packet is among its flow's first 65535: each is copied
		// (174 bytes of record). The ring is drained between batches,
		// outside the timed loop.
		o := o
		o.SPLTAnalysis = flows.MaxSPLT
		m := newBenchMeter(b, o, 64<<20)
		rd, err := ringbuf.NewReader(m.objs.Events)
		if err != nil {
			b.Fatal(err)
		}
		defer rd.Close()
		var total time.Duration
		var rec ringbuf.Record
		for done, batch := 0, 0; done < b.N; batch++ {
			n := min(b.N-done, 60000)
			_, d, err := m.objs.NfmXdp.Benchmark(tcpFrame(batch), n, nil)
			if err != nil {
				b.Fatal(err)
			}
			total += d * time.Duration(n)
			done += n
			for rd.AvailableBytes() > 0 {
				if err := rd.ReadInto(&rec); err != nil {
					break
				}
			}
		}
		c, _ := m.Counters()
		if c.PacketLost != 0 {
			b.Fatalf("%d copies lost: the benchmark would time losses", c.PacketLost)
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
	})
	// New flows need a distinct frame per run, so these run once per
	// frame; the references are measured the same way.
	b.Run("single/ref_pass", func(b *testing.B) { singleRuns(b, ref.RefPass) })
	b.Run("single/ref_count", func(b *testing.B) { singleRuns(b, ref.RefCount) })
	b.Run("single/new_flow", func(b *testing.B) { singleRuns(b, newBenchMeter(b, o, 0).objs.NfmXdp) })
}
