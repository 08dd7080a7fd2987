//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
)

// TestLiveThroughput measures each live mode end to end through a veth
// pair: a generated capture (200,000 frames over 5,000 UDP flows) is
// replayed at increasing rates and the meter's performance report says
// how many frames it metered. It prints a table for docs/PERFORMANCE.md;
// make bench runs it (NFMETER_BENCH_LIVE=1). Rates are wall-clock
// figures of this machine, so nothing here is asserted beyond "no frame
// is lost at the lowest rate".
func TestLiveThroughput(t *testing.T) {
	if os.Getenv("NFMETER_BENCH_LIVE") != "1" {
		t.Skip("a benchmark: make bench runs it with NFMETER_BENCH_LIVE=1")
	}
	testutil.RequirePrivilege(t, "ip")
	dir := t.TempDir()
	writeBigPcap(t, filepath.Join(dir, "big.pcap"), 200000)
	runChildInNetNS(t, mustNetNSMTU(t, vethMTU), "TestLiveThroughputChild", "NFMETER_LIVE_BENCH_DIR="+dir, func(line string) bool {
		return strings.Contains(line, "|")
	})
}

func TestLiveThroughputChild(t *testing.T) {
	dir := os.Getenv("NFMETER_LIVE_BENCH_DIR")
	if dir == "" {
		t.Skip("run by TestLiveThroughput inside its network namespace")
	}
	pc := filepath.Join(dir, "big.pcap")
	const frames = 200000
	t.Logf("| mode | asked pps | sent pps | metered | lost | loss %% |")
	t.Logf("|---|--:|--:|--:|--:|--:|")
	for _, mode := range []string{"xdp", "tc", "afpacket"} {
		for _, pps := range []string{"50000", "100000", "200000", "0", "2x0"} {
			sent, metered := replayMetered(t, mode, pc, pps)
			total := frames
			asked := pps
			switch pps {
			case "0":
				asked = "top speed"
			case "2x0":
				asked, total = "2 injectors at top speed", 2*frames
			}
			lost := int64(total) - int64(metered)
			t.Logf("| %s | %s | %.0f | %d | %d | %.2f |", mode, asked, sent, metered, lost, 100*float64(lost)/float64(total))
			if pps == "50000" && lost != 0 {
				t.Errorf("--mode %s lost %d frames at 50,000 packets/s", mode, lost)
			}
		}
	}
}

// replayMetered meters vb with mode while pc is replayed into va at pps
// (0: top speed) and returns the replay's rate and the frames metered.
func replayMetered(t *testing.T, mode, pc, pps string) (float64, uint64) {
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--interface", "vb", "--mode", mode, "-o", filepath.Join(t.TempDir(), "out.csv"),
			"--ready-file", ready, "--n-dissections", "0", "--statistical-analysis", "--performance-report", "3600",
			"--quiet", "--n-meters", "1"}, &stdout, &stderr)
	}()
	for i := 0; ; i++ {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if i == 2000 {
			t.Fatalf("meter not ready: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	args := []string{"replay", "--pcap", pc, "--interface", "va"}
	injectors := 1
	switch pps {
	case "0":
		args = append(args, "--topspeed")
	case "2x0":
		args = append(args, "--topspeed")
		injectors = 2
	default:
		args = append(args, "--pps", pps)
	}
	rates := make(chan float64, injectors)
	for range injectors {
		go func() {
			var rerr bytes.Buffer
			if code := run(context.Background(), args, io.Discard, &rerr); code != 0 {
				t.Errorf("replay: %s", rerr.String())
			}
			var r float64
			if i := strings.LastIndex(rerr.String(), "s, "); i >= 0 {
				fmt.Sscan(rerr.String()[i+3:], &r)
			}
			rates <- r
		}()
	}
	var rate float64
	for range injectors {
		rate += <-rates
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var rep performanceReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("report %q: %v (%s)", stdout.String(), err, stderr.String())
	}
	return rate, rep.PacketsProcessed + rep.PacketsIgnored
}
