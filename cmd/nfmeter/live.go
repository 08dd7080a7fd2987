package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// liveRun is a started live capture, whatever its path.
type liveRun struct {
	desc  string // what is attached, for the log and the summary
	flows iter.Seq2[*flows.Flow, error]
	stats func() liveStats
	close func() error
}

// liveStats are a live capture's counters, for --performance-report and the
// summary.
type liveStats struct {
	Processed uint64   // packets metered
	Ignored   uint64   // packets NFStream ignores
	Dropped   uint64   // packets lost before metering (kernel drops, ring full)
	Balance   []uint64 // packets processed per meter
	// Losses details Dropped and the kernel path's other counters.
	Losses map[string]uint64
}

// meterLive meters cfg.iface until ctx is cancelled (SIGINT/SIGTERM) and
// writes every flow, those still open included.
func meterLive(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	opts := cfg.options() // validated by parseArgs
	logf := func(format string, a ...any) {
		if !cfg.quiet {
			fmt.Fprintf(stderr, "nfmeter: "+format+"\n", a...)
		}
	}
	var annotate func(*flows.Flow) // system visibility
	if opts.SystemVisibilityMode == 1 {
		a, stop, err := startSysvis(ctx, cfg, opts, logf)
		if err != nil {
			return err
		}
		defer stop()
		annotate = a
	}
	run, err := startLive(ctx, cfg, opts, logf)
	if err != nil {
		return err
	}
	defer run.close()
	sink, err := newSink(cfg, &opts, stdout)
	if err != nil {
		return err
	}
	logf("metering %s (Ctrl-C to stop)", run.desc)
	if cfg.readyFile != "" {
		if err := os.WriteFile(cfg.readyFile, []byte(run.desc+"\n"), 0o644); err != nil {
			_ = sink.Close()
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	start := time.Now()
	w := &flowWriter{sink: sink, annotate: annotate, stderr: stderr}
	stopReport := func() {}
	if cfg.performanceReport > 0 {
		stopReport = startReport(stdout, time.Duration(cfg.performanceReport)*time.Second, run.stats, w.written.Load)
	}
	runErr := w.write(run.flows, stopReport)
	st := run.stats() // before the capture is closed
	if cerr := run.close(); runErr == nil && cerr != nil {
		runErr = cerr
	}
	if !cfg.quiet {
		fmt.Fprintf(stderr, "nfmeter: %s: %d packets metered (%d ignored), %d dropped, %d flows in %.2f s\n",
			cfg.iface, st.Processed, st.Ignored, st.Dropped, sink.Written(), time.Since(start).Seconds())
		if len(st.Losses) > 0 {
			b, _ := json.Marshal(st.Losses)
			fmt.Fprintf(stderr, "nfmeter: counters %s\n", b)
		}
	}
	if runErr == nil && ctx.Err() != nil {
		return ctx.Err() // interrupted: every flow was written
	}
	return runErr
}

// performanceReport is NFStream's performance_report line, with nfmeter's
// loss counters added.
type performanceReport struct {
	FlowsExpired     uint64            `json:"flows_expired"`
	PacketsProcessed uint64            `json:"packets_processed"`
	PacketsIgnored   uint64            `json:"packets_ignored"`
	PacketsDropped   uint64            `json:"packets_dropped_filtered_by_kernel"`
	Balance          []uint64          `json:"meters_packets_processing_balance"`
	Counters         map[string]uint64 `json:"nfmeter_counters,omitempty"`
}

// startReport prints a performance report line to w every period until
// the returned function is called (which prints a last one).
func startReport(w io.Writer, period time.Duration, stats func() liveStats, nflows func() uint64) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	print := func() {
		st := stats()
		b, _ := json.Marshal(performanceReport{
			FlowsExpired: nflows(), PacketsProcessed: st.Processed, PacketsIgnored: st.Ignored,
			PacketsDropped: st.Dropped, Balance: st.Balance, Counters: st.Losses,
		})
		fmt.Fprintf(w, "%s\n", b)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-done:
				print()
				return
			case <-t.C:
				print()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
