//go:build unix

package capgen

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the process's user plus system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWrite reports packets written per second of wall clock and per
// second of CPU time (the latter is meaningful on a loaded machine).
func BenchmarkWrite(b *testing.B) {
	for _, bc := range []struct {
		name string
		conc int
	}{{"concurrent=1k", 1000}, {"concurrent=1M", 1_000_000}} {
		b.Run(bc.name, func(b *testing.B) {
			const packets = 2_000_000
			cfg := Config{Packets: packets, Concurrent: bc.conc}
			var bytes int64
			cpu0 := cpuTime(b)
			for b.Loop() {
				sum, err := Generate(io.Discard, cfg)
				if err != nil {
					b.Fatal(err)
				}
				bytes = sum.Bytes
			}
			cpu := cpuTime(b) - cpu0
			total := float64(packets) * float64(b.N)
			b.SetBytes(bytes)
			b.ReportMetric(total/b.Elapsed().Seconds()/1e6, "Mpackets/s")
			b.ReportMetric(total/cpu.Seconds()/1e6, "Mpackets/CPU-s")
		})
	}
}
