package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// writePcap writes a little-endian µs classic pcap of frames, one ms apart.
func writePcap(tb testing.TB, path string, linkType uint32, frames [][]byte) []byte {
	tb.Helper()
	b := pcapFile(linkType, frames, func(i int) (uint32, uint32) { return 1600000000, uint32(i * 1000) })
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return b
}

// pcapFile is a classic microsecond pcap of frames, frame i stamped at
// ts(i) (seconds, microseconds).
func pcapFile(linkType uint32, frames [][]byte, ts func(i int) (sec, usec uint32)) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, linkType)
	for i, f := range frames {
		sec, usec := ts(i)
		b = binary.LittleEndian.AppendUint32(b, sec)
		b = binary.LittleEndian.AppendUint32(b, usec)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func sampleFrames() [][]byte {
	a := netip.MustParseAddrPort("10.1.0.1:40000")
	b := netip.MustParseAddrPort("10.1.0.2:80")
	c := netip.MustParseAddrPort("10.1.0.3:53")
	return [][]byte{
		flowstest.TCP(a, b, 0x02, 0),
		flowstest.TCP(b, a, 0x12, 0),
		flowstest.UDP(a, c, 30),
		flowstest.TCP(a, b, 0x10, 100),
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pcap")
	full := writePcap(t, good, 1, sampleFrames())
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("this is not a capture file at all\n"), 0o644)
	sll2 := filepath.Join(dir, "sll2.pcap")
	writePcap(t, sll2, 276, sampleFrames())
	out := filepath.Join(dir, "out.csv")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string // substrings of stderr
	}{
		{"no input", []string{}, exitUsage, []string{"--pcap"}},
		{"missing file", []string{"--pcap", filepath.Join(dir, "nope.pcap")}, exitFailure, []string{"nope.pcap", "no such file"}},
		{"directory", []string{"--pcap", dir}, exitFailure, []string{dir, "directory"}},
		{"empty file", []string{"--pcap", empty}, exitFailure, []string{"empty.pcap", "empty"}},
		{"not a capture", []string{"--pcap", text}, exitFailure, []string{"notes.txt", "not a pcap"}},
		{"unsupported link type", []string{"--pcap", sll2, "-o", out}, exitFailure, []string{"sll2.pcap", "link type 276"}},
		{"positional argument", []string{"--pcap", good, "extra"}, exitUsage, []string{"extra"}},
		{"unknown flag", []string{"--pcap", good, "--frobnicate"}, exitUsage, []string{"frobnicate"}},
		{"bad filter", []string{"--pcap", good, "-o", out, "--bpf-filter", "my filter"}, exitFailure, []string{"bpf", "my filter"}},
		{"missing anonymized column", []string{"--pcap", good, "-o", out, "--columns-to-anonymize", "nope"}, exitFailure, []string{"columns_to_anonymize", "nope"}},
		{"unwritable output", []string{"--pcap", good, "-o", filepath.Join(dir, "no", "such", "dir.csv")}, exitFailure, []string{"dir.csv"}},
		{"pcap and interface", []string{"--pcap", good, "--interface", "lo"}, exitUsage, []string{"--pcap", "--interface"}},
		{"no such interface", []string{"--interface", "nfm-nosuch0", "-o", out}, exitFailure, []string{"--interface nfm-nosuch0", "no such network interface"}},
		{"bad mode", []string{"--interface", "lo", "--mode", "ebpf"}, exitUsage, []string{"--mode", "ebpf", "afpacket"}},
		{"ring not a power of two", []string{"--interface", "lo", "--ring-buffer-size", "100000"}, exitUsage, []string{"--ring-buffer-size", "power of two"}},
		{"report on stdout output", []string{"--interface", "lo", "-o", "-", "--performance-report", "5"}, exitUsage, []string{"--performance-report", "stdout"}},
	}
	for _, r := range []struct{ flag, val string }{
		{"--idle-timeout", "-1"}, {"--active-timeout", "-5"}, {"--accounting-mode", "4"}, {"--accounting-mode", "-1"},
		{"--n-dissections", "256"}, {"--n-dissections", "-1"}, {"--splt-analysis", "70000"}, {"--splt-analysis", "-1"},
		{"--n-meters", "-1"}, {"--max-nflows", "-1"}, {"--snapshot-length", "0"}, {"--flows-per-file", "-1"},
		{"--rotate-files", "-2"}, {"--idle-timeout", "yes"}, {"--progress", "sometimes"}, {"--ndpi-shards", "0"}, {"--ndpi-shards", "65"},
		{"--kernel-max-flows", "0"}, {"--performance-report", "-1"}, {"--socket-buffer-size", "-1"},
	} {
		tests = append(tests, struct {
			name     string
			args     []string
			wantCode int
			wantErr  []string
		}{"range " + r.flag + "=" + r.val, []string{"--pcap", good, r.flag, r.val}, exitUsage, []string{r.flag}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not mention %q", stderr, w)
				}
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic: %s", stderr)
			}
		})
	}

	// A truncated last record: the flows before it are written and the
	// error names the file and the byte where it is cut.
	t.Run("truncated last record", func(t *testing.T) {
		cut := filepath.Join(dir, "cut.pcap")
		os.WriteFile(cut, full[:len(full)-20], 0o644)
		code, _, stderr := runCLI("--pcap", cut, "-o", out, "--quiet")
		if code != exitFailure {
			t.Fatalf("exit %d, want %d; %s", code, exitFailure, stderr)
		}
		if !strings.Contains(stderr, "cut.pcap") || !strings.Contains(stderr, "truncated") || !strings.Contains(stderr, "byte ") {
			t.Errorf("stderr %q should name the file, the byte offset and the truncation", stderr)
		}
		if lines := strings.Count(readFile(t, out), "\n"); lines != 3 {
			t.Errorf("output has %d lines, want header + 2 flows", lines)
		}
	})
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestCLIOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	writePcap(t, in, 1, sampleFrames())

	t.Run("default output path", func(t *testing.T) {
		if code, _, e := runCLI("--pcap", in, "--quiet"); code != exitOK {
			t.Fatal(e)
		}
		if got := readFile(t, in+".csv"); !strings.HasPrefix(got, "id,expiration_id,src_ip") {
			t.Errorf("unexpected output %q", got)
		}
	})
	t.Run("stdout", func(t *testing.T) {
		code, out, e := runCLI("--pcap", in, "-o", "-", "--quiet")
		if code != exitOK || strings.Count(out, "\n") != 3 {
			t.Fatalf("exit %d, %q, %s", code, out, e)
		}
	})
	t.Run("flows per file with rotation", func(t *testing.T) {
		out := filepath.Join(dir, "chunk.csv")
		if code, _, e := runCLI("--pcap", in, "-o", out, "--flows-per-file", "1", "--rotate-files", "1", "--quiet"); code != exitOK {
			t.Fatal(e)
		}
		got := readFile(t, filepath.Join(dir, "chunk.0.csv"))
		if strings.Count(got, "\n") != 2 || !strings.Contains(got, "\n1,") {
			t.Errorf("rotated chunk should hold the last flow (id 1): %q", got)
		}
	})
	t.Run("anonymize", func(t *testing.T) {
		code, out, e := runCLI("--pcap", in, "-o", "-", "--quiet", "--columns-to-anonymize", "src_ip,dst_ip")
		if code != exitOK {
			t.Fatal(e)
		}
		if strings.Contains(out, "10.1.0.") {
			t.Errorf("addresses not anonymized: %s", out)
		}
		lines := strings.Split(out, "\n")
		a, b := splitCSV(lines[1]), splitCSV(lines[2])
		if a[2] != b[2] || len(a[2]) != 130 {
			t.Errorf("same source must hash the same within one export: %s vs %s", a[2], b[2])
		}
	})
	t.Run("bpf filter", func(t *testing.T) {
		code, out, e := runCLI("--pcap", in, "-o", "-", "--quiet", "--bpf-filter", "udp")
		if code != exitOK {
			t.Fatal(e)
		}
		if strings.Count(out, "\n") != 2 || !strings.Contains(out, ",17,4,") {
			t.Errorf("filter should keep only the UDP flow: %s", out)
		}
	})
	t.Run("no flows creates no file", func(t *testing.T) {
		out := filepath.Join(dir, "none.csv")
		if code, _, e := runCLI("--pcap", in, "-o", out, "--quiet", "--bpf-filter", "icmp"); code != exitOK {
			t.Fatal(e)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("file created without flows: %v", err)
		}
	})
	t.Run("summary", func(t *testing.T) {
		code, _, e := runCLI("--pcap", in, "-o", filepath.Join(dir, "s.csv"))
		if code != exitOK || !strings.Contains(e, "4 packets") || !strings.Contains(e, "2 flows") || !strings.Contains(e, "Mpps") {
			t.Errorf("summary line: %q", e)
		}
	})
	t.Run("version", func(t *testing.T) {
		code, out, _ := runCLI("--version")
		if code != exitOK || !strings.HasPrefix(out, "nfmeter ") {
			t.Errorf("version: %d %q", code, out)
		}
	})
}

// --help prints the usage once, with every way to run nfmeter.
func TestCLIHelp(t *testing.T) {
	code, stdout, stderr := runCLI("--help")
	if code != exitOK || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if n := strings.Count(stderr, "Usage:"); n != 1 {
		t.Errorf("usage printed %d times", n)
	}
	for _, want := range []string{"--pcap FILE", "--interface IF", "replay", "-mode", "-system-visibility-mode"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
