//go:build cgo && linux

package bpffilter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// DLT numbers used by the tests.
const (
	dltNull     = 0
	dltEN10MB   = 1
	dltPPP      = 9
	dltRaw      = 12
	dltCHDLC    = 104
	dltLinuxSLL = 113
)

// pcapsDir returns the directory of NFStream's conformance captures, or
// skips the test when the corpus is absent.
func pcapsDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(corpus.Dir(tb), "nfstream", "pcaps")
}

type pcapRecord struct {
	data    []byte
	wirelen uint32
}

type pcapFile struct {
	name     string
	linkType int // as in the file header (LINKTYPE_)
	snapLen  int
	records  []pcapRecord
}

// readPcap reads a classic pcap file (either byte order, micro- or
// nanosecond timestamps). ok is false for other formats (pcapng).
func readPcap(tb testing.TB, path string) (pf pcapFile, ok bool) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	if len(b) < 24 {
		return pcapFile{}, false
	}
	var order binary.ByteOrder
	switch {
	case bytes.Equal(b[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}), bytes.Equal(b[:4], []byte{0x4d, 0x3c, 0xb2, 0xa1}):
		order = binary.LittleEndian
	case bytes.Equal(b[:4], []byte{0xa1, 0xb2, 0xc3, 0xd4}), bytes.Equal(b[:4], []byte{0xa1, 0xb2, 0x3c, 0x4d}):
		order = binary.BigEndian
	default:
		return pcapFile{}, false
	}
	pf = pcapFile{
		name:     filepath.Base(path),
		snapLen:  int(order.Uint32(b[16:])),
		linkType: int(order.Uint32(b[20:]) & 0x0FFFFFFF),
	}
	for off := 24; off+16 <= len(b); {
		incl := int(order.Uint32(b[off+8:]))
		orig := order.Uint32(b[off+12:])
		off += 16
		if incl > len(b)-off {
			tb.Logf("%s: truncated record at offset %d", pf.name, off-16)
			break
		}
		pf.records = append(pf.records, pcapRecord{data: b[off : off+incl : off+incl], wirelen: orig})
		off += incl
	}
	return pf, true
}

func mustReadPcap(tb testing.TB, path string) pcapFile {
	tb.Helper()
	pf, ok := readPcap(tb, path)
	if !ok {
		tb.Fatalf("%s is not a classic pcap file", path)
	}
	return pf
}

// allPcaps reads every classic pcap capture of the conformance set.
func allPcaps(tb testing.TB) []pcapFile {
	tb.Helper()
	dir := pcapsDir(tb)
	paths, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil {
		tb.Fatal(err)
	}
	var files []pcapFile
	for _, p := range paths {
		if pf, ok := readPcap(tb, p); ok {
			files = append(files, pf)
		}
	}
	if len(files) == 0 {
		tb.Skipf("no classic pcap files in %s", dir)
	}
	return files
}

func mustCompile(tb testing.TB, expr string, linkType, snapLen int) *Filter {
	tb.Helper()
	f, err := Compile(expr, linkType, snapLen)
	if err != nil {
		tb.Fatalf("Compile(%q, %d, %d): %v", expr, linkType, snapLen, err)
	}
	return f
}

// libpcapMatch runs f's program with libpcap itself.
func libpcapMatch(f *Filter, data []byte, wirelen uint32) bool {
	return offlineFilterC(f.Instructions(), data, wirelen) != 0
}

// hasBackwardJump reports whether the program has a backward "ja"
// (libpcap 1.10 interprets those without bound).
func hasBackwardJump(ins []Instruction) bool {
	for _, in := range ins {
		if in.Op == bpfJMP|bpfJA && int32(in.K) < 0 {
			return true
		}
	}
	return false
}

// differentialExprs are compared with libpcap on every packet of every
// capture; an expression that does not compile for a capture's link type
// is skipped for it. wantSome expressions must match at least one packet
// over the whole set, so that the comparison is not vacuous.
var differentialExprs = []struct {
	name     string
	expr     string
	wantSome bool
}{
	{name: "port or", expr: "src port 52066 or dst port 52066", wantSome: true},
	{name: "tcp", expr: "tcp", wantSome: true},
	{name: "udp", expr: "udp", wantSome: true},
	{name: "icmp", expr: "icmp", wantSome: true},
	{name: "icmp6", expr: "icmp6", wantSome: true},
	{name: "ip", expr: "ip", wantSome: true},
	{name: "ip6", expr: "ip6", wantSome: true},
	{name: "arp", expr: "arp", wantSome: true},
	{name: "vlan", expr: "vlan", wantSome: true},
	{name: "vlan and udp", expr: "vlan and udp", wantSome: true},
	{name: "vlan and tcp port", expr: "vlan and tcp port 80", wantSome: false},
	{name: "vlan id", expr: "vlan 7 or vlan 258", wantSome: true},
	{name: "stacked vlan", expr: "vlan 93 and vlan 258 and tcp", wantSome: true},
	{name: "host", expr: "host 192.168.43.18", wantSome: true},
	{name: "tcp and host", expr: "tcp and host 66.220.156.68", wantSome: true},
	{name: "src host", expr: "src host 192.168.1.1 or dst host 8.8.8.8"},
	{name: "ip6 host", expr: "host 2a00:1450:4002:803::200e or ip6 host ::1"},
	{name: "net", expr: "net 192.168.0.0/16", wantSome: true},
	{name: "src net", expr: "src net 10.0.0.0/8 and not dst net 10.0.0.0/8", wantSome: true},
	{name: "ip6 net", expr: "net fe80::/10", wantSome: true},
	{name: "dst port", expr: "dst port 443", wantSome: true},
	{name: "udp port", expr: "udp port 53", wantSome: true},
	{name: "port list", expr: "port 80 or port 443 or port 8080", wantSome: true},
	{name: "portrange", expr: "portrange 1-1024", wantSome: true},
	{name: "src portrange", expr: "tcp src portrange 50000-60000", wantSome: true},
	{name: "tcp syn", expr: "tcp[tcpflags] & tcp-syn != 0", wantSome: true},
	{name: "tcp syn only", expr: "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", wantSome: true},
	{name: "tcp fin or rst", expr: "tcp[13] & 5 != 0", wantSome: true},
	{name: "ip total length", expr: "ip[2:2] > 100", wantSome: true},
	{name: "ip header options", expr: "ip[0] & 0xf > 5", wantSome: true},
	{name: "ip fragments", expr: "ip[6:2] & 0x3fff != 0", wantSome: true},
	{name: "ttl", expr: "ip[8] < 64", wantSome: true},
	{name: "http get", expr: "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", wantSome: true},
	{name: "tls handshake", expr: "tcp[((tcp[12] & 0xf0) >> 2)] = 0x16", wantSome: true},
	{name: "udp payload byte", expr: "udp[8] = 0x16 or udp[8:2] = 0x0100"},
	{name: "len greater", expr: "len > 100", wantSome: true},
	{name: "len at most", expr: "len <= 64", wantSome: true},
	{name: "greater", expr: "greater 1000", wantSome: true},
	{name: "less", expr: "less 60", wantSome: true},
	{name: "len arithmetic", expr: "len - 14 = ip[2:2]", wantSome: true},
	{name: "ip payload length", expr: "ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2) > 0", wantSome: true},
	{name: "mul div mod", expr: "(ip[2:2] * 3 / 7) % 5 = 2", wantSome: true},
	{name: "div by x", expr: "ip[2:2] / (ip[1] & 3) > 10", wantSome: true},
	{name: "mod by x", expr: "ip[2:2] % (ip[8] & 7) = 1", wantSome: true},
	{name: "shift by x", expr: "(1 << (ip[4] & 63)) & 0x0f != 0", wantSome: true},
	{name: "rshift by x", expr: "(0xffffffff >> (ip[5] & 63)) > 0x1000", wantSome: true},
	{name: "xor", expr: "ip[9] ^ 6 = 0", wantSome: true},
	{name: "or", expr: "ip[1] | ip[9] = 17", wantSome: true},
	{name: "negation", expr: "-ip[8] > 0xffffff00", wantSome: true},
	{name: "x compare", expr: "tcp[0:2] > tcp[2:2]", wantSome: true},
	{name: "ether host", expr: "ether host 98:0c:82:d3:3c:7c", wantSome: true},
	{name: "ether broadcast", expr: "ether broadcast", wantSome: true},
	{name: "ether multicast", expr: "ether multicast", wantSome: true},
	{name: "ether proto", expr: "ether proto 0x0806 or ether proto 0x86dd", wantSome: true},
	{name: "proto gre", expr: "proto 47"},
	{name: "ip proto udp", expr: "ip proto 17", wantSome: true},
	{name: "ip6 proto", expr: "ip6 proto 58 or ip6 proto 17", wantSome: true},
	{name: "ip multicast", expr: "ip multicast", wantSome: true},
	{name: "ip broadcast", expr: "ip broadcast", wantSome: true},
	{name: "ip6 multicast", expr: "ip6 multicast", wantSome: true},
	{name: "ip in ip6", expr: "ip6 and ip6[6] = 4 or ip[9] = 41", wantSome: true},
	{name: "protochain", expr: "ip6 protochain 17 or ip protochain 6", wantSome: true},
	{name: "mpls", expr: "mpls"},
	{name: "pppoe", expr: "pppoes"},
	{name: "sctp", expr: "sctp"},
	{name: "not", expr: "not (tcp or udp)", wantSome: true},
	{name: "complex", expr: "(tcp and (port 443 or port 80)) or (udp and not port 53 and len > 200)", wantSome: true},
}

// TestMatchesLibpcapOnCaptures compares Match with libpcap's own
// interpreter on every packet of every classic pcap capture.
func TestMatchesLibpcapOnCaptures(t *testing.T) {
	files := allPcaps(t)
	byDLT := map[int][]pcapFile{}
	packets := 0
	for _, pf := range files {
		dlt := linkTypeToDLT(pf.linkType)
		byDLT[dlt] = append(byDLT[dlt], pf)
		packets += len(pf.records)
	}
	dlts := make([]int, 0, len(byDLT))
	for dlt := range byDLT {
		dlts = append(dlts, dlt)
	}
	slices.Sort(dlts)
	t.Logf("%d captures, %d packets, DLTs %v", len(files), packets, dlts)

	for _, tt := range differentialExprs {
		t.Run(tt.name, func(t *testing.T) {
			compiled, matched, compared := 0, 0, 0
			for _, dlt := range dlts {
				f, err := Compile(tt.expr, dlt, 262144)
				if err != nil {
					if !errors.Is(err, ErrCompile) {
						t.Fatalf("Compile(%q, %d): %v", tt.expr, dlt, err)
					}
					continue // e.g. "ether host" on DLT_RAW
				}
				compiled++
				for _, pf := range byDLT[dlt] {
					mismatches := 0
					for i, r := range pf.records {
						got, want := f.Match(r.data, r.wirelen), libpcapMatch(f, r.data, r.wirelen)
						compared++
						if got {
							matched++
						}
						if got != want {
							mismatches++
							if mismatches <= 3 {
								t.Errorf("%s packet %d (caplen %d, len %d): Match = %v, libpcap = %v", pf.name, i+1, len(r.data), r.wirelen, got, want)
							}
						}
					}
					if mismatches > 3 {
						t.Errorf("%s: %d mismatches in all", pf.name, mismatches)
					}
				}
			}
			if compiled == 0 {
				t.Fatalf("%q compiles for none of the DLTs %v", tt.expr, dlts)
			}
			t.Logf("%q: %d of %d packets match", tt.expr, matched, compared)
			if tt.wantSome && matched == 0 {
				t.Errorf("%q matched no packet: the comparison is vacuous", tt.expr)
			}
		})
	}
}

// TestOtherLinkTypes checks that each link type of the set is exercised
// and compared (DLT_NULL, DLT_LINUX_SLL, DLT_PPP, DLT_C_HDLC).
func TestOtherLinkTypes(t *testing.T) {
	dir := pcapsDir(t)
	tests := []struct {
		name    string
		file    string
		dlt     int
		expr    string
		wantMin int
	}{
		{name: "null loopback", file: "rdp.pcap", dlt: dltNull, expr: "tcp port 3389", wantMin: 1},
		{name: "linux sll", file: "KakaoTalk_chat.pcap", dlt: dltLinuxSLL, expr: "tcp and net 0.0.0.0/0", wantMin: 1},
		{name: "linux sll udp", file: "KakaoTalk_chat.pcap", dlt: dltLinuxSLL, expr: "udp or icmp", wantMin: 0},
		{name: "ppp", file: "BGP_Cisco_hdlc_slarp.pcap", dlt: dltPPP, expr: "ip or not ip", wantMin: 0},
		{name: "cisco hdlc", file: "BGP_redist.pcap", dlt: dltCHDLC, expr: "tcp port 179", wantMin: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("%s not in the conformance set", tt.file)
			}
			pf := mustReadPcap(t, path)
			if got := linkTypeToDLT(pf.linkType); got != tt.dlt {
				t.Fatalf("%s has link type %d, want DLT %d", tt.file, pf.linkType, tt.dlt)
			}
			f := mustCompile(t, tt.expr, pf.linkType, pf.snapLen)
			n := 0
			for i, r := range pf.records {
				got, want := f.Match(r.data, r.wirelen), libpcapMatch(f, r.data, r.wirelen)
				if got != want {
					t.Errorf("packet %d: Match = %v, libpcap = %v", i+1, got, want)
				}
				if got {
					n++
				}
			}
			if n < tt.wantMin {
				t.Errorf("%d packets match, want at least %d", n, tt.wantMin)
			}
		})
	}
}

// TestKnownAnswerFacebook: in facebook.pcap, "src port 52066 or dst port
// 52066" selects the 19 packets of one TCP connection
// (tcpdump -r facebook.pcap -nn 'src port 52066 or dst port 52066' | wc -l).
func TestKnownAnswerFacebook(t *testing.T) {
	const expr = "src port 52066 or dst port 52066"
	const want = 19
	path := filepath.Join(pcapsDir(t), "facebook.pcap")
	pf := mustReadPcap(t, path)
	f := mustCompile(t, expr, pf.linkType, pf.snapLen)
	if got := f.Instructions(); !slices.Equal(got, portProgram) {
		t.Errorf("compiled program differs from tcpdump -dd:\n got %+v\nwant %+v", got, portProgram)
	}
	got := 0
	for _, r := range pf.records {
		if f.Match(r.data, r.wirelen) {
			got++
		}
	}
	if got != want {
		t.Errorf("%d packets match %q, want %d", got, expr, want)
	}
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command(tcpdump, "-r", path, "-nn", expr).Output()
		if err != nil {
			t.Fatalf("tcpdump: %v", err)
		}
		if n := strings.Count(string(out), "\n"); n != got {
			t.Errorf("tcpdump prints %d packets, Match accepts %d", n, got)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name     string
		expr     string
		linkType int
		wantMsg  string
	}{
		{name: "syntax", expr: "my filter", linkType: dltEN10MB, wantMsg: "syntax error"},
		{name: "missing port number", expr: "tcp port", linkType: dltEN10MB, wantMsg: "syntax error"},
		{name: "unknown port name", expr: "port nosuchservice", linkType: dltEN10MB, wantMsg: "unknown port"},
		{name: "bad net", expr: "net 10.0.0.1/8", linkType: dltEN10MB, wantMsg: "non-network bits set"},
		{name: "ether on raw", expr: "ether host 01:02:03:04:05:06", linkType: dltRaw, wantMsg: "ethernet addresses supported only"},
		{name: "shift too far", expr: "ip[0] << 40 != 0", linkType: dltEN10MB, wantMsg: "shift"},
		{name: "division by zero", expr: "ip[0] / 0 != 0", linkType: dltEN10MB, wantMsg: "division by zero"},
		{name: "unknown link type", expr: "tcp", linkType: 999, wantMsg: "unknown data link type"},
		{name: "negative link type", expr: "tcp", linkType: -1, wantMsg: "invalid link type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr, tt.linkType, 262144)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded: %+v", tt.expr, f.Instructions())
			}
			if f != nil {
				t.Error("got a filter with an error")
			}
			if !errors.Is(err, ErrCompile) {
				t.Errorf("error %v does not wrap ErrCompile", err)
			}
			prefix := fmt.Sprintf("compile bpf filter %s: ", strconv.Quote(tt.expr))
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCompileLinkTypes(t *testing.T) {
	tests := []struct {
		name     string
		linkType int
	}{
		{name: "null", linkType: dltNull},
		{name: "ethernet", linkType: dltEN10MB},
		{name: "ppp", linkType: dltPPP},
		{name: "raw dlt", linkType: dltRaw},
		{name: "raw linktype", linkType: 101},
		{name: "cisco hdlc", linkType: dltCHDLC},
		{name: "linux sll", linkType: dltLinuxSLL},
		{name: "radiotap", linkType: 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCompile(t, "tcp port 80", tt.linkType, 0)
		})
	}
	// DLT_RAW: the IPv4 header is at offset 0.
	f := mustCompile(t, "ip[9] = 6 and len = 40", 101, 0)
	pkt := make([]byte, 40)
	pkt[0], pkt[9] = 0x45, 6
	if !f.Match(pkt, 40) {
		t.Error("raw IPv4 TCP packet rejected")
	}
}

// TestProtochainLoopTerminates: with "ip6 protochain", an IPv6 packet whose
// AH header length points back at the AH header itself makes libpcap 1.10
// loop forever; Match must stop and reject it.
func TestProtochainLoopTerminates(t *testing.T) {
	f := mustCompile(t, "ip6 protochain 6", dltEN10MB, 0)
	if !hasBackwardJump(f.Instructions()) {
		t.Fatal("protochain program has no backward jump")
	}
	pkt := make([]byte, 14+40+16)
	pkt[12], pkt[13] = 0x86, 0xdd // IPv6
	pkt[14] = 0x60
	pkt[14+5] = 16           // payload length
	pkt[14+6] = 51           // next header: AH
	pkt[54], pkt[55] = 51, 8 // AH: next header AH, length (8+2)*4 = 40
	if f.Match(pkt, uint32(len(pkt))) {
		t.Error("looping packet accepted")
	}
	pkt[54] = 6 // AH followed by TCP: accepted
	if !f.Match(pkt, uint32(len(pkt))) {
		t.Error("AH + TCP packet rejected")
	}
}

// fuzzExprs are the fixed programs FuzzFilterVsLibpcap runs on random
// packets. No "protochain": libpcap 1.10 can loop forever on crafted IPv6
// headers with it.
var fuzzExprs = []struct {
	expr string
	dlt  int
}{
	{"src port 52066 or dst port 52066", dltEN10MB},
	{"tcp and host 1.2.3.4", dltEN10MB},
	{"vlan and udp", dltEN10MB},
	{"vlan and vlan and tcp port 443", dltEN10MB},
	{"ip6 and tcp port 443 or tcp[tcpflags] & tcp-syn != 0", dltEN10MB},
	{"ip[2:2] > 100 and ip[6:2] & 0x3fff = 0", dltEN10MB},
	{"len > 100 or less 40", dltEN10MB},
	{"ether host 01:02:03:04:05:06 or ether multicast", dltEN10MB},
	{"proto 47 or ip multicast or ip broadcast", dltEN10MB},
	{"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", dltEN10MB},
	{"ip[2:2] / (ip[1] & 3) > 10 or ip[2:2] % (ip[8] & 7) = 1", dltEN10MB},
	{"(1 << (ip[4] & 63)) & 0x0f != 0 or (0xffffffff >> (ip[5] & 63)) > 0x1000", dltEN10MB},
	{"pppoes and tcp or mpls 100", dltEN10MB},
	{"vlan 7 or vlan 93 and vlan 258", dltEN10MB},
	{"portrange 1-1024 and net 10.0.0.0/8", dltRaw},
	{"udp port 53 or icmp6", dltNull},
	{"tcp or udp", dltLinuxSLL},
	{"tcp port 179", dltCHDLC},
	{"ip or ip6", dltPPP},
}

func FuzzFilterVsLibpcap(f *testing.F) {
	filters := make([]*Filter, len(fuzzExprs))
	for i, e := range fuzzExprs {
		filters[i] = mustCompile(f, e.expr, e.dlt, 262144)
		if hasBackwardJump(filters[i].Instructions()) {
			f.Fatalf("%q has a backward jump", e.expr)
		}
	}
	f.Add(uint8(0), mustHex(f, synAckPacket), uint16(0))
	f.Add(uint8(2), mustHex(f, "ffffffffffff0000000000018100006408004500001c000000004011000001020304050607080035003500080000"), uint16(0))
	f.Add(uint8(5), []byte{}, uint16(60))
	for _, name := range []string{"facebook.pcap", "ja3_lots_of_cipher_suites.pcap", "http_ipv6.pcap"} {
		if pf, ok := seedCapture(f, name); ok {
			for i, r := range pf.records {
				if i%7 == 0 && i < 200 {
					f.Add(uint8(i), r.data, uint16(r.wirelen-uint32(len(r.data))))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte, extra uint16) {
		flt := filters[int(sel)%len(filters)]
		wirelen := uint32(len(data)) + uint32(extra)
		got, want := flt.Match(data, wirelen), libpcapMatch(flt, data, wirelen)
		if got != want {
			t.Fatalf("%q: Match = %v, libpcap = %v (caplen %d, len %d)", fuzzExprs[int(sel)%len(filters)].expr, got, want, len(data), wirelen)
		}
	})
}

// seedCapture reads a conformance capture for fuzz seeds, if present.
func seedCapture(tb testing.TB, name string) (pcapFile, bool) {
	tb.Helper()
	dir, err := corpus.Find()
	if err != nil {
		return pcapFile{}, false
	}
	path := filepath.Join(dir, "nfstream", "pcaps", name)
	if _, err := os.Stat(path); err != nil {
		return pcapFile{}, false
	}
	return readPcap(tb, path)
}

// FuzzProgramVsLibpcap runs random valid programs (without backward jumps)
// with both interpreters and compares the exact return values.
func FuzzProgramVsLibpcap(f *testing.F) {
	var prog []byte
	for _, in := range portProgram {
		prog = binary.LittleEndian.AppendUint16(prog, in.Op)
		prog = append(prog, in.Jt, in.Jf)
		prog = binary.LittleEndian.AppendUint32(prog, in.K)
	}
	pkt := mustHex(f, synAckPacket)
	f.Add(prog, pkt, uint32(len(pkt)))
	f.Add([]byte{0x00, 0, 0, 0, 7, 0, 0, 0, 0x64, 0, 0, 0, 0, 0, 0, 0}, pkt[:10], uint32(1))
	ops := validOpcodes()
	f.Fuzz(func(t *testing.T, progBytes, data []byte, wirelen uint32) {
		prog := programFromBytes(progBytes, true, false, ops)
		flt, err := FromInstructions(prog)
		if err != nil {
			t.Fatalf("repaired program invalid: %v", err)
		}
		if hasBackwardJump(prog) {
			t.Fatalf("backward jump in %+v", prog)
		}
		got := run(flt.prog, data, wirelen)
		// libpcap 1.10 leaves its scratch memory uninitialised (newer
		// releases zero it, as run does): store A = 0 into every cell
		// first so that its result is defined. Jumps are relative, so
		// the prefix changes nothing else.
		ref := make([]Instruction, 0, bpfMemWords+len(prog))
		for k := range uint32(bpfMemWords) {
			ref = append(ref, stmt(bpfST, k))
		}
		want := uint32(offlineFilterC(append(ref, prog...), data, wirelen))
		if got != want {
			t.Fatalf("run = %#x, libpcap = %#x\nprogram %+v\ndata %x wirelen %d", got, want, prog, data, wirelen)
		}
	})
}
