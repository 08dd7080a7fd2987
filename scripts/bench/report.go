package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report collects every figure of a bench run.
type report struct {
	machine  machine
	opts     *options
	captures []*capture
	results  []*measurement
	memory   []*memResult
	// Export measurements (capture B): writer cost and size per flow,
	// and the binary end to end with each output format.
	exports    []*exportResult
	exportRuns []*exportEndToEnd

	ndpi        []*measurement // nDPI comparison, in order of measurement
	mix         *mixCapture
	ndpiVersion string // of ndpiReader

	flood *floodResult // hash flooding, nil if skipped
}

// Mode names the report refers to.
const (
	modeReadOnly = "read only (floor)"
	modeMeter1   = "nfmeter --n-meters 1"
)

// best returns the best (shortest) duration of the samples chosen by f.
func (m *measurement) best(f func(sample) time.Duration) time.Duration {
	ds := m.durations(f)
	return ds[0]
}

// median returns the median duration of the samples chosen by f.
func (m *measurement) median(f func(sample) time.Duration) time.Duration {
	ds := m.durations(f)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

func (m *measurement) durations(f func(sample) time.Duration) []time.Duration {
	ds := make([]time.Duration, len(m.samples))
	for i, s := range m.samples {
		ds[i] = f(s)
	}
	slices.Sort(ds)
	return ds
}

func (m *measurement) peakRSS() int64 {
	var v int64
	for _, s := range m.samples {
		v = max(v, s.rssKiB)
	}
	return v
}

func wall(s sample) time.Duration { return s.wall }
func cpu(s sample) time.Duration  { return s.cpu }

// bestRates returns the best wall-clock and per-CPU-second rates.
func (m *measurement) bestRates() (wallRate, cpuRate float64) {
	return m.rate(m.best(wall)), m.rate(m.best(cpu))
}

// find returns the measurement of mode on capture, or nil.
func (r *report) find(mode, capture string) *measurement {
	for _, m := range r.results {
		if m.mode == mode && m.capture == capture {
			return m
		}
	}
	return nil
}

// modes returns the measured modes in order of first appearance.
func (r *report) modes() []string {
	var out []string
	for _, m := range r.results {
		if !slices.Contains(out, m.mode) {
			out = append(out, m.mode)
		}
	}
	return out
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	r.header(&b)
	r.captureTable(&b)
	if len(r.results) > 0 {
		r.throughputTable(&b)
		r.scaleTable(&b)
	}
	if len(r.memory) > 0 {
		r.memoryTable(&b)
	}
	r.targetTable(&b)
	if len(r.exports) > 0 {
		r.exportSection(&b)
	}
	if len(r.ndpi) > 0 {
		r.ndpiSection(&b)
	}
	if r.flood != nil {
		r.floodSection(&b)
	}
	return b.String()
}

func (r *report) header(b *strings.Builder) {
	m := r.machine
	fmt.Fprintf(b, "Measured %s with `go run ./scripts/bench -packets %d -runs %d`.\n\n",
		m.date.Format("2006-01-02 15:04 MST"), r.opts.packets, r.opts.runs)
	fmt.Fprintf(b, "| Machine | |\n|---|---|\n")
	fmt.Fprintf(b, "| CPU | %s |\n| `nproc` | %s |\n| Memory | %.1f GiB |\n| OS | %s |\n| Go | %s |\n",
		m.cpuModel, m.cpus, m.memGiB, m.kernel, m.goVersion)
	fmt.Fprintf(b, "| Load average (1, 5, 15 min) at start / end | %s / %s |\n\n", m.loadStart, m.loadEnd)
}

func (r *report) captureTable(b *strings.Builder) {
	fmt.Fprintf(b, "| Capture | Packets | Concurrent flows | Flows in the capture | Mean frame | File | Generated in |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range r.captures {
		mix := "default mix"
		if c.meanPackets > 0 {
			mix = fmt.Sprintf("long flows, mean %s packets", thousands(int64(c.meanPackets)))
		}
		s := c.summary
		fmt.Fprintf(b, "| %s | %s | %s (%s) | %s | %.0f B | %.2f GB | %.1f s |\n", c.name, thousands(s.Packets),
			thousands(int64(c.concurrent)), mix, thousands(s.Flows), float64(s.Bytes)/float64(max(s.Packets, 1)),
			float64(c.fileSize)/1e9, c.genTime.Seconds())
	}
	b.WriteString("\n")
}

func (r *report) throughputTable(b *strings.Builder) {
	fmt.Fprintf(b, "Throughput in million packets per second: best and median wall clock of %d runs, and packets per second of CPU time (user + system, best run).\n\n", r.opts.runs)
	fmt.Fprintf(b, "| Mode | Capture | Best | Median | Per CPU-second | Read floor / mode (wall, CPU) | Peak RSS |\n")
	fmt.Fprintf(b, "|---|---|--:|--:|--:|--:|--:|\n")
	for _, mode := range r.modes() {
		for _, c := range r.captures {
			m := r.find(mode, c.name)
			if m == nil {
				continue
			}
			w, cr := m.bestRates()
			ratio := "–"
			if floor := r.find(modeReadOnly, c.name); floor != nil && mode != modeReadOnly {
				fw, fc := floor.bestRates()
				ratio = fmt.Sprintf("%.2f×, %.2f×", fw/w, fc/cr)
			}
			rss := "–"
			if v := m.peakRSS(); v > 0 {
				rss = fmt.Sprintf("%d MiB", v>>10)
			}
			fmt.Fprintf(b, "| %s | %s | %.2f | %.2f | %.2f | %s | %s |\n", mode, c.name, w, m.rate(m.median(wall)), cr, ratio, rss)
		}
	}
	b.WriteString("\n")
}

func (r *report) scaleTable(b *strings.Builder) {
	if len(r.captures) < 2 {
		return
	}
	a, z := r.captures[0].name, r.captures[1].name
	fmt.Fprintf(b, "Scale: capture %s rate / capture %s rate for the same mode (above 1: %s is slower).\n\n", a, z, z)
	fmt.Fprintf(b, "| Mode | %s best | %s best | Slowdown (wall) | Slowdown (CPU) |\n|---|--:|--:|--:|--:|\n", a, z)
	for _, mode := range r.modes() {
		ma, mz := r.find(mode, a), r.find(mode, z)
		if ma == nil || mz == nil {
			continue
		}
		wa, ca := ma.bestRates()
		wz, cz := mz.bestRates()
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %.2f× | %.2f× |\n", mode, wa, wz, wa/wz, ca/cz)
	}
	b.WriteString("\n")
}

func (r *report) memoryTable(b *strings.Builder) {
	b.WriteString("Flow table memory (in process, `--n-meters 1`, timeouts too long to expire anything): Go heap growth at the final flush over a baseline taken after opening the capture, divided by the flows then in the table.\n\n")
	b.WriteString("| Capture | Statistics + SPLT 10 | Flows in the table | Heap in use growth | Bytes per flow (heap in use) | Bytes per flow (live objects) |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|\n")
	for _, m := range r.memory {
		on := "off"
		if m.stats {
			on = "on"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %.1f MiB | %.0f | %.0f |\n", m.capture, on, thousands(int64(m.flows)),
			float64(m.inuse)/(1<<20), m.perFlow(m.inuse), m.perFlow(m.alloc))
	}
	b.WriteString("\n")
}

// targetTable checks the targets against the figures.
func (r *report) targetTable(b *strings.Builder) {
	if len(r.captures) < 2 {
		return
	}
	a, z := r.captures[0].name, r.captures[1].name
	type row struct{ target, measured, verdict string }
	var rows []row
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	m1 := r.find(modeMeter1, a)
	if m1 != nil {
		w, c := m1.bestRates()
		rows = append(rows, row{"metering without nDPI ≥ 4 M packets/s on one core",
			fmt.Sprintf("%.2f M/s per CPU-second (%.2f M/s wall), `--n-meters 1`, capture %s", c, w, a), verdict(c >= 4)})
		if floor := r.find(modeReadOnly, a); floor != nil {
			fw, fc := floor.bestRates()
			rows = append(rows, row{"within 2× of the read-only floor",
				fmt.Sprintf("%.2f× (CPU), %.2f× (wall), capture %s", fc/c, fw/w, a), verdict(fc/c <= 2)})
		}
		if mz := r.find(modeMeter1, z); mz != nil {
			wz, cz := mz.bestRates()
			rows = append(rows, row{"< 2× slower with 1,000,000 concurrent flows than with 1,000",
				fmt.Sprintf("%.2f× (CPU), %.2f× (wall), `--n-meters 1`", c/cz, w/wz), verdict(c/cz < 2)})
		}
	}
	for _, m := range r.memory {
		if !m.stats {
			v := m.perFlow(m.inuse)
			rows = append(rows, row{"≤ 400 bytes per active flow, statistics and SPLT off",
				fmt.Sprintf("%.0f bytes (capture %s, %s flows)", v, m.capture, thousands(int64(m.flows))), verdict(v <= 400)})
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("| Issue target | Measured | Met |\n|---|---|---|\n")
	for _, x := range rows {
		fmt.Fprintf(b, "| %s | %s | %s |\n", x.target, x.measured, x.verdict)
	}
	b.WriteString("\n")
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
