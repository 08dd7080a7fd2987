package pcapreplay

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// mustConformancePcaps returns the conformance captures, or skips the test
// when the corpus is absent.
func mustConformancePcaps(tb testing.TB) []string {
	tb.Helper()
	dir := corpus.Dir(tb)
	paths := corpus.Captures(dir)
	if len(paths) == 0 {
		tb.Skipf("conformance corpus at %s has no nfstream/pcaps", dir)
	}
	return paths
}

// specRow is one line of the pcap table in nfstream-spec.md §11.4.
type specRow struct {
	bytes    int64
	format   string
	linkType int
	packets  int
}

// mustSpecTable parses the per-pcap table of docs/nfstream-spec.md next to
// the conformance corpus, skipping rows for captures that are not
// available.
func mustSpecTable(tb testing.TB) map[string]specRow {
	tb.Helper()
	path := filepath.Join(corpus.Dir(tb), "..", "docs", "nfstream-spec.md")
	f, err := os.Open(path)
	if err != nil {
		tb.Skipf("spec table not found: %v", err)
	}
	defer f.Close()
	rows := make(map[string]specRow)
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| pcap | bytes | format | linktype | packets |") {
			in = true
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cols := strings.Split(line, "|")
		if len(cols) < 7 {
			continue
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		size, err1 := strconv.ParseInt(cols[2], 10, 64)
		lt, err2 := strconv.Atoi(cols[4])
		n, err3 := strconv.Atoi(cols[5])
		if err1 != nil || err2 != nil || err3 != nil {
			continue // "n/a (not available)" and the separator line
		}
		rows[cols[1]] = specRow{bytes: size, format: cols[3], linkType: lt, packets: n}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(rows) == 0 {
		tb.Fatalf("no pcap table found in %s", path)
	}
	return rows
}

// TestConformanceSpecTable checks size, format, link type and packet count
// of every conformance capture against the table in the spec.
func TestConformanceSpecTable(t *testing.T) {
	paths := mustConformancePcaps(t)
	rows := mustSpecTable(t)
	for _, path := range paths {
		name := filepath.Base(path)
		row, ok := rows[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := mustOpen(t, path)
			format := "pcap"
			if _, ok := r.dec.(*pcapngFile); ok {
				format = "pcapng"
			}
			if r.TotalBytes() != row.bytes || format != row.format || r.LinkType() != LinkTypeToDLT(row.linkType) {
				t.Errorf("size %d format %s link type %d, want %d %s %d", r.TotalBytes(), format,
					r.LinkType(), row.bytes, row.format, LinkTypeToDLT(row.linkType))
			}
			got := mustReadAll(t, r)
			for _, g := range got {
				if g.err != nil {
					t.Fatalf("read error %v", g.err)
				}
			}
			if len(got) != row.packets {
				t.Errorf("%d packets, want %d", len(got), row.packets)
			}
		})
	}
}

// TestConformanceKnownValues pins values quoted in the spec.
func TestConformanceKnownValues(t *testing.T) {
	dir := filepath.Dir(mustConformancePcaps(t)[0])
	path := filepath.Join(dir, "fuzz-2021-06-07-c6c72a0a56.pcap")
	if !fileExists(path) {
		t.Skipf("%s not in the corpus", path)
	}
	r := mustOpen(t, path)
	var p Packet
	if err := r.Next(&p); err != nil {
		t.Fatal(err)
	}
	if p.TimeMs() != 1953631155596 || p.WireLen != 4093509168 || p.Usec != -1404616 || p.CapLen != 48 {
		t.Errorf("got TimeMs %d WireLen %d Usec %d CapLen %d, want 1953631155596 4093509168 -1404616 48",
			p.TimeMs(), p.WireLen, p.Usec, p.CapLen)
	}
	if err := r.Next(&p); err != io.EOF {
		t.Errorf("second Next: %v, want io.EOF", err)
	}
}

// TestConformanceTcpdump compares every conformance capture with what
// libpcap delivers, as written back by tcpdump -w into a classic pcap.
func TestConformanceTcpdump(t *testing.T) {
	paths := mustConformancePcaps(t)
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (apt-get install tcpdump)")
	}
	tmp := t.TempDir()
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out := filepath.Join(tmp, filepath.Base(path)+".out.pcap")
			if msg, err := exec.Command(tcpdump, "-r", path, "-w", out).CombinedOutput(); err != nil {
				t.Fatalf("tcpdump: %v\n%s", err, msg)
			}
			want, got := mustPackets(t, out), mustPackets(t, path)
			if len(got) != len(want) {
				t.Fatalf("%d packets, tcpdump wrote %d", len(got), len(want))
			}
			for i := range got {
				// pcap_dump stores the timeval fields as 32-bit integers.
				got[i].sec, got[i].usec = int64(int32(got[i].sec)), int64(int32(got[i].usec))
				if got[i] != want[i] {
					t.Fatalf("packet %d: got %+v, libpcap %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// pktSum is a packet with its data hashed.
type pktSum struct {
	sec, usec int64
	capLen    uint32
	wireLen   uint32
	linkType  int
	hash      uint64
}

// mustPackets reads all packets of path, failing on any error.
func mustPackets(tb testing.TB, path string) []pktSum {
	tb.Helper()
	r := mustOpen(tb, path)
	var out []pktSum
	var p Packet
	for {
		err := r.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("Next: %v", err)
		}
		out = append(out, pktSum{p.Sec, p.Usec, p.CapLen, p.WireLen, p.LinkType, fnv64(p.Data)})
	}
}

// tsharkSample is the part of the corpus compared with tshark by default
// (tshark takes a second per file); NFMETER_TSHARK_ALL=1 compares all.
var tsharkSample = map[string]bool{
	"fuzz-2021-06-07-c6c72a0a56.pcap": true, // negative tv_usec, huge wire length
	"alexa-app.pcapng":                true, // big-endian classic pcap
	"ps_vue.pcap":                     true, // big-endian
	"dhcp_big_endian.pcapng":          true,
	"dhcp_little_endian.pcapng":       true,
	"1kxun.pcap":                      true, // pcapng named .pcap
	"rdp.pcap":                        true, // DLT_NULL
	"KakaoTalk_chat.pcap":             true, // Linux SLL
	"BGP_redist.pcap":                 true, // Cisco HDLC
	"BGP_Cisco_hdlc_slarp.pcap":       true, // PPP
	"reasm_crash_anon.pcapng":         true,
	"memcached.cap":                   true,
}

// TestConformanceTshark compares packet counts, lengths and timestamps
// with Wireshark's independent reader.
func TestConformanceTshark(t *testing.T) {
	paths := mustConformancePcaps(t)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark)")
	}
	all := os.Getenv("NFMETER_TSHARK_ALL") == "1"
	for _, path := range paths {
		if !all && !tsharkSample[filepath.Base(path)] {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(tshark, "-r", path, "-T", "fields",
				"-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			got := mustPackets(t, path)
			if len(lines) != len(got) {
				t.Fatalf("%d packets, tshark %d", len(got), len(lines))
			}
			for i, line := range lines {
				f := strings.Split(line, "\t")
				if len(f) != 3 {
					t.Fatalf("tshark line %q", line)
				}
				g := got[i]
				if s := strconv.FormatUint(uint64(g.capLen), 10); f[1] != s {
					t.Errorf("packet %d: caplen %s, tshark %s", i, s, f[1])
				}
				// tshark clamps lengths to int32.
				if s := strconv.FormatUint(uint64(min(g.wireLen, 1<<31-1)), 10); f[2] != s {
					t.Errorf("packet %d: len %s, tshark %s", i, s, f[2])
				}
				// Timestamps agree only when they are sane.
				if g.sec >= 0 && g.usec >= 0 && g.usec < 1000000 {
					if s := tsharkTime(g.sec, g.usec); !strings.HasPrefix(f[0], s) {
						t.Errorf("packet %d: time %s, tshark %s", i, s, f[0])
					}
				}
			}
		})
	}
}

// tsharkTime formats a timestamp like tshark's frame.time_epoch, to the
// microsecond.
func tsharkTime(sec, usec int64) string {
	u := strconv.FormatInt(usec, 10)
	return strconv.FormatInt(sec, 10) + "." + strings.Repeat("0", 6-len(u)) + u
}
