// Package testutil holds helpers shared by nfmeter's tests: metering a
// capture, comparing flow CSVs, privileged network setup, and the
// conformance corpus lookup of package corpus (for tests that import
// testutil anyway; tests of packages testutil imports use corpus).
package testutil

import (
	"context"
	"io"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ConformanceDir returns the conformance corpus directory, skipping the
// test when it is absent: [corpus.Dir].
func ConformanceDir(tb testing.TB) string {
	tb.Helper()
	return corpus.Dir(tb)
}

// ConformancePcap returns the path of one NFStream test capture, skipping
// the test when it is absent: [corpus.Pcap].
func ConformancePcap(tb testing.TB, name string) string {
	tb.Helper()
	return corpus.Pcap(tb, name)
}

// MeterFile meters a capture with opts and returns every flow.
func MeterFile(tb testing.TB, path string, opts flows.Options) []*flows.Flow {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	return MeterSource(tb, r, opts)
}

// MeterSource meters src with opts and returns every flow.
func MeterSource(tb testing.TB, src flows.Source, opts flows.Options) []*flows.Flow {
	tb.Helper()
	st, err := flows.NewStreamer(src, opts)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*flows.Flow
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// ReadFrames returns a copy of every frame of a capture.
func ReadFrames(tb testing.TB, path string) [][]byte {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append([]byte(nil), p.Data...))
	}
}
