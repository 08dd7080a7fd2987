package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nfmeter/nfmeter/internal/capgen"
)

// Metering with nDPI: nfmeter with its default --n-dissections 20 against
// nDPI's own ndpiReader (the same nDPI release) on the same files.

// ndpiMode is one command of the nDPI comparison.
type ndpiMode struct {
	name   string
	reader bool     // ndpiReader rather than nfmeter
	args   []string // nfmeter flags
}

// Mode names of the nDPI comparison.
const (
	modeNDPIMeter1 = "nfmeter --n-meters 1, nDPI"
	modeNDPIMeter2 = "nfmeter --n-meters 2, nDPI"
	modeNDPIReader = "ndpiReader -i FILE -q"
)

func ndpiModes() []ndpiMode {
	return []ndpiMode{
		{name: modeNDPIMeter1, args: []string{"--n-meters", "1"}},
		{name: modeNDPIMeter2, args: []string{"--n-meters", "2"}},
		{name: modeNDPIReader, reader: true},
	}
}

// mixCapture is the conformance mix: the corpus's Ethernet captures
// repeated with new addresses per copy.
type mixCapture struct {
	path     string
	dir      string // corpus directory
	corpus   *capgen.ConformanceCorpus
	summary  capgen.ConformanceMixSummary
	fileSize int64
	genTime  time.Duration
}

// mixName is the capture name of the conformance mix in the report.
const mixName = "conformance mix"

// corpusDir returns the directory of the corpus captures.
func (o *options) corpusDir() string {
	return filepath.Join(o.conformanceDir, "nfstream", "pcaps")
}

// checkNDPI fails early, before any long measurement, when a part of the
// nDPI comparison cannot run: no ndpiReader, no corpus, or an nfmeter
// built without nDPI. It also records ndpiReader's version.
func (b *bench) checkNDPI(ctx context.Context) error {
	o := b.opts
	path, err := exec.LookPath(o.ndpiReader)
	if err != nil {
		return fmt.Errorf("%s not found (install it with apt-get install libndpi-bin, name it with -ndpi-reader, or leave nDPI out with -skip-ndpi): %w", o.ndpiReader, err)
	}
	b.ndpiReader = path
	out, _ := exec.CommandContext(ctx, path, "-h").CombinedOutput()
	b.rep.ndpiVersion = "unknown"
	for line := range strings.Lines(string(out)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Welcome to "); ok {
			b.rep.ndpiVersion = v
			break
		}
	}
	if fi, err := os.Stat(o.corpusDir()); err != nil || !fi.IsDir() {
		return fmt.Errorf("conformance corpus not found at %s (set -conformance-dir or NFMETER_CONFORMANCE_DIR, or leave nDPI out with -skip-ndpi)", o.corpusDir())
	}
	// Both tools on the small demo capture.
	demo := filepath.Join(b.dir, "demo.pcap")
	f, err := os.Create(demo)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = capgen.WriteDemo(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("demo capture: %w", err)
	}
	defer os.Remove(demo)
	c := &capture{name: "demo", path: demo}
	if _, err := b.runBinary(ctx, c, nil); err != nil {
		return fmt.Errorf("nfmeter with nDPI on the demo capture (is it built with cgo and libndpi? -skip-ndpi leaves nDPI out): %w", err)
	}
	if _, err := b.runReader(ctx, demo); err != nil {
		return err
	}
	return nil
}

// measureNDPI runs the nDPI comparison on capture name at path, runs
// times, and records it.
func (b *bench) measureNDPI(ctx context.Context, name, path string, packets int64, runs int) error {
	c := &capture{name: name, path: path}
	for _, m := range ndpiModes() {
		meas := &measurement{mode: m.name, capture: name, packets: packets}
		for i := range runs {
			if err := ctx.Err(); err != nil {
				return err
			}
			var (
				s   sample
				err error
			)
			if m.reader {
				s, err = b.runReader(ctx, path)
			} else {
				s, err = b.runBinary(ctx, c, m.args)
			}
			if err != nil {
				return fmt.Errorf("capture %s, %s: %w", name, m.name, err)
			}
			meas.samples = append(meas.samples, s)
			b.logf("capture %s, %s: run %d: %.0f k packets/s wall, %.0f k per CPU-s, peak RSS %d MiB", name, m.name, i+1,
				1e3*meas.rate(s.wall), 1e3*meas.rate(s.cpu), s.rssKiB>>10)
		}
		b.rep.ndpi = append(b.rep.ndpi, meas)
	}
	return nil
}

// runReader runs ndpiReader over path, quiet, and returns the wall clock,
// its CPU time and its peak RSS. ndpiReader reports some errors (a file it
// cannot open) with a zero exit status, so any output is an error too:
// with -q it prints nothing.
func (b *bench) runReader(ctx context.Context, path string) (sample, error) {
	args := []string{"-i", path, "-q"}
	var out bytes.Buffer
	s, err := runChild(ctx, &out, &out, b.ndpiReader, args...)
	if err == nil && out.Len() > 0 {
		err = errors.New("unexpected output")
	}
	if err != nil {
		msg := bytes.TrimSpace(out.Bytes())
		if len(msg) > 500 {
			msg = msg[:500]
		}
		return sample{}, fmt.Errorf("%s %s: %w: %s", b.ndpiReader, strings.Join(args, " "), err, msg)
	}
	return s, nil
}

// conformanceMix generates the conformance mix, measures it and deletes
// it.
func (b *bench) conformanceMix(ctx context.Context) error {
	o := b.opts
	m := &mixCapture{path: filepath.Join(b.dir, "capture-mix.pcap"), dir: o.corpusDir()}
	b.logf("generating the conformance mix: captures of %s repeated to %d packets", m.dir, o.mixPackets)
	if err := m.generate(o.mixPackets); err != nil {
		return err
	}
	b.logf("conformance mix: %d packets (%d copies of %d), %.2f GB, generated in %.1f s", m.summary.Packets,
		m.summary.Copies, m.corpus.Packets(), float64(m.fileSize)/1e9, m.genTime.Seconds())
	b.rep.mix = m
	if err := b.measureNDPI(ctx, mixName, m.path, m.summary.Packets, o.runs); err != nil {
		return err
	}
	if !o.keep {
		if err := os.Remove(m.path); err != nil {
			return fmt.Errorf("remove capture: %w", err)
		}
	}
	return nil
}

// generate writes the mix to m.path.
func (m *mixCapture) generate(packets int) (err error) {
	start := time.Now()
	f, err := os.Create(m.path)
	if err != nil {
		return fmt.Errorf("conformance mix: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("conformance mix: %w", cerr)
		}
	}()
	m.corpus, m.summary, err = capgen.WriteConformanceMix(f, m.dir, packets)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("conformance mix: %w", err)
	}
	m.fileSize = fi.Size()
	m.genTime = time.Since(start)
	return nil
}
