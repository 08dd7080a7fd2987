package export

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/capgen"
	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// countingWriter counts the bytes written to it and drops them.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

var (
	benchOnce  sync.Once
	benchOpts  flows.Options
	benchFlows []*flows.Flow
)

// mustBenchFlows meters a synthetic capture (the bench's realistic mix,
// 10,000 concurrent flows) with statistics and SPLT 10, once per process.
func mustBenchFlows(tb testing.TB) (flows.Options, []*flows.Flow) {
	tb.Helper()
	benchOnce.Do(func() {
		path := filepath.Join(os.TempDir(), "nfmeter-export-bench.pcap")
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		defer os.Remove(path)
		if err := capgen.Write(f, capgen.Config{Packets: 400_000, Concurrent: 10_000, Seed: 1}); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		benchOpts = flows.DefaultOptions()
		benchOpts.NDissections, benchOpts.StatisticalAnalysis, benchOpts.SPLTAnalysis = 0, true, 10
		benchFlows = testutil.MeterFile(tb, path, benchOpts)
	})
	return benchOpts, benchFlows
}

// BenchmarkExport writes the same flows as CSV and as Parquet with each
// compression and reports the cost and the output size per flow.
func BenchmarkExport(b *testing.B) {
	o, fl := mustBenchFlows(b)
	s := flows.NewSchema(&o, fl[0])
	b.Run("csv", func(b *testing.B) {
		var out countingWriter
		cpu0 := cpuTime()
		for b.Loop() {
			out = countingWriter{}
			c := NewCSV(&out, nil)
			for _, f := range fl {
				if err := c.Write(f, s); err != nil {
					b.Fatal(err)
				}
			}
			if err := c.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		reportPerFlow(b, cpu0, len(fl), out.n)
	})
	for _, comp := range ParquetCompressions() {
		b.Run("parquet-"+comp, func(b *testing.B) {
			var out countingWriter
			cpu0 := cpuTime()
			for b.Loop() {
				out = countingWriter{}
				p, err := NewParquet(&out, nil, ParquetOptions{Compression: comp})
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range fl {
					if err := p.Write(f, s); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
			}
			reportPerFlow(b, cpu0, len(fl), out.n)
		})
	}
}

// cpuTime is the CPU time of this process, every thread included (the
// garbage collector's, the workers'): unlike the wall clock, it does not
// grow when other processes take the machine's cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportPerFlow reports the wall clock, the CPU time since cpu0 (taken
// before b.Loop) and the output size per flow.
func reportPerFlow(b *testing.B, cpu0 time.Duration, nflows int, size int64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nflows), "ns/flow")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/float64(nflows), "cpu-ns/flow")
	b.ReportMetric(float64(size)/float64(nflows), "bytes/flow")
	b.ReportMetric(0, "ns/op")
}
