package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An output that is an input (by any name), or any output path that is a
// symbolic link, is refused before anything is read, with exit 2 and the
// flag named; the default output path must be new, while an explicit
// --output may replace an existing regular file.
func TestCLIOutputPaths(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	orig := writePcap(t, in, 1, sampleFrames())
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.pcap")
	mustDo(t, os.Link(in, hard))
	toInput := filepath.Join(dir, "to-input.csv")
	mustDo(t, os.Symlink(in, toInput))
	toVictim := filepath.Join(dir, "to-victim.csv")
	mustDo(t, os.Symlink(victim, toVictim))
	first := filepath.Join(dir, "first.pcap")
	writePcap(t, first, 1, sampleFrames())
	existing := filepath.Join(dir, "existing.csv")
	mustDo(t, os.WriteFile(existing, []byte("old\n"), 0o644))

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"output is the input", []string{"--pcap", in, "-o", in}, exitUsage, []string{"--output", "in.pcap", "input"}},
		{"output is a hard link to the input", []string{"--pcap", in, "-o", hard}, exitUsage, []string{"--output", "hard.pcap", "input"}},
		{"output is the second input", []string{"--pcap", first, "--pcap", in, "-o", in}, exitUsage, []string{"--output"}},
		{"output is a symlink to the input", []string{"--pcap", in, "-o", toInput}, exitUsage, []string{"--output", "to-input.csv", "symbolic link"}},
		{"output is a symlink elsewhere", []string{"--pcap", in, "-o", toVictim}, exitUsage, []string{"--output", "to-victim.csv", "symbolic link"}},
		{"parquet output is the input", []string{"--pcap", in, "-o", in, "--format", "parquet"}, exitUsage, []string{"--output", "input"}},
		{"explicit output replaced", []string{"--pcap", in, "-o", existing}, exitOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(append(tt.args, "--quiet", "--n-dissections", "0")...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if got, _ := os.ReadFile(in); !bytes.Equal(got, orig) {
				t.Fatal("the input capture was overwritten")
			}
			if got := readFile(t, victim); got != "keep me\n" {
				t.Fatalf("the symlink's target was overwritten: %q", got)
			}
		})
	}
	if got := readFile(t, existing); !strings.HasPrefix(got, "id,") {
		t.Errorf("explicit --output should replace an existing file: %q", got)
	}

	// The default <pcap>.csv: a symlink planted there (by another user in
	// a shared directory) is refused, and so is any existing file.
	t.Run("default output is a planted symlink", func(t *testing.T) {
		d := t.TempDir()
		p := filepath.Join(d, "cap.pcap")
		writePcap(t, p, 1, sampleFrames())
		mustDo(t, os.Symlink(victim, p+".csv"))
		code, _, stderr := runCLI("--pcap", p, "--quiet", "--n-dissections", "0")
		if code != exitUsage || !strings.Contains(stderr, "--output") || !strings.Contains(stderr, "symbolic link") {
			t.Errorf("exit %d, stderr %q; want exit %d naming --output and the symbolic link", code, stderr, exitUsage)
		}
		if got := readFile(t, victim); got != "keep me\n" {
			t.Fatalf("the symlink's target was overwritten: %q", got)
		}
	})
	t.Run("default output exists", func(t *testing.T) {
		d := t.TempDir()
		p := filepath.Join(d, "cap.pcap")
		writePcap(t, p, 1, sampleFrames())
		mustDo(t, os.WriteFile(p+".csv", []byte("old\n"), 0o644))
		code, _, stderr := runCLI("--pcap", p, "--quiet", "--n-dissections", "0")
		if code != exitUsage || !strings.Contains(stderr, "--output") || !strings.Contains(stderr, "exists") {
			t.Errorf("exit %d, stderr %q; want exit %d naming --output", code, stderr, exitUsage)
		}
		if got := readFile(t, p+".csv"); got != "old\n" {
			t.Errorf("existing default output replaced: %q", got)
		}
	})
	t.Run("a chunk is the input", func(t *testing.T) {
		d := t.TempDir()
		p := filepath.Join(d, "cap.1.csv")
		b := writePcap(t, p, 1, sampleFrames())
		code, _, stderr := runCLI("--pcap", p, "-o", filepath.Join(d, "cap.csv"), "--flows-per-file", "1", "--quiet", "--n-dissections", "0")
		if code != exitUsage || !strings.Contains(stderr, "--output") {
			t.Errorf("exit %d, stderr %q; want exit %d naming --output", code, stderr, exitUsage)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
			t.Fatal("the input capture was overwritten by a chunk")
		}
	})
}

func mustDo(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
