// Package testutil holds helpers shared by nfmeter's tests: locating the
// read-only NFStream conformance corpus and metering a capture.
package testutil

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ConformanceDir returns the conformance corpus: $NFMETER_CONFORMANCE_DIR,
// or shared/conformance beside the repository (found by walking up from
// the test's directory). It skips the test, saying so, when the corpus is
// absent.
func ConformanceDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("NFMETER_CONFORMANCE_DIR"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "nfstream", "pcaps")); err != nil {
			tb.Skipf("conformance corpus not found at %s ($NFMETER_CONFORMANCE_DIR): %v", dir, err)
		}
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared", "conformance")
		if _, err := os.Stat(filepath.Join(cand, "nfstream", "pcaps")); err == nil {
			return cand
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	tb.Skipf("conformance corpus not found in shared/conformance above %s (set NFMETER_CONFORMANCE_DIR)", wd)
	return ""
}

// ConformancePcap returns the path of one NFStream test capture.
func ConformancePcap(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(ConformanceDir(tb), "nfstream", "pcaps", name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("capture %s not in the conformance corpus: %v", name, err)
	}
	return p
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
