package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// exportFormat is one way of writing the flows out.
type exportFormat struct {
	name        string
	parquet     bool
	compression string
}

func exportFormats() []exportFormat {
	return []exportFormat{
		{name: "CSV"},
		{name: "Parquet, zstd (default)", parquet: true, compression: "zstd"},
		{name: "Parquet, snappy", parquet: true, compression: "snappy"},
		{name: "Parquet, uncompressed", parquet: true, compression: "none"},
	}
}

// exportResult is the write cost and size of one format on one capture.
type exportResult struct {
	capture string
	format  exportFormat
	flows   int
	best    sample // fastest run (wall), its CPU time
	size    int64  // bytes written
}

func (e *exportResult) perFlow(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / float64(max(e.flows, 1))
}

// exportEndToEnd is the nfmeter binary writing CSV or Parquet.
type exportEndToEnd struct {
	capture string
	format  string
	m       *measurement
	base    *measurement // the -baseline binary, same runs (nil without)
}

// measureExport meters path once with statistics and SPLT 10 (every flow
// kept in memory), then times each exporter writing all the flows to a
// file in the temporary directory, on this goroutine (export.FileOptions
// Workers 0): the cost per flow of formatting, encoding, compressing and
// writing, and the bytes per flow of the file. Then it runs the binary
// end to end with CSV and with Parquet output.
func (b *bench) measureExport(ctx context.Context, c *capture) error {
	r, err := pcapreplay.Open(c.path)
	if err != nil {
		return err
	}
	opts := meterOptions(1)
	opts.StatisticalAnalysis, opts.SPLTAnalysis = true, 10
	st, err := flows.NewStreamer(r, opts)
	if err != nil {
		r.Close()
		return err
	}
	var fl []*flows.Flow
	for f, err := range st.Flows(ctx) {
		if err != nil {
			r.Close()
			return err
		}
		fl = append(fl, f)
	}
	r.Close()
	b.logf("capture %s: export: %d flows metered (statistics + SPLT 10)", c.name, len(fl))
	schema := func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&opts, first) }
	for _, format := range exportFormats() {
		res := &exportResult{capture: c.name, format: format, flows: len(fl)}
		for i := range b.opts.runs {
			if err := ctx.Err(); err != nil {
				return err
			}
			path := filepath.Join(b.dir, "export.out")
			s, err := timeExport(path, format, fl, schema)
			if err != nil {
				return fmt.Errorf("capture %s, export %s: %w", c.name, format.name, err)
			}
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			os.Remove(path)
			if i == 0 || s.wall < res.best.wall {
				res.best = s
			}
			res.size = st.Size()
			b.logf("capture %s, export %s: run %d: %.0f ns/flow wall, %.0f ns/flow CPU, %.0f bytes/flow", c.name, format.name, i+1,
				res.perFlow(s.wall), res.perFlow(s.cpu), float64(res.size)/float64(max(len(fl), 1)))
		}
		b.rep.exports = append(b.rep.exports, res)
	}
	fl = nil
	runtime.GC()
	if b.bin == "" {
		return nil
	}
	for _, e := range []struct{ format, out string }{{"CSV", "flows.csv"}, {"Parquet (zstd)", "flows.parquet"}} {
		mode := "nfmeter --n-meters 1, statistics + SPLT 10, " + e.format
		run := &exportEndToEnd{capture: c.name, format: e.format, m: &measurement{mode: mode, capture: c.name, packets: c.summary.Packets}}
		if b.baseBin != "" {
			run.base = &measurement{mode: mode + " (baseline)", capture: c.name, packets: c.summary.Packets}
		}
		for i := range b.opts.runs {
			// With a baseline the two binaries alternate, and which goes
			// first alternates too, so that drift in the machine's state
			// weighs on both alike.
			order := []*measurement{run.m}
			bins := []string{b.bin}
			if run.base != nil {
				order, bins = append(order, run.base), append(bins, b.baseBin)
				if i%2 == 1 {
					order[0], order[1], bins[0], bins[1] = order[1], order[0], bins[1], bins[0]
				}
			}
			for j, m := range order {
				out := filepath.Join(b.dir, e.out)
				args := []string{"--pcap", c.path, "-o", out, "--progress", "never", "--quiet", "--n-dissections", "0",
					"--n-meters", "1", "--statistical-analysis", "--splt-analysis", "10"}
				var stderr bytes.Buffer
				s, err := runChild(ctx, nil, &stderr, bins[j], args...)
				os.Remove(out)
				if err != nil {
					return fmt.Errorf("%s %s: %w: %s", bins[j], strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
				}
				m.samples = append(m.samples, s)
				b.logf("capture %s, %s: run %d: %.2f Mpps wall, peak RSS %d MiB", c.name, m.mode, i+1, m.rate(s.wall), s.rssKiB>>10)
			}
		}
		b.rep.exportRuns = append(b.rep.exportRuns, run)
	}
	return nil
}

// timeExport writes fl to path in format and returns the wall clock and
// CPU time (this process's, garbage collection included).
func timeExport(path string, format exportFormat, fl []*flows.Flow, schema func(*flows.Flow) *flows.Schema) (sample, error) {
	runtime.GC()
	cpu0, start := processCPU(), time.Now()
	fo := export.FileOptions{Path: path}
	var sink interface {
		Write(*flows.Flow) error
		Close() error
	}
	var err error
	if format.parquet {
		sink, err = export.NewParquetFiles(fo, export.ParquetOptions{Compression: format.compression}, schema, nil)
	} else {
		sink, err = export.NewCSVFiles(fo, schema, nil)
	}
	if err != nil {
		return sample{}, err
	}
	for _, f := range fl {
		if err := sink.Write(f); err != nil {
			sink.Close()
			return sample{}, err
		}
	}
	if err := sink.Close(); err != nil {
		return sample{}, err
	}
	return sample{wall: time.Since(start), cpu: processCPU() - cpu0}, nil
}

// exportSection renders the export measurements.
func (r *report) exportSection(b *strings.Builder) {
	b.WriteString("### Export: Parquet against CSV\n\n")
	b.WriteString("Every flow of the capture (statistics + SPLT 10, `--n-dissections 0`) metered once into memory, then written by each exporter to a file on one goroutine; best of the runs. Per flow: wall clock and CPU time of the exporter alone, and file size. Ratios are to CSV in the same run.\n\n")
	b.WriteString("| Capture | Format | Flows | ns per flow (wall) | ns per flow (CPU) | Bytes per flow | Time / CSV | Size / CSV |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	csv := map[string]*exportResult{}
	for _, e := range r.exports {
		if !e.format.parquet {
			csv[e.capture] = e
		}
	}
	for _, e := range r.exports {
		tr, sr := "1×", "1×"
		if base := csv[e.capture]; base != nil && e != base {
			tr = fmt.Sprintf("%.2f×", float64(e.best.wall)/float64(base.best.wall))
			sr = fmt.Sprintf("%.2f×", float64(e.size)/float64(base.size))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.0f | %.0f | %.0f | %s | %s |\n", e.capture, e.format.name, thousands(int64(e.flows)),
			e.perFlow(e.best.wall), e.perFlow(e.best.cpu), float64(e.size)/float64(max(e.flows, 1)), tr, sr)
	}
	b.WriteString("\n")
	if len(r.exportRuns) == 0 {
		return
	}
	b.WriteString("The binary end to end (`--n-meters 1 --statistical-analysis --splt-analysis 10 --n-dissections 0`), million packets per second and peak RSS:\n\n")
	b.WriteString("| Capture | Output | Best | Median | Per CPU-second | Peak RSS |\n|---|---|--:|--:|--:|--:|\n")
	for _, e := range r.exportRuns {
		for _, m := range []*measurement{e.m, e.base} {
			if m == nil {
				continue
			}
			name := e.format
			if m == e.base {
				name += ", baseline " + r.opts.baseline
			}
			w, c := m.bestRates()
			fmt.Fprintf(b, "| %s | %s | %.2f | %.2f | %.2f | %d MiB |\n", e.capture, name, w, m.rate(m.median(wall)), c, m.peakRSS()>>10)
		}
	}
	b.WriteString("\n")
	if r.opts.baseline == "" {
		return
	}
	fmt.Fprintf(b, "This tree against the baseline %s, runs alternated (packets/s of this tree / the baseline's; above 1 is faster):\n\n", r.opts.baseline)
	b.WriteString("| Capture | Output | Best wall | Median wall | Best CPU |\n|---|---|--:|--:|--:|\n")
	for _, e := range r.exportRuns {
		if e.base == nil {
			continue
		}
		ratio := func(f func(sample) time.Duration, pick func(*measurement, func(sample) time.Duration) time.Duration) float64 {
			return float64(pick(e.base, f)) / float64(pick(e.m, f))
		}
		fmt.Fprintf(b, "| %s | %s | %.3f | %.3f | %.3f |\n", e.capture, e.format,
			ratio(wall, (*measurement).best), ratio(wall, (*measurement).median), ratio(cpu, (*measurement).best))
	}
	b.WriteString("\n")
}
