package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/nfmeter/nfmeter/internal/capgen"
)

// The aim with nDPI, and its reference figures on a 10 M packet
// conformance mix (measured by the author, quoted).
const (
	aimRate           = 1.6 // nfmeter --n-meters 2 / ndpiReader packets per second, at least
	aimRSS            = 0.5 // nfmeter --n-meters 2 / ndpiReader peak RSS, below
	refReaderKpps     = 246
	refReaderRSSGB    = 1.57
	refNFStreamKpps   = 93
	refNFStreamRSSGB  = 2.09
	refMixPacketsText = "10 M"
)

// kpps formats a rate in millions of packets per second as thousands.
func kpps(mpps float64) string { return thousands(int64(mpps*1e3 + 0.5)) }

// mib formats KiB as MiB.
func mib(kib int64) string { return thousands(kib>>10) + " MiB" }

// ndpiCaptures returns the captures of the nDPI comparison in order.
func (r *report) ndpiCaptures() []string {
	var out []string
	for _, m := range r.ndpi {
		if len(out) == 0 || out[len(out)-1] != m.capture {
			out = append(out, m.capture)
		}
	}
	return out
}

// findNDPI returns the nDPI measurement of mode on capture, or nil.
func (r *report) findNDPI(mode, capture string) *measurement {
	for _, m := range r.ndpi {
		if m.mode == mode && m.capture == capture {
			return m
		}
	}
	return nil
}

// ndpiSection renders the comparison with ndpiReader.
func (r *report) ndpiSection(b *strings.Builder) {
	b.WriteString("### Metering with nDPI\n\n")
	fmt.Fprintf(b, "nfmeter with nDPI (its default `--n-dissections 20`) and ndpiReader (%s, `ndpiReader -i FILE -q`) on the same files in the same run. Rates in thousands of packets per second: best and median wall clock, and packets per second of CPU time (user + system, best run); peak RSS of the process.\n\n", r.ndpiVersion)
	if m := r.mix; m != nil {
		r.mixTable(b, m)
	}
	b.WriteString("| Tool | Capture | Runs | Best | Median | Per CPU-second | Peak RSS |\n|---|---|--:|--:|--:|--:|--:|\n")
	for _, c := range r.ndpiCaptures() {
		for _, mode := range []string{modeNDPIMeter1, modeNDPIMeter2, modeNDPIReader} {
			m := r.findNDPI(mode, c)
			if m == nil {
				continue
			}
			w, cr := m.bestRates()
			fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s |\n", mode, c, len(m.samples), kpps(w), kpps(m.rate(m.median(wall))), kpps(cr), mib(m.peakRSS()))
		}
	}
	b.WriteString("\n")
	r.ndpiRatioTable(b)
	r.ndpiReferenceTable(b)
}

func (r *report) mixTable(b *strings.Builder, m *mixCapture) {
	c, s := m.corpus, m.summary
	b.WriteString("| Conformance mix | |\n|---|---|\n")
	fmt.Fprintf(b, "| Corpus | `%s`: %d Ethernet captures (%d others left out) |\n", m.dir, len(c.Files), len(c.Skipped))
	fmt.Fprintf(b, "| One copy | %s packets, %.1f MB, spanning %s (gaps over %s shortened) |\n", thousands(int64(c.Packets())),
		float64(c.Bytes)/1e6, roundSpan(c.Span), roundSpan(capgen.MaxGap))
	fmt.Fprintf(b, "| Mix | %d copies (new addresses each), %s packets, mean frame %.0f B, %.2f GB, spanning %s |\n", s.Copies,
		thousands(s.Packets), float64(s.Bytes)/float64(max(s.Packets, 1)), float64(m.fileSize)/1e9, roundSpan(s.Span))
	fmt.Fprintf(b, "| Generated in | %.1f s |\n\n", m.genTime.Seconds())
}

// roundSpan formats a duration in days or hours.
func roundSpan(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0f days", d.Hours()/24)
	case d >= 2*time.Hour || d > 0 && d%time.Hour == 0:
		return fmt.Sprintf("%.0f h", d.Hours())
	default:
		return d.Round(time.Second).String()
	}
}

func (r *report) ndpiRatioTable(b *strings.Builder) {
	var rows []string
	for _, c := range r.ndpiCaptures() {
		ref := r.findNDPI(modeNDPIReader, c)
		if ref == nil {
			continue
		}
		rw, rc := ref.bestRates()
		for _, mode := range []string{modeNDPIMeter1, modeNDPIMeter2} {
			m := r.findNDPI(mode, c)
			if m == nil {
				continue
			}
			w, cr := m.bestRates()
			rate, rss := w/rw, float64(m.peakRSS())/float64(max(ref.peakRSS(), 1))
			aim := "–"
			if mode == modeNDPIMeter2 {
				aim = "yes"
				if rate < aimRate || rss >= aimRSS {
					aim = "**no**"
				}
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %.2f× | %.2f× | %.2f× | %s |", c, mode, rate, cr/rc, rss, aim))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "nfmeter against ndpiReader on the same capture (above 1: nfmeter is faster or uses more memory). The issue's aim: with `--n-meters 2`, at least %.1f× ndpiReader's rate with less than %.0f%% of its memory.\n\n", aimRate, aimRSS*100)
	b.WriteString("| Capture | nfmeter | Rate / ndpiReader (wall) | Rate / ndpiReader (CPU) | Peak RSS / ndpiReader | Aim met |\n|---|---|--:|--:|--:|---|\n")
	for _, row := range rows {
		b.WriteString(row + "\n")
	}
	b.WriteString("\n")
}

func (r *report) ndpiReferenceTable(b *strings.Builder) {
	fmt.Fprintf(b, "On a conformance mix: the issue's reference figures (%s packets, measured by the issue's author on this kind of machine, **quoted, not measured by us**) and this run.\n\n", refMixPacketsText)
	b.WriteString("| Conformance mix | Packets | ndpiReader | Meter | Meter rate / ndpiReader | Meter RSS / ndpiReader |\n|---|--:|--:|--:|--:|--:|\n")
	fmt.Fprintf(b, "| issue (quoted): NFStream | %s | %d k/s, %.2f GB | %d k/s, %.2f GB | %.2f× | %.2f× |\n", refMixPacketsText,
		refReaderKpps, refReaderRSSGB, refNFStreamKpps, refNFStreamRSSGB,
		float64(refNFStreamKpps)/refReaderKpps, refNFStreamRSSGB/refReaderRSSGB)
	fmt.Fprintf(b, "| issue's aim: nfmeter `--n-meters 2` | %s | %d k/s, %.2f GB | ≥ %.0f k/s, < %.2f GB | ≥ %.1f× | < %.1f× |\n", refMixPacketsText,
		refReaderKpps, refReaderRSSGB, aimRate*refReaderKpps, aimRSS*refReaderRSSGB, aimRate, aimRSS)
	ref := r.findNDPI(modeNDPIReader, mixName)
	if ref != nil && r.mix != nil {
		rw, _ := ref.bestRates()
		for _, mode := range []string{modeNDPIMeter1, modeNDPIMeter2} {
			m := r.findNDPI(mode, mixName)
			if m == nil {
				continue
			}
			w, _ := m.bestRates()
			fmt.Fprintf(b, "| this run: `%s` | %s | %s k/s, %s | %s k/s, %s | %.2f× | %.2f× |\n", strings.TrimSuffix(mode, ", nDPI"),
				thousands(r.mix.summary.Packets), kpps(rw), mib(ref.peakRSS()), kpps(w), mib(m.peakRSS()),
				w/rw, float64(m.peakRSS())/float64(max(ref.peakRSS(), 1)))
		}
	}
	b.WriteString("\n")
}
