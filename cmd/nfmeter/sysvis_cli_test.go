package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readFlowCSV reads an nfmeter CSV file into its header and rows.
func readFlowCSV(tb testing.TB, path string) (header []string, rows [][]string) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.LazyQuotes = true
	all, err := r.ReadAll()
	if err != nil || len(all) == 0 {
		tb.Fatalf("read %s: %v", path, err)
	}
	return all[0], all[1:]
}

// Offline, --system-visibility-mode 1 does what NFStream does: one capture
// file switches it to 0 with a warning (no columns); several keep the two
// columns, after every other one, with their defaults (-1 and "").
func TestSystemVisibilityOffline(t *testing.T) {
	dir := t.TempDir()
	pc := filepath.Join(dir, "a.pcap")
	writePcap(t, pc, 1, sampleFrames())
	pc2 := filepath.Join(dir, "b.pcap")
	writePcap(t, pc2, 1, sampleFrames())

	one := filepath.Join(dir, "one.csv")
	code, _, stderr := runCLI("--pcap", pc, "-o", one, "--system-visibility-mode", "1", "--n-dissections", "0", "--statistical-analysis")
	if code != exitOK {
		t.Fatalf("one file: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: --system-visibility-mode switched to 0") {
		t.Errorf("one file: no warning on stderr: %q", stderr)
	}
	h, _ := readFlowCSV(t, one)
	for _, c := range h {
		if strings.HasPrefix(c, "system_process") {
			t.Errorf("one file: column %s present", c)
		}
	}
	ref := filepath.Join(dir, "ref.csv")
	if code, _, stderr := runCLI("--pcap", pc, "-o", ref, "--n-dissections", "0", "--statistical-analysis"); code != exitOK {
		t.Fatal(stderr)
	}
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(ref)
	if string(a) != string(b) {
		t.Error("one file with mode 1 differs from mode 0")
	}

	for _, format := range []string{"csv", "parquet"} {
		many := filepath.Join(dir, "many."+format)
		code, _, stderr = runCLI("--pcap", pc, "--pcap", pc2, "-o", many, "--system-visibility-mode", "1", "--n-dissections", "0")
		if code != exitOK {
			t.Fatalf("two files, %s: exit %d: %s", format, code, stderr)
		}
		if strings.Contains(stderr, "warning") {
			t.Errorf("two files, %s: unexpected warning %q", format, stderr)
		}
		if format == "parquet" {
			continue // columns and values checked by the export tests
		}
		h, rows := readFlowCSV(t, many)
		n := len(h)
		if n < 2 || h[n-2] != "system_process_pid" || h[n-1] != "system_process_name" {
			t.Fatalf("two files: last columns %v", h[max(n-3, 0):])
		}
		if len(rows) == 0 {
			t.Fatal("two files: no flows")
		}
		for i, r := range rows {
			if r[n-2] != "-1" || r[n-1] != "" {
				t.Errorf("two files: flow %d has process %q %q, want -1 and \"\"", i, r[n-2], r[n-1])
			}
		}
	}
}

// The flags are checked like NFStream's parameters; the backend is one of
// the known ones.
func TestSystemVisibilityFlags(t *testing.T) {
	dir := t.TempDir()
	pc := filepath.Join(dir, "a.pcap")
	writePcap(t, pc, 1, sampleFrames())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--system-visibility-mode", "2"}, "invalid --system-visibility-mode 2"},
		{[]string{"--system-visibility-mode", "-1"}, "invalid --system-visibility-mode -1"},
		{[]string{"--system-visibility-poll-ms", "-1"}, "invalid --system-visibility-poll-ms -1"},
		{[]string{"--system-visibility-poll-ms", "yes"}, "--system-visibility-poll-ms"},
		{[]string{"--system-visibility-backend", "ebpf"}, "accepted values are auto, kprobe, fentry, tracepoint, poll"},
	} {
		code, _, stderr := runCLI(append([]string{"--pcap", pc, "-o", filepath.Join(dir, "x.csv")}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
