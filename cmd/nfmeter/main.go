// Command nfmeter turns packet captures into NFStream-compatible flow
// records.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitDamaged     = 3 // every flow written, but records of the input were skipped
	exitInterrupted = 130
)

// errDamaged ends a run whose input had records that could not be read;
// the warning naming the first one is already printed.
var errDamaged = errors.New("damaged input")

func main() {
	if os.Getenv("GOGC") == "" {
		// Flows are long-lived objects: collecting less often costs little
		// memory here (measured: +4% peak RSS) and saves ~12% CPU with a
		// million flows.
		debug.SetGCPercent(300)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a clean stop (every flow written); once it
	// came, signals get their default action again, so that a second one
	// ends a process that cannot finish (an output nobody reads, a hung
	// disk).
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(ctx, args[1:], stdout, stderr)
	}
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "nfmeter: %v\n", err)
		return exitUsage
	}
	if cfg.version {
		fmt.Fprintf(stdout, "nfmeter %s (NFStream 6.5.4 semantics)\n", version)
		return exitOK
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "nfmeter: --cpu-profile: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "nfmeter: --cpu-profile: %v\n", err)
			return exitFailure
		}
		defer pprof.StopCPUProfile()
	}
	err = meter(ctx, cfg, stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDamaged):
		return exitDamaged
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "nfmeter: interrupted: every flow metered so far was written")
		return exitInterrupted
	default:
		var ue *usageError
		fmt.Fprintf(stderr, "nfmeter: %v\n", err)
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
}

// progressSource publishes the reader's position for the progress bar
// without sharing the reader across goroutines, and notes what the run
// must warn about: records that could not be read, and the first packet
// whose time is out of range.
type progressSource struct {
	r     *pcapreplay.Reader
	n     uint
	bytes atomic.Int64

	skipped   atomic.Uint64                     // records that could not be read
	firstBad  atomic.Pointer[error]             // the first of them
	wildClock atomic.Pointer[pcapreplay.Packet] // first packet out of range (Data nil)
}

// maxPlausibleMs is the end of year 9999 in ms since the epoch. A packet
// time above it (a negative time wraps above it too) is garbage, and as
// NFStream's clock never goes back it pins every later packet's time.
const maxPlausibleMs = 253402300799999

func (p *progressSource) Next(pkt *flows.Frame) error {
	err := p.r.Next(pkt)
	if p.n++; p.n&4095 == 0 || err != nil {
		p.bytes.Store(p.r.BytesRead())
	}
	switch {
	case err == nil:
		if pkt.TimeMs() > maxPlausibleMs && p.wildClock.Load() == nil {
			c := *pkt
			c.Data = nil
			p.wildClock.CompareAndSwap(nil, &c)
		}
	case err != io.EOF && err != flows.ErrIdle:
		if _, ok := errors.AsType[*pcapreplay.ReadError](err); ok {
			p.skipped.Add(1)
			p.firstBad.CompareAndSwap(nil, &err)
		}
	}
	return err
}

// warn prints the run's warnings, once each: the first record that could
// not be read and how many were skipped, and the first packet whose time
// is out of range. It reports whether records were skipped. The first
// bad record is not repeated when it is runErr, the error that ended the
// run (a truncated file), which is printed anyway.
func (p *progressSource) warn(stderr io.Writer, runErr error) (damaged bool) {
	if c := p.wildClock.Load(); c != nil {
		fmt.Fprintf(stderr, "nfmeter: warning: %q at byte %d: packet time %d s %d us is out of range; "+
			"like NFStream, nfmeter never moves its clock back, so later packets take this time and idle expiry stops\n",
			c.File, c.Offset, c.Sec, c.Usec)
	}
	first := p.firstBad.Load()
	if first == nil || errors.Is(runErr, *first) {
		return first != nil
	}
	fmt.Fprintf(stderr, "nfmeter: warning: damaged input, %s skipped; the first: %v\n", plural(p.skipped.Load(), "record"), *first)
	return true
}

// plural is "1 thing" or "n things".
func plural(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func meter(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	if err := checkOutputs(cfg); err != nil {
		return err
	}
	if cfg.iface != "" {
		return meterLive(ctx, cfg, stdout, stderr)
	}
	opts := cfg.options() // validated by parseArgs
	if opts.SystemVisibilityMode == 1 && len(cfg.pcaps) == 1 {
		// NFStream's rule: a single file loses the columns, several files
		// keep them with their defaults (no process is ever attributed
		// offline).
		fmt.Fprintln(stderr, "nfmeter: warning: --system-visibility-mode switched to 0 for a capture file (process information needs live capture)")
		opts.SystemVisibilityMode = 0
	}
	// Damaged files are read on after the damage, not as libpcap would
	// (which loses step after a bad length): the run warns and exits
	// with exitDamaged instead of metering garbage.
	r, err := pcapreplay.OpenWith(pcapreplay.Options{Resync: true}, cfg.pcaps...)
	if err != nil {
		return fmt.Errorf("--pcap: %w", err)
	}
	defer r.Close()
	src := &progressSource{r: r}
	st, err := flows.NewStreamer(src, opts)
	if err != nil {
		return flagError(err)
	}
	sink, err := newSink(cfg, &opts, stdout)
	if err != nil {
		return err
	}

	start := time.Now()
	showProgress := cfg.progress == "always" || (cfg.progress == "auto" && isTerminal(stderr))
	stopProgress := func() {}
	if showProgress {
		stopProgress = startProgress(stderr, src, r.TotalBytes(), st.Counters(), start)
	}
	w := &flowWriter{sink: sink, stderr: stderr}
	runErr := w.write(st.Flows(ctx), stopProgress)
	if !cfg.quiet {
		c := st.Counters()
		secs := time.Since(start).Seconds()
		read := c.PacketsRead.Load()
		fmt.Fprintf(stderr, "nfmeter: %d packets (%d ignored, %d filtered), %d flows in %.2f s, %.2f Mpps, %s skipped\n",
			read, c.PacketsIgnored.Load(), c.PacketsFiltered.Load(), sink.Written(), secs, float64(read)/secs/1e6,
			plural(src.skipped.Load(), "damaged record"))
	}
	damaged := src.warn(stderr, runErr)
	if runErr != nil {
		var re *pcapreplay.ReadError
		if errors.As(runErr, &re) {
			return fmt.Errorf("%w (flows up to that point were written)", runErr)
		}
	}
	if runErr == nil && damaged {
		return errDamaged
	}
	return runErr
}

// flowSink is the exporter: [export.CSVFiles] or [export.ParquetFiles].
// Close must be called on every path: it ends the file (the Parquet
// footer included) with every flow written so far.
type flowSink interface {
	Write(f *flows.Flow) error
	Close() error
	Written() uint64
}

// flowWriter writes a flow sequence to the exporter, offline and live.
type flowWriter struct {
	sink     flowSink
	annotate func(*flows.Flow) // system visibility; nil for none
	stderr   io.Writer
	written  atomic.Uint64 // flows written so far, read by reports meanwhile
}

// write writes every flow of seq, annotated first when w.annotate is set,
// until seq ends or an error of seq or of a write. Then it calls stop,
// which ends the progress displays (so that their last line comes before
// the exporter's last rows), and closes the sink, which keeps every flow
// written. It returns the first error; a close error after another one is
// printed.
func (w *flowWriter) write(seq iter.Seq2[*flows.Flow, error], stop func()) error {
	var runErr error
	for f, err := range seq {
		if err != nil {
			runErr = err
			break
		}
		if w.annotate != nil {
			w.annotate(f)
		}
		if err := w.sink.Write(f); err != nil {
			runErr = err
			break
		}
		w.written.Add(1)
	}
	stop()
	if err := w.sink.Close(); runErr == nil {
		runErr = err
	} else if err != nil {
		fmt.Fprintf(w.stderr, "nfmeter: %v\n", err)
	}
	return runErr
}

// maxCheckedChunks bounds how many chunk paths of --flows-per-file
// without --rotate-files checkOutputs looks at.
const maxCheckedChunks = 4096

// checkOutputs refuses, as a usage error before anything is read, an
// output path that is a symbolic link (nfmeter never writes through one:
// in a shared directory another user may have planted it), that is one of
// the input captures (by identity, whatever its name), or, for the default
// path derived from the input, that exists at all: only a path given with
// --output may replace an existing (regular, non-input) file. Chunk paths
// (--flows-per-file) are checked the same way. The exporter enforces the
// same rules again as it creates each file (O_NOFOLLOW, O_EXCL for the
// default path, the input check on the open file), so a file planted
// during the run is refused too; this early check only makes the mistake
// a usage error before any work.
func checkOutputs(cfg *config) error {
	if cfg.output == "-" {
		return nil
	}
	inputs := inputFiles(cfg.pcaps)
	paths := []string{cfg.output}
	if cfg.flowsPerFile > 0 {
		n := uint64(maxCheckedChunks)
		if cfg.rotateFiles > 0 {
			n = min(n, uint64(cfg.rotateFiles))
		}
		chunk := export.ChunkPath
		if cfg.format == "parquet" {
			chunk = export.ParquetChunkPath
		}
		paths = paths[:0]
		for i := range n {
			if p := chunk(cfg.output, i); len(paths) == 0 || p != paths[len(paths)-1] {
				paths = append(paths, p)
			}
		}
	}
	what := "--output"
	if cfg.outputDefault {
		what = "default --output"
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			continue // not there (or unreachable: creating it will tell)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			return usagef("%s %q is a symbolic link: nfmeter does not write through one (give the path of a new file, or - for stdout)", what, p)
		case isInput(inputs, fi):
			return usagef("%s %q is an input capture: refusing to overwrite it", what, p)
		case cfg.outputDefault:
			return usagef("%s %q exists: nfmeter only creates its default output as a new file; give --output %s to replace it", what, p, p)
		}
	}
	return nil
}

// inputFiles returns the identity of every input capture, for the checks
// that no output is one of them.
func inputFiles(pcaps []string) []os.FileInfo {
	var inputs []os.FileInfo
	for _, p := range pcaps {
		if fi, err := os.Stat(p); err == nil {
			inputs = append(inputs, fi)
		}
	}
	return inputs
}

func isInput(inputs []os.FileInfo, fi os.FileInfo) bool {
	return slices.ContainsFunc(inputs, func(in os.FileInfo) bool { return os.SameFile(fi, in) })
}

// refuseInputs returns the exporter's check that an output file is none of
// the input captures (nil without inputs).
func refuseInputs(pcaps []string) func(os.FileInfo) error {
	inputs := inputFiles(pcaps)
	if len(inputs) == 0 {
		return nil
	}
	return func(out os.FileInfo) error {
		if isInput(inputs, out) {
			return errors.New("it is an input capture: refusing to overwrite it")
		}
		return nil
	}
}

// newSink opens the exporter of --format.
func newSink(cfg *config, opts *flows.Options, stdout io.Writer) (flowSink, error) {
	fo := export.FileOptions{
		Path:               cfg.output,
		FlowsPerFile:       uint64(cfg.flowsPerFile),
		RotateFiles:        uint64(cfg.rotateFiles),
		ColumnsToAnonymize: cfg.anonymizeColumns(),
		Workers:            formatWorkers(opts),
		// What checkOutputs checked before the run, made certain as each
		// file is created: the default path must be new, and no file that
		// turns out to be an input is replaced.
		New:    cfg.outputDefault,
		Refuse: refuseInputs(cfg.pcaps),
	}
	schema := func(first *flows.Flow) *flows.Schema { return flows.NewSchema(opts, first) }
	if cfg.format != "parquet" {
		return export.NewCSVFiles(fo, schema, stdout)
	}
	// The dataset records how it was made: the version and every flag.
	meta := map[string]string{"nfmeter.version": version, "nfmeter.semantics": "NFStream 6.5.4"}
	for name, v := range cfg.settings {
		meta["nfmeter.option."+name] = v
	}
	return export.NewParquetFiles(fo, export.ParquetOptions{
		Compression: cfg.parquetCompression,
		Metadata:    meta,
		CreatedBy:   "nfmeter version " + version,
	}, schema, stdout)
}

// formatWorkers is how many goroutines format CSV rows: none with one
// meter (everything on one core), else half the meters
// ([flows.Options.Meters]), at least one.
func formatWorkers(o *flows.Options) int {
	n := o.Meters()
	if n <= 1 {
		return 0
	}
	return max(n/2, 1)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startProgress draws a progress bar (bytes read of total) until stopped.
func startProgress(w io.Writer, src *progressSource, total int64, c *flows.Counters, start time.Time) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	draw := func() {
		read := src.bytes.Load()
		frac := 0.0
		if total > 0 {
			frac = float64(read) / float64(total)
		}
		const width = 30
		bar := make([]byte, width)
		for i := range bar {
			if float64(i) < frac*width {
				bar[i] = '='
			} else {
				bar[i] = ' '
			}
		}
		el := time.Since(start).Seconds()
		fmt.Fprintf(w, "\r[%s] %5.1f%% %d/%d MB  %d packets  %d flows  %.2f Mpps ",
			bar, frac*100, read>>20, total>>20, c.PacketsRead.Load(), c.Flows.Load(), float64(c.PacketsRead.Load())/max(el, 1e-9)/1e6)
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				draw()
				fmt.Fprintln(w)
				return
			case <-t.C:
				draw()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
