package plugins

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

func mdnsPTR(t testing.TB, f *flows.Flow) []string {
	t.Helper()
	if got := f.UDPS.Names(); !slices.Equal(got, []string{"mdns_ptr"}) {
		t.Fatalf("columns %v", got)
	}
	v, _ := f.UDPS.Get("mdns_ptr")
	l, ok := v.([]string)
	if !ok || l == nil {
		t.Fatalf("mdns_ptr is %#v", v)
	}
	return l
}

// NFStream's test_mdns, and the other IPv4 senders of mdns.pcap. Row 0 is
// NFStream's assertion. The other lists are the PTR records of the answer
// sections (tshark -Y 'dns.resp.type==12' -T fields -e dns.ptr.domain_name,
// answers only, in order, deduplicated), except 65.50.125.227, whose
// packets all carry NSEC records that dpkt refuses, so NFStream keeps [].
// IPv6 flows stay [] since NFStream parses every packet as IPv4.
func TestMDNSConformance(t *testing.T) {
	got := dmMeterCapture(t, "mdns.pcap", dmOptions(&MDNS{}))
	dmSortBySrcIP(got)
	want := map[string][]string{
		"10.10.2.1": {"skynet.local", "skynet [00:1a:ef:17:c3:05]._workstation._tcp.local", "recombinator_mpd._mpd._tcp.local",
			"_mpd._tcp.local", "skynet._udisks-ssh._tcp.local", "_udisks-ssh._tcp.local", "_workstation._tcp.local"},
		"10.10.2.131": {"_workstation._tcp.local", "_http._tcp.local", "_xbmc-web._tcp.local", "_xbmc-jsonrpc._tcp.local",
			"_xbmc-events._udp.local", "_udisks-ssh._tcp.local"},
		"172.16.80.1": {"skynet.local", "skynet [1a:83:ed:e7:7a:d5]._workstation._tcp.local", "_workstation._tcp.local",
			"recombinator_mpd._mpd._tcp.local", "_mpd._tcp.local", "skynet._udisks-ssh._tcp.local", "_udisks-ssh._tcp.local"},
		"172.16.80.2":   {"_udisks-ssh._tcp.local", "_ipp._tcp.local", "_workstation._tcp.local"},
		"65.182.57.55":  {"Putty._airport._tcp.local"},
		"65.50.125.227": {},
	}
	if got := flows.FormatAddr(got[0].SrcAddr()); got != "10.10.2.1" {
		t.Fatalf("row 0 is from %s", got)
	}
	seen := map[string]bool{}
	for i, f := range got {
		src := flows.FormatAddr(f.SrcAddr())
		l := mdnsPTR(t, f)
		if w, ok := want[src]; ok {
			seen[src] = true
			if !slices.Equal(l, w) {
				t.Errorf("row %d (%s): %q, want %q", i, src, l, w)
			}
		}
		if f.SrcAddr().Is6() && len(l) != 0 {
			t.Errorf("row %d (%s): %q from IPv6", i, src, l)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("senders found: %v", seen)
	}
}

// With IPv6 on, the IPv6 announcement of the same host gives the same
// names (its packets hold the same records as the IPv4 ones).
func TestMDNSIPv6(t *testing.T) {
	got := dmMeterCapture(t, "mdns.pcap", dmOptions(&MDNS{IPv6: true}))
	var v4, v6 []string
	for _, f := range got {
		switch flows.FormatAddr(f.SrcAddr()) {
		case "10.10.2.1":
			v4 = mdnsPTR(t, f)
		case "fe80::21a:efff:fe17:c305":
			v6 = mdnsPTR(t, f)
		}
	}
	if len(v6) == 0 || !slices.Equal(v4, v6) {
		t.Errorf("IPv6 %q, IPv4 %q", v6, v4)
	}
}

func TestMDNSCSV(t *testing.T) {
	o := dmOptions(&MDNS{})
	lines := dmCSVLines(t, o, dmMeterCapture(t, "mdns.pcap", o))
	if !strings.HasSuffix(lines[0], ",udps.mdns_ptr") {
		t.Errorf("header %q", lines[0])
	}
	want := `"['_udisks-ssh._tcp.local', '_ipp._tcp.local', '_workstation._tcp.local']"`
	empty := 0
	found := false
	for _, l := range lines[1:] {
		found = found || (strings.Contains(l, `,"172.16.80.2",`) && strings.HasSuffix(l, ","+want))
		if strings.HasSuffix(l, `,"[]"`) {
			empty++
		}
	}
	if !found || empty == 0 {
		t.Errorf("no line from 172.16.80.2 ending with %s, or no empty list (%d)", want, empty)
	}
}

// dnsMessage assembles a DNS message from raw sections.
func dnsMessage(qd, an, ns, ar int, body ...[]byte) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[4:], uint16(qd))
	binary.BigEndian.PutUint16(b[6:], uint16(an))
	binary.BigEndian.PutUint16(b[8:], uint16(ns))
	binary.BigEndian.PutUint16(b[10:], uint16(ar))
	return slices.Concat(append([][]byte{b}, body...)...)
}

// dnsLabels encodes a name without compression.
func dnsLabels(name string) []byte {
	var b []byte
	for _, l := range strings.Split(name, ".") {
		b = append(append(b, byte(len(l))), l...)
	}
	return append(b, 0)
}

// dnsRR is a record header (class IN, TTL 120) followed by rdata.
func dnsRR(name []byte, typ uint16, rdata []byte) []byte {
	h := make([]byte, 10)
	binary.BigEndian.PutUint16(h, typ)
	binary.BigEndian.PutUint16(h[2:], 1)
	binary.BigEndian.PutUint32(h[4:], 120)
	binary.BigEndian.PutUint16(h[8:], uint16(len(rdata)))
	return slices.Concat(name, h, rdata)
}

func TestDNSPTRAnswers(t *testing.T) {
	q := append(dnsLabels("_http._tcp.local"), 0, 12, 0, 1) // at offset 12
	ptrTo := func(off int) []byte { return []byte{0xc0 | byte(off>>8), byte(off)} }
	tests := []struct {
		name string
		msg  []byte
		want []string
		ok   bool
	}{
		{"compressed answer", dnsMessage(1, 1, 0, 0, q, dnsRR(ptrTo(12), 12, append([]byte{3, 'w', ',', 'b'}, ptrTo(12)...))),
			[]string{"w,b._http._tcp.local"}, true},
		{"only answers count", dnsMessage(0, 1, 0, 1, dnsRR(dnsLabels("a.local"), 12, dnsLabels("x.local")),
			dnsRR(dnsLabels("b.local"), 12, dnsLabels("y.local"))), []string{"x.local"}, true},
		{"TXT, SRV, A and AAAA decode", dnsMessage(0, 4, 0, 0,
			dnsRR(dnsLabels("s.local"), 16, []byte{3, 'a', '=', 'b', 0}),
			dnsRR([]byte{0}, 33, append([]byte{0, 0, 0, 0, 0, 80}, dnsLabels("h.local")...)),
			dnsRR([]byte{0}, 1, []byte{1, 2, 3, 4}), dnsRR([]byte{0}, 28, make([]byte, 16))), nil, true},
		{"NSEC voids the packet", dnsMessage(0, 2, 0, 0, dnsRR([]byte{0}, 12, dnsLabels("x.local")),
			dnsRR([]byte{0}, 47, []byte{0, 0, 1, 0x40})), nil, false},
		{"TXT not UTF-8", dnsMessage(0, 2, 0, 0, dnsRR([]byte{0}, 12, dnsLabels("x.local")),
			dnsRR([]byte{0}, 16, []byte{1, 0xff})), nil, false},
		{"name not UTF-8", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0}, 12, []byte{1, 0xc3, 0})), nil, false},
		{"pointer to itself", dnsMessage(0, 1, 0, 0, dnsRR(ptrTo(12), 12, []byte{0})), nil, false},
		{"forward pointer", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0}, 12, ptrTo(40)), []byte{1, 'a', 0}), nil, false},
		{"label type 01", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0x40}, 12, nil)), nil, false},
		{"name over 255 bytes", dnsMessage(0, 1, 0, 0, dnsRR(slices.Concat(bytes.Repeat(append([]byte{63}, bytes.Repeat([]byte{'a'}, 63)...), 4), []byte{0}), 1, nil)), nil, false},
		{"rdata past the end is cut", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0}, 12, dnsLabels("x.local"))[:13]), nil, false},
		{"missing record", dnsMessage(0, 2, 0, 0, dnsRR([]byte{0}, 12, dnsLabels("x.local"))), nil, false},
		{"short header", []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, nil, false},
		{"SRV rdata too short", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0}, 33, []byte{0, 0, 0, 0, 0})), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := dnsPTRAnswers(tt.msg)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// A chain of backward pointers ends; commas become spaces, duplicates go.
func TestMDNSPlugin(t *testing.T) {
	q := []byte{1, 'z', 0, 0, 1, 0, 1} // name "z" at offset 12
	// A NULL record whose rdata (from offset 30) is a chain of 200
	// pointers, each to the previous one, the first to "z".
	var chain []byte
	for i := range 200 {
		to := 12
		if i > 0 {
			to = 30 + 2*(i-1)
		}
		chain = append(chain, 0xc0|byte(to>>8), byte(to))
	}
	last := 30 + len(chain) - 2
	msg := dnsMessage(1, 4, 0, 0, q, dnsRR([]byte{0}, 10, chain),
		dnsRR([]byte{0}, 12, []byte{0xc0 | byte(last>>8), byte(last)}),
		dnsRR([]byte{0}, 12, dnsLabels("a,b.local")),
		dnsRR([]byte{0}, 12, dnsLabels("z")))
	if names, ok := dnsPTRAnswers(msg[:12+3]); ok || names != nil {
		t.Fatal("counts past the end accepted")
	}
	frame := dmUDPFrame("10.0.0.1:5353", "224.0.0.251:5353", msg)
	got := dmMeterFrames(t, &MDNS{}, frame, frame, dmUDPFrame("10.0.0.2:5353", "10.0.0.1:53", msg))
	if len(got) != 2 {
		t.Fatalf("%d flows", len(got))
	}
	if l := mdnsPTR(t, got[0]); !slices.Equal(l, []string{"z", "a b.local"}) {
		t.Errorf("mdns_ptr %q", l)
	}
	if l := mdnsPTR(t, got[1]); len(l) != 0 {
		t.Errorf("flow to port 53: %q", l)
	}
}

// A 64 KB message of answers that each follow a chain of 16000 pointers
// runs out of the step budget instead of taking ~10^8 steps.
func TestDNSStepBudget(t *testing.T) {
	b := dnsMessage(1, 1, 0, 0, []byte{1, 'z', 0, 0, 1, 0, 1}, dnsRR([]byte{0}, 10, nil))
	start := len(b)
	for i := range 16000 {
		to := 12
		if i > 0 {
			to = start + 2*(i-1)
		}
		b = append(b, 0xc0|byte(to>>8), byte(to))
	}
	binary.BigEndian.PutUint16(b[start-2:], uint16(len(b)-start))
	last := start + 2*15999
	ptr := []byte{0xc0 | byte(last>>8), byte(last)}
	an := 1
	for len(b) < 65000 {
		b = append(b, dnsRR(ptr, 12, ptr)...)
		an++
	}
	binary.BigEndian.PutUint16(b[6:], uint16(an))
	if names, ok := dnsPTRAnswers(b); ok || names != nil {
		t.Errorf("%d names decoded", len(names))
	}
	// The same chain followed by a few answers decodes.
	binary.BigEndian.PutUint16(b[6:], 4)
	if names, ok := dnsPTRAnswers(b); !ok || !slices.Equal(names, []string{"z", "z", "z"}) {
		t.Errorf("%q %v", names, ok)
	}
}

// FuzzMDNSParse feeds arbitrary bytes as an IP packet and as a DNS
// message: no panic, and every name returned is valid UTF-8.
func FuzzMDNSParse(f *testing.F) {
	q := append(dnsLabels("_http._tcp.local"), 0, 12, 0, 1)
	f.Add(dnsMessage(1, 1, 0, 0, q, dnsRR([]byte{0xc0, 12}, 12, []byte{1, 'x', 0xc0, 12})), false)
	f.Add(dmUDPFrame("10.0.0.1:5353", "224.0.0.251:5353", dnsMessage(0, 1, 0, 0, dnsRR([]byte{0}, 16, []byte{1, 'a'})))[14:], true)
	f.Add(dmIPv6UDP(f, "fe80::1", "ff02::fb", 5353, 5353, dnsMessage(0, 0, 0, 0)), true)
	f.Fuzz(func(t *testing.T, data []byte, ipv6 bool) {
		payloads := [][]byte{data}
		if p, ok := dpktPayload(data, ipv6); ok {
			payloads = append(payloads, p)
		}
		for _, p := range payloads {
			names, ok := dnsPTRAnswers(p)
			if !ok && names != nil {
				t.Fatal("names returned on failure")
			}
			for _, n := range names {
				if !dmUTF8Valid(n) {
					t.Fatalf("invalid name %q", n)
				}
			}
		}
	})
}

func dmUTF8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }
