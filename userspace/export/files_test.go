package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

func syntheticFlows(n int) []*flows.Flow {
	out := make([]*flows.Flow, n)
	for i := range out {
		f := &flows.Flow{ID: uint64(i)}
		f.Bidirectional.Packets = uint64(i % 7)
		f.SrcMAC[5] = byte(i)
		out[i] = f
	}
	return out
}

func mustWriteAll(t *testing.T, opts FileOptions, fl []*flows.Flow) []string {
	t.Helper()
	o := flows.DefaultOptions()
	c, err := NewCSVFiles(opts, func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fl {
		if err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Written() != uint64(len(fl)) {
		t.Fatalf("wrote %d flows, want %d", c.Written(), len(fl))
	}
	return c.Paths()
}

// Asynchronous formatting writes the same bytes to the same files.
func TestCSVFilesWorkersIdentical(t *testing.T) {
	fl := syntheticFlows(5000)
	for _, tc := range []struct {
		name            string
		perFile, rotate uint64
		wantFiles       int
	}{{"one file", 0, 0, 1}, {"chunks", 1200, 0, 5}, {"rotated", 1200, 2, 5}} {
		t.Run(tc.name, func(t *testing.T) {
			var contents [2]string
			for i, workers := range []int{0, 3} {
				dir := t.TempDir()
				paths := mustWriteAll(t, FileOptions{Path: filepath.Join(dir, "out.csv"), FlowsPerFile: tc.perFile, RotateFiles: tc.rotate, Workers: workers}, fl)
				if len(paths) != tc.wantFiles {
					t.Fatalf("workers=%d: %d files, want %d", workers, len(paths), tc.wantFiles)
				}
				names, _ := filepath.Glob(filepath.Join(dir, "*"))
				var all strings.Builder
				for _, n := range names {
					b, err := os.ReadFile(n)
					if err != nil {
						t.Fatal(err)
					}
					all.WriteString(filepath.Base(n) + "\n" + string(b))
				}
				contents[i] = all.String()
			}
			if contents[0] != contents[1] {
				t.Error("worker output differs from the serial output")
			}
			if !strings.Contains(contents[0], "\n4999,") {
				t.Error("last flow missing")
			}
		})
	}
}

// A write error (here: the output directory vanished) reaches the caller.
func TestCSVFilesWorkersReportErrors(t *testing.T) {
	dir := t.TempDir()
	opts := FileOptions{Path: filepath.Join(dir, "sub", "out.csv"), FlowsPerFile: 10, Workers: 2}
	o := flows.DefaultOptions()
	c, err := NewCSVFiles(opts, func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for _, f := range syntheticFlows(2000) {
		if werr = c.Write(f); werr != nil {
			break
		}
	}
	if cerr := c.Close(); werr == nil && cerr == nil {
		t.Fatal("no error for an output directory that does not exist")
	}
}
