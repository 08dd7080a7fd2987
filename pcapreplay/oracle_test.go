package pcapreplay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// maxDumpCalls bounds the Next calls of one dump, like testdata/oracle.c.
const maxDumpCalls = 10000000

// dumpCapture describes what reading path yields, one line per Open
// outcome, packet, error and end, in the format of testdata/oracle.c
// (without error messages). It keeps calling Next after errors, like
// NFStream. defined is false when libpcap's output is undefined because it read
// uninitialised memory (see ngInterface.undefined).
func dumpCapture(path string) (dump string, defined bool) {
	r, err := Open(path)
	if err != nil {
		return "openerr\n", true
	}
	defer r.Close()
	ng, _ := r.dec.(*pcapngFile)
	dump = dumpReader(r)
	return dump, ng == nil || !ng.undefined
}

// dumpReader is dumpCapture for a reader that is already open.
func dumpReader(r *Reader) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "open dlt=%d snap=%d\n", r.LinkType(), int32(r.snapLen()))
	var p Packet
	for range maxDumpCalls {
		err := r.Next(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			sb.WriteString("err\n")
			continue
		}
		fmt.Fprintf(&sb, "pkt sec=%d usec=%d caplen=%d len=%d hash=%016x\n",
			p.Sec, p.Usec, p.CapLen, p.WireLen, fnv64(p.Data))
	}
	sb.WriteString("eof\n")
	return maskDump(sb.String())
}

// fnv64 is FNV-1a, as in testdata/oracle.c.
func fnv64(p []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range p {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mustBuildOracle compiles testdata/oracle.c against the system libpcap,
// or skips the test when no C compiler or libpcap headers are installed.
func mustBuildOracle(tb testing.TB) string {
	tb.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		tb.Skip("libpcap oracle needs a C compiler: cc not found")
	}
	bin := filepath.Join(tb.TempDir(), "oracle")
	out, err := exec.Command(cc, "-O2", "-o", bin, filepath.Join("testdata", "oracle.c"), "-lpcap").CombinedOutput()
	if err != nil {
		tb.Skipf("libpcap oracle does not build (libpcap-dev missing?): %v\n%s", err, out)
	}
	return bin
}

// Link types whose data (and, for 220, wire length) libpcap rewrites in
// ways the reader does not reproduce: USB (189, 220) and NFLOG (239).
// NFStream ignores packets of these link types.
var unmodelledDLT = map[string]bool{"189": true, "220": true, "239": true}

// maskDump hides the fields of unmodelled link types in a dump.
func maskDump(dump string) string {
	lines := strings.SplitAfter(dump, "\n")
	mask := false
	for i, l := range lines {
		if strings.HasPrefix(l, "open dlt=") {
			dlt, _, _ := strings.Cut(strings.TrimPrefix(l, "open dlt="), " ")
			mask = unmodelledDLT[dlt]
		}
		if mask && strings.HasPrefix(l, "pkt ") {
			f := strings.Fields(l)
			lines[i] = strings.Join(f[:4], " ") + " len=? hash=?\n"
		}
	}
	return strings.Join(lines, "")
}

// runOracle returns the oracle's dump of path with error messages cut.
// ok is false when libpcap itself crashes on the input (it divides by an
// uninitialised resolution after some invalid pcapng interfaces).
func runOracle(tb testing.TB, bin, path string) (dump string, ok bool) {
	tb.Helper()
	out, err := exec.Command(bin, path).Output()
	if err != nil {
		if ee, isExit := errors.AsType[*exec.ExitError](err); isExit && !ee.Exited() {
			return "", false
		}
		tb.Fatalf("oracle %s: %v", path, err)
	}
	lines := strings.SplitAfter(string(out), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "err ") || strings.HasPrefix(l, "openerr ") {
			lines[i] = l[:strings.IndexByte(l, ' ')] + "\n"
		}
	}
	return maskDump(strings.Join(lines, "")), true
}

// firstDiff returns a short description of where two dumps differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  libpcap: %s\n  ours:    %s", i+1, wl, gl)
		}
	}
	return ""
}

// oracleCases lists every capture the oracle test compares: the
// conformance corpus plus the synthetic edge cases.
func oracleCases(tb testing.TB) []string {
	tb.Helper()
	var paths []string
	if dir, err := corpus.Find(); err == nil {
		paths = append(corpus.Captures(dir), corpus.Synthetic(dir)...)
	}
	for _, c := range syntheticCases() {
		paths = append(paths, mustWriteFile(tb, c.name, c.data))
	}
	return paths
}

// TestLibpcapOracle compares the reader with libpcap itself, through a
// small C program, on every capture at hand.
func TestLibpcapOracle(t *testing.T) {
	bin := mustBuildOracle(t)
	for _, path := range oracleCases(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, ok := runOracle(t, bin, path)
			if !ok {
				t.Fatal("libpcap crashed")
			}
			if got, _ := dumpCapture(path); got != want {
				t.Errorf("differs from libpcap at %s", firstDiff(want, got))
			}
		})
	}
}

// FuzzLibpcapOracle is a differential fuzz target: any input must be read
// exactly as libpcap reads it.
func FuzzLibpcapOracle(f *testing.F) {
	bin := mustBuildOracle(f)
	addSeeds(f)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		path := filepath.Join(dir, "in.pcap")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want, ok := runOracle(t, bin, path)
		if !ok {
			t.Skip("libpcap crashes on this input")
		}
		got, defined := dumpCapture(path)
		if !defined {
			t.Skip("libpcap reads uninitialised memory on this input")
		}
		if got != want {
			t.Errorf("differs from libpcap at %s", firstDiff(want, got))
		}
	})
}
