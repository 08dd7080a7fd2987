package flows_test

import (
	"context"
	"os"
	"testing"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// BenchmarkStreamerFile meters $NFMETER_BENCH_PCAP (skipped when unset):
// go test -bench StreamerFile -benchtime 1x -cpuprofile cpu.out ./userspace/flows/
func BenchmarkStreamerFile(b *testing.B) {
	path := os.Getenv("NFMETER_BENCH_PCAP")
	if path == "" {
		b.Skip("NFMETER_BENCH_PCAP not set")
	}
	for _, bc := range []struct {
		name   string
		stats  bool
		meters int
	}{{"plain/meters=1", false, 1}, {"stats+splt/meters=1", true, 1}, {"plain/meters=2", false, 2}} {
		b.Run(bc.name, func(b *testing.B) {
			var packets uint64
			for b.Loop() {
				r, err := pcapreplay.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				o := flows.DefaultOptions()
				o.NDissections = 0
				o.NMeters = bc.meters
				o.StatisticalAnalysis = bc.stats
				if bc.stats {
					o.SPLTAnalysis = 10
				}
				st, err := flows.NewStreamer(r, o)
				if err != nil {
					b.Fatal(err)
				}
				for _, err := range st.Flows(context.Background()) {
					if err != nil {
						b.Fatal(err)
					}
				}
				packets += st.Counters().PacketsRead.Load()
				r.Close()
			}
			b.ReportMetric(float64(packets)/b.Elapsed().Seconds()/1e6, "Mpps")
		})
	}
}
