package export

import (
	"errors"
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

// TestFilesCreateRules checks the rules of file creation on the files
// themselves, whatever a caller checked before: no symbolic link is
// followed, New refuses an existing file (but lets rotation reopen the
// run's own chunks), and Refuse sees the file before anything in it is
// replaced.
func TestFilesCreateRules(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.txt")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.csv")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing.csv")
	if err := os.WriteFile(existing, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	schema := func(*flows.Flow) *flows.Schema { o := flows.DefaultOptions(); return flows.NewSchema(&o, nil) }
	refuseVictim := func(fi os.FileInfo) error {
		if v, err := os.Stat(victim); err == nil && os.SameFile(v, fi) {
			return errors.New("input")
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		fo      FileOptions
		wantErr string
	}{
		{"symlink", FileOptions{Path: link}, "symbolic link"},
		{"new over an existing file", FileOptions{Path: existing, New: true}, "file exists"},
		{"refused file", FileOptions{Path: victim, Refuse: refuseVictim}, "input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewCSVFiles(tc.fo, schema, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = w.Write(syntheticFlows(1)[0])
			w.Close()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			for path, want := range map[string]string{victim: "keep me", existing: "old"} {
				if got, _ := os.ReadFile(path); string(got) != want {
					t.Fatalf("%s was changed to %q", path, got)
				}
			}
		})
	}
	t.Run("new with rotation reopens its own chunks", func(t *testing.T) {
		path := filepath.Join(dir, "rot.csv")
		w, err := NewCSVFiles(FileOptions{Path: path, New: true, FlowsPerFile: 1, RotateFiles: 2}, schema, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range syntheticFlows(5) {
			if err := w.Write(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(w.Paths()); got != 5 {
			t.Fatalf("%d files opened, want 5", got)
		}
	})
}
