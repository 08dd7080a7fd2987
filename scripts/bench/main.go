// Command bench measures nfmeter's throughput, memory and scaling on two
// synthetic captures and prints a Markdown report (docs/PERFORMANCE.md
// explains every figure). It is what `make bench` runs:
//
//	go run ./scripts/bench [-packets 5000000] [-runs 3] [-write-doc] [-cpuprofile FILE]
//
// In one run it generates, in a temporary directory deleted at the end,
// capture A (1,000 concurrent long flows) and capture B (1,000,000
// concurrent flows of the realistic mix), builds cmd/nfmeter once, then
// measures on each capture: the read-only and read+decode floors and a
// naive Go map flow table (in process), the nfmeter binary with and
// without statistics for --n-meters 1 and 2 (wall clock, CPU time, peak
// RSS), and the heap bytes per flow of the flow table (in process).
//
// Unless -skip-export is given, it meters capture B once more with
// statistics and SPLT 10 into memory and times each exporter (CSV, and
// Parquet with zstd, snappy and no compression) writing every flow: write
// cost and file size per flow, as ratios to CSV; then it runs the binary
// end to end with CSV and with Parquet output. With -baseline REV the
// binary built at git revision REV runs alternately with this tree's in
// those end-to-end runs, and the report gives their ratio: a change's cost
// measured against its base in one run, on one machine state.
//
// Unless -skip-ndpi is given, it then compares metering with nDPI (nfmeter
// with its default --n-dissections 20, --n-meters 1 and 2) with nDPI's
// ndpiReader (-i FILE -q) on capture A, on capture B (-ndpi-runs-b runs)
// and on a conformance mix: the Ethernet captures of the conformance
// corpus (-conformance-dir) repeated with new addresses per copy until at
// least -mix-packets packets.
//
// Unless -flood-flows is 0, it last times the meter on a hash-flooding
// capture (flows chosen to share one Key.Hash) against a random one of the
// same size, and reports the ratio.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// options are the command-line settings.
type options struct {
	packets     int
	concA       int
	concB       int
	seed        int64
	runs        int
	writeDoc    bool
	docPath     string
	tmpDir      string
	keep        bool
	cpuProfile  string
	goCmd       string
	skipMemory  bool
	skipBinary  bool
	skipInProcs bool
	skipExport  bool

	skipNDPI       bool
	ndpiReader     string
	conformanceDir string
	mixPackets     int
	ndpiRunsB      int
	baseline       string
	floodFlows     int
}

func main() {
	maybeLaunch()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.packets, "packets", 5_000_000, "packets per capture")
	fs.IntVar(&o.concA, "concurrent-a", 1000, "concurrent flows of capture A")
	fs.IntVar(&o.concB, "concurrent-b", 1_000_000, "concurrent flows of capture B")
	fs.Int64Var(&o.seed, "seed", 1, "capture seed")
	fs.IntVar(&o.runs, "runs", 3, "timed runs per measurement (best and median are reported)")
	fs.BoolVar(&o.writeDoc, "write-doc", false, "replace the report section of -doc with the results")
	fs.StringVar(&o.docPath, "doc", filepath.Join("docs", "PERFORMANCE.md"), "document updated by -write-doc")
	fs.StringVar(&o.tmpDir, "tmpdir", "", "where the temporary directory is created (default $TMPDIR)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (captures, binary, CSV) and print its path")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the first in-process metering run of capture A to `file` (capture B: file-B)")
	fs.StringVar(&o.goCmd, "go", "go", "go command used to build cmd/nfmeter")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the bytes-per-flow measurements")
	fs.BoolVar(&o.skipBinary, "skip-binary", false, "skip the nfmeter binary measurements")
	fs.BoolVar(&o.skipInProcs, "skip-inprocess", false, "skip the in-process throughput measurements")
	fs.BoolVar(&o.skipExport, "skip-export", false, "skip the Parquet against CSV export measurements (capture B)")
	fs.BoolVar(&o.skipNDPI, "skip-ndpi", false, "skip the comparison of metering with nDPI against ndpiReader")
	fs.StringVar(&o.ndpiReader, "ndpi-reader", "ndpiReader", "ndpiReader command (package libndpi-bin)")
	fs.StringVar(&o.conformanceDir, "conformance-dir", defaultConformanceDir(), "conformance corpus `dir` (its nfstream/pcaps captures make the conformance mix; default $NFMETER_CONFORMANCE_DIR or ../shared/conformance)")
	fs.IntVar(&o.mixPackets, "mix-packets", 5_000_000, "minimum packets of the conformance mix (whole copies of the corpus)")
	fs.StringVar(&o.baseline, "baseline", "", "also build cmd/nfmeter at git revision `REV` and run it alternately with this tree's binary in the end-to-end export runs (capture B, CSV and Parquet): the report gives this tree's rate as a ratio to the baseline's, measured in the same run")
	fs.IntVar(&o.ndpiRunsB, "ndpi-runs-b", 1, "timed runs of the nDPI comparison on capture B (0 skips it; about 100 s per run)")
	fs.IntVar(&o.floodFlows, "flood-flows", 200_000, "flows of each hash-flooding capture, crafted and random (0 skips the measurement)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.packets <= 0 || o.concA <= 0 || o.concB <= 0:
		return nil, errors.New("-packets, -concurrent-a and -concurrent-b must be positive")
	case o.runs <= 0:
		return nil, errors.New("-runs must be positive")
	case o.floodFlows < 0:
		return nil, errors.New("-flood-flows must not be negative")
	case o.mixPackets <= 0 || o.ndpiRunsB < 0:
		return nil, errors.New("-mix-packets must be positive and -ndpi-runs-b not negative")
	}
	return o, nil
}

// defaultConformanceDir is $NFMETER_CONFORMANCE_DIR, or
// ../shared/conformance (next to the repository root).
func defaultConformanceDir() string {
	if dir := os.Getenv("NFMETER_CONFORMANCE_DIR"); dir != "" {
		return dir
	}
	return filepath.Join("..", "shared", "conformance")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }
	dir, err := os.MkdirTemp(o.tmpDir, "nfmeter-bench-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	if o.keep {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	rep := &report{machine: describeMachine(), opts: o}
	b := &bench{opts: o, dir: dir, logf: logf, rep: rep}
	if err := b.all(ctx); err != nil {
		return err
	}
	rep.machine.loadEnd = loadAverage()
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if o.writeDoc {
		if err := replaceSection(o.docPath, md); err != nil {
			return err
		}
		logf("updated %s", o.docPath)
	}
	return nil
}
