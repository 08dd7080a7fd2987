package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// bench runs every measurement and fills a report.
type bench struct {
	opts *options
	dir  string // temporary directory
	logf func(format string, a ...any)
	rep  *report
	bin  string // nfmeter binary, once built
	// baseBin is the binary built at -baseline, run next to bin in the
	// end-to-end export runs ("" without -baseline).
	baseBin string

	ndpiReader string // ndpiReader path, once found
}

// all generates each capture in turn, measures it and deletes it.
func (b *bench) all(ctx context.Context) error {
	o := b.opts
	caps := []*capture{
		{name: "A", concurrent: o.concA, meanPackets: float64(o.packets) / float64(o.concA)},
		{name: "B", concurrent: o.concB},
	}
	if !o.skipBinary || !o.skipNDPI || !o.skipExport {
		if err := b.build(ctx); err != nil {
			return err
		}
	}
	if o.baseline != "" && !o.skipExport {
		if err := b.buildBaseline(ctx, o.baseline); err != nil {
			return err
		}
	}
	if !o.skipNDPI {
		if err := b.checkNDPI(ctx); err != nil {
			return err
		}
	}
	for _, c := range caps {
		c.path = filepath.Join(b.dir, "capture-"+c.name+".pcap")
		b.logf("generating capture %s: %d packets, %d concurrent flows", c.name, o.packets, c.concurrent)
		if err := c.generate(o.packets, o.seed); err != nil {
			return err
		}
		b.logf("capture %s: %d flows, %.2f GB, generated in %.1f s", c.name, c.summary.Flows, float64(c.fileSize)/1e9, c.genTime.Seconds())
		b.rep.captures = append(b.rep.captures, c)
		if err := b.measure(ctx, c); err != nil {
			return err
		}
		if !o.keep {
			if err := os.Remove(c.path); err != nil {
				return fmt.Errorf("remove capture: %w", err)
			}
		}
	}
	if !o.skipNDPI {
		if err := b.conformanceMix(ctx); err != nil {
			return err
		}
	}
	if o.floodFlows > 0 {
		return b.flood(ctx)
	}
	return nil
}

// measure runs every measurement on capture c.
func (b *bench) measure(ctx context.Context, c *capture) error {
	o := b.opts
	if !o.skipInProcs {
		for _, m := range inProcessModes() {
			profile := ""
			if m.meter && o.cpuProfile != "" {
				profile = profilePath(o.cpuProfile, c.name)
			}
			if err := b.repeat(ctx, c, m.name, func(i int) (sample, error) {
				p := ""
				if i == 0 {
					p = profile
				}
				return timeInProcess(ctx, c.path, m.run, p)
			}); err != nil {
				return err
			}
		}
	}
	if !o.skipBinary {
		for _, m := range binaryModes() {
			if err := b.repeat(ctx, c, m.name, func(int) (sample, error) {
				return b.runBinary(ctx, c, m.args)
			}); err != nil {
				return err
			}
		}
	}
	if !o.skipMemory {
		for _, stats := range []bool{false, true} {
			b.logf("capture %s: bytes per flow (statistics %v)", c.name, stats)
			mem, err := flowMemory(ctx, c.path, stats)
			if err != nil {
				return fmt.Errorf("capture %s: bytes per flow: %w", c.name, err)
			}
			mem.capture = c.name
			b.rep.memory = append(b.rep.memory, mem)
		}
	}
	if !o.skipExport && c.name == "B" {
		if err := b.measureExport(ctx, c); err != nil {
			return err
		}
	}
	if runs := o.runs; !o.skipNDPI {
		if c.name == "B" {
			runs = o.ndpiRunsB
		}
		if runs > 0 {
			if err := b.measureNDPI(ctx, c.name, c.path, c.summary.Packets, runs); err != nil {
				return err
			}
		}
	}
	return nil
}

// profilePath returns where the profile of capture name goes: base for
// capture A, base with "-<name>" before its extension for the others.
func profilePath(base, name string) string {
	if name == "A" {
		return base
	}
	ext := filepath.Ext(base)
	return strings.TrimSuffix(base, ext) + "-" + name + ext
}

// repeat runs one measurement o.runs times and records it.
func (b *bench) repeat(ctx context.Context, c *capture, mode string, once func(i int) (sample, error)) error {
	m := &measurement{mode: mode, capture: c.name, packets: c.summary.Packets}
	for i := range b.opts.runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := once(i)
		if err != nil {
			return fmt.Errorf("capture %s, %s: %w", c.name, mode, err)
		}
		m.samples = append(m.samples, s)
		b.logf("capture %s, %s: run %d: %.2f Mpps wall, %.2f Mpps per CPU-s, peak RSS %d MiB", c.name, mode, i+1,
			m.rate(s.wall), m.rate(s.cpu), s.rssKiB>>10)
	}
	b.rep.results = append(b.rep.results, m)
	return nil
}

// measurement is the timed runs of one mode on one capture.
type measurement struct {
	mode    string
	capture string
	packets int64
	samples []sample
}

// sample is one timed run.
type sample struct {
	wall   time.Duration
	cpu    time.Duration // user + system CPU time
	rssKiB int64         // peak RSS of the binary; 0 in process
}

// rate returns millions of packets per second of d.
func (m *measurement) rate(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(m.packets) / d.Seconds() / 1e6
}
