package main

import (
	"strings"
	"testing"
	"time"
)

func TestNDPISection(t *testing.T) {
	sec := func(wallMs, rssMiB int64) sample {
		d := time.Duration(wallMs) * time.Millisecond
		return sample{wall: d, cpu: d, rssKiB: rssMiB << 10}
	}
	r := &report{ndpiVersion: "nDPI 4.2.0"}
	for _, c := range []struct {
		capture string
		mode    string
		s       []sample
	}{
		{"A", modeNDPIMeter1, []sample{sec(1000, 20), sec(900, 21)}},
		{"A", modeNDPIMeter2, []sample{sec(600, 30)}},
		{"A", modeNDPIReader, []sample{sec(1000, 100)}},
		{mixName, modeNDPIMeter1, []sample{sec(1000, 40)}},
		{mixName, modeNDPIMeter2, []sample{sec(700, 60)}},
		{mixName, modeNDPIReader, []sample{sec(1000, 100)}},
	} {
		r.ndpi = append(r.ndpi, &measurement{mode: c.mode, capture: c.capture, packets: 1_000_000, samples: c.s})
	}
	var b strings.Builder
	r.ndpiSection(&b)
	md := b.String()
	for _, want := range []string{
		"| nfmeter --n-meters 1, nDPI | A | 2 | 1,111 | 1,053 | 1,111 | 21 MiB |",
		"| A | nfmeter --n-meters 2, nDPI | 1.67× | 1.67× | 0.30× | yes |",
		"| conformance mix | nfmeter --n-meters 2, nDPI | 1.43× | 1.43× | 0.60× | **no** |",
		"| issue (quoted): NFStream | 10 M | 246 k/s, 1.57 GB | 93 k/s, 2.09 GB | 0.38× | 1.33× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	if got := r.ndpiCaptures(); len(got) != 2 || got[0] != "A" || got[1] != mixName {
		t.Errorf("captures %v", got)
	}
}

func TestRoundSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1 h", 90 * time.Minute: "1h30m0s", 46 * time.Hour: "46 h", 113 * 24 * time.Hour: "113 days",
	} {
		if got := roundSpan(d); got != want {
			t.Errorf("roundSpan(%v) = %q, want %q", d, got, want)
		}
	}
}
