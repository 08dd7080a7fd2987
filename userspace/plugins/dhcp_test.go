package plugins

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/internal/testutil"

	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

func dmOptions(p flows.Plugin) flows.Options {
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.Plugins = []flows.Plugin{p}
	return o
}

// dmMeter returns the flows of src in emission order.
func dmMeter(tb testing.TB, src flows.Source, o flows.Options) []*flows.Flow {
	tb.Helper()
	return testutil.MeterSource(tb, src, o)
}

func dmMeterCapture(tb testing.TB, name string, o flows.Options) []*flows.Flow {
	tb.Helper()
	return testutil.MeterFile(tb, corpus.Pcap(tb, name), o)
}

// dmCSVLines writes flows through the CSV exporter (schema from the first
// flow) and returns the lines.
func dmCSVLines(tb testing.TB, o flows.Options, fl []*flows.Flow) []string {
	tb.Helper()
	var buf bytes.Buffer
	w := export.NewCSV(&buf, nil)
	s := flows.NewSchema(&o, fl[0])
	for _, f := range fl {
		if err := w.Write(f, s); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
}

// sortBySrcIP orders flows by their src_ip string, stably, like the
// pandas sort_values("src_ip") of NFStream's tests.
func dmSortBySrcIP(fl []*flows.Flow) {
	slices.SortStableFunc(fl, func(a, b *flows.Flow) int {
		return strings.Compare(flows.FormatAddr(a.SrcAddr()), flows.FormatAddr(b.SrcAddr()))
	})
}

func dmValue(f *flows.Flow, name string) any {
	v, ok := f.UDPS.Get(name)
	if !ok {
		return "<missing>"
	}
	return v
}

var dhcpColumns = []string{"dhcp_12", "dhcp_50", "dhcp_55", "dhcp_57", "dhcp_60", "dhcp_77",
	"dhcp_options", "dhcp_addr", "dhcp_msg_type", "dhcp_oui"}

type dhcpWant map[string]any

func checkDHCP(t *testing.T, f *flows.Flow, want dhcpWant) {
	t.Helper()
	if got := f.UDPS.Names(); !slices.Equal(got, dhcpColumns) {
		t.Fatalf("columns %v, want %v", got, dhcpColumns)
	}
	for _, c := range dhcpColumns {
		w, ok := want[c]
		if !ok {
			w = nil
			if c == "dhcp_options" {
				w = []int{}
			}
		}
		if got := dmValue(f, c); !reflect.DeepEqual(got, w) {
			t.Errorf("flow %s: %s = %#v, want %#v", f.SrcAddr(), c, got, w)
		}
	}
}

// NFStream's test_dhcp (n_dissections=0, DHCP()), on the capture and its
// pcapng copies: 3 flows. Sorted by src_ip, the DISCOVER and the REQUEST
// from 0.0.0.0 are one-packet flows forced out (-1); the server's OFFER and
// ACK to port 68 form a flow that is never parsed. Values beyond NFStream's
// assertions (no host name, no option 57/60/77, ciaddr 0.0.0.0, chaddr
// 00:0b:82:01:fc:42, hardware length 6) are what tshark shows:
// tshark -T fields -e dhcp.option.hostname -e dhcp.option.requested_ip_address
// -e dhcp.option.request_list_item -e dhcp.option.type -e dhcp.hw.mac_addr ...
func TestDHCPConformance(t *testing.T) {
	for _, name := range []string{"dhcp.pcap", "dhcp.pcapng", "dhcp_big_endian.pcapng", "dhcp_little_endian.pcapng"} {
		t.Run(name, func(t *testing.T) {
			got := dmMeterCapture(t, name, dmOptions(&DHCP{}))
			if len(got) != 3 {
				t.Fatalf("%d flows, want 3", len(got))
			}
			dmSortBySrcIP(got)
			checkDHCP(t, got[0], dhcpWant{"dhcp_msg_type": MsgDiscover})
			checkDHCP(t, got[1], dhcpWant{
				"dhcp_50": "192.168.0.10", "dhcp_55": "1,3,6,42", "dhcp_options": []int{53, 61, 50, 54, 55},
				"dhcp_msg_type": MsgRequest, "dhcp_oui": "00:0b:82",
			})
			checkDHCP(t, got[2], dhcpWant{})
			for i, want := range []struct {
				src     string
				packets uint64
				expID   int64
			}{{"0.0.0.0", 1, -1}, {"0.0.0.0", 1, -1}, {"192.168.0.1", 2, 0}} {
				f := got[i]
				if s := flows.FormatAddr(f.SrcAddr()); s != want.src || f.Bidirectional.Packets != want.packets || f.ExpirationID != want.expID {
					t.Errorf("row %d: %s, %d packets, expiration_id %d; want %s, %d, %d",
						i, s, f.Bidirectional.Packets, f.ExpirationID, want.src, want.packets, want.expID)
				}
			}
		})
	}
}

// The plugin columns go through the CSV exporter as NFStream's to_csv
// writes them: None empty, str() of lists and enums quoted.
func TestDHCPCSV(t *testing.T) {
	o := dmOptions(&DHCP{})
	got := dmMeterCapture(t, "dhcp.pcap", o)
	lines := dmCSVLines(t, o, got)
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	wantHeader := ",udps.dhcp_12,udps.dhcp_50,udps.dhcp_55,udps.dhcp_57,udps.dhcp_60,udps.dhcp_77," +
		"udps.dhcp_options,udps.dhcp_addr,udps.dhcp_msg_type,udps.dhcp_oui"
	if !strings.HasSuffix(lines[0], wantHeader) {
		t.Errorf("header %q does not end with %q", lines[0], wantHeader)
	}
	// Emission order: DISCOVER, REQUEST, then the server's flow at the end.
	for i, tail := range []string{
		`,"0.0.0.0",` + `|,,,,,,,"[]",,"MsgType.DISCOVER",`,
		`,"0.0.0.0",` + `|,,"192.168.0.10","1,3,6,42",,,,"[53, 61, 50, 54, 55]",,"MsgType.REQUEST","00:0b:82"`,
		`,"192.168.0.1",` + `|,,,,,,,"[]",,,`,
	} {
		src, end, _ := strings.Cut(tail, "|")
		if l := lines[i+1]; !strings.Contains(l, src) || !strings.HasSuffix(l, end) {
			t.Errorf("line %d = %q, want it to hold %q and end with %q", i+1, l, src, end)
		}
	}
}

// dhcpOpt encodes one option.
func dhcpOpt(code byte, data ...byte) []byte { return append([]byte{code, byte(len(data))}, data...) }

// dhcpPayload builds a BOOTP message with the given hardware address
// length, ciaddr and options (an end option is appended when end is set).
func dhcpPayload(hlen byte, ciaddr [4]byte, end bool, opts ...[]byte) []byte {
	b := make([]byte, dhcpHeaderLen)
	b[0], b[1], b[2] = 1, 1, hlen
	copy(b[12:16], ciaddr[:])
	copy(b[28:], []byte{0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42})
	binary.BigEndian.PutUint32(b[236:], 0x63825363)
	for _, o := range opts {
		b = append(b, o...)
	}
	if end {
		b = append(b, 255)
	}
	return b
}

// udpFrame is an Ethernet/IPv4/UDP frame carrying payload.
func dmUDPFrame(src, dst string, payload []byte) []byte {
	f := flowstest.UDP(netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), len(payload))
	copy(f[14+20+8:], payload)
	return f
}

func dmMeterFrames(t *testing.T, p flows.Plugin, frames ...[]byte) []*flows.Flow {
	t.Helper()
	var src flowstest.Source
	for i, fr := range frames {
		src.Push(int64(1000+i), fr)
	}
	return dmMeter(t, &src, dmOptions(p))
}

var (
	dhcpClient   = "192.168.0.10:68"
	dhcpServer   = "192.168.0.1:67"
	dhcpZeroSrc  = "0.0.0.0:68"
	dhcpBcast    = "255.255.255.255:67"
	dhcpMT       = func(m MsgType) []byte { return dhcpOpt(53, byte(m)) }
	dhcpNoAddr   = [4]byte{}
	dhcpClientIP = [4]byte{192, 168, 0, 10}
)

// Only flows whose first packet went to port 67 are parsed, in both
// directions; ACK, NACK, INFORM and DECLINE force the flow out.
func TestDHCPFlowDirection(t *testing.T) {
	renew := dhcpPayload(6, dhcpClientIP, true, dhcpMT(MsgRequest), dhcpOpt(61, 1, 0, 0x0b, 0x82, 1, 0xfc, 0x42),
		dhcpOpt(12, 'h', 'o', 's', 't', 0xff, 'x'), dhcpOpt(57, 0x05, 0xdc), dhcpOpt(60, []byte("MSFT 5.0")...),
		dhcpOpt(77, []byte("lab")...), dhcpOpt(55, 1, 3, 6, 15, 119, 252))
	ack := dhcpPayload(6, dhcpClientIP, true, dhcpMT(MsgAck), dhcpOpt(54, 192, 168, 0, 1))
	got := dmMeterFrames(t, &DHCP{},
		dmUDPFrame(dhcpClient, dhcpServer, renew),
		dmUDPFrame(dhcpServer, dhcpClient, ack),
		dmUDPFrame(dhcpServer, dhcpClient, ack), // new flow, to port 68: not parsed, not cut
		dmUDPFrame(dhcpClient, dhcpServer, renew))
	if len(got) != 2 {
		t.Fatalf("%d flows, want 2", len(got))
	}
	if got[0].Bidirectional.Packets != 2 || got[0].ExpirationID != -1 {
		t.Errorf("client flow: %d packets, expiration_id %d; want 2, -1", got[0].Bidirectional.Packets, got[0].ExpirationID)
	}
	checkDHCP(t, got[0], dhcpWant{
		"dhcp_12": "host\ufffdx", "dhcp_55": "1,3,6,15,119,252", "dhcp_57": 1500, "dhcp_60": "MSFT 5.0",
		"dhcp_77": "lab", "dhcp_options": []int{53, 61, 12, 57, 60, 77, 55}, "dhcp_addr": "192.168.0.10",
		"dhcp_msg_type": MsgRequest, "dhcp_oui": "00:0b:82",
	})
	if got[1].Bidirectional.Packets != 2 || got[1].ExpirationID != 0 {
		t.Errorf("server flow: %d packets, expiration_id %d; want 2, 0", got[1].Bidirectional.Packets, got[1].ExpirationID)
	}
	checkDHCP(t, got[1], dhcpWant{})
}

// The first message type seen is kept; a later REQUEST replaces the
// REQUEST-only values wholesale (options absent from it become None).
func TestDHCPLaterRequest(t *testing.T) {
	first := dhcpPayload(6, dhcpNoAddr, true, dhcpMT(MsgRequest), dhcpOpt(50, 10, 0, 0, 7), dhcpOpt(55, 1, 3))
	second := dhcpPayload(6, dhcpClientIP, true, dhcpOpt(53, 0, 3), dhcpOpt(57, 2, 64))
	release := dhcpPayload(6, dhcpClientIP, true, dhcpMT(MsgRelease))
	got := dmMeterFrames(t, &DHCP{},
		dmUDPFrame(dhcpClient, dhcpServer, first),
		dmUDPFrame(dhcpClient, dhcpServer, second),
		dmUDPFrame(dhcpClient, dhcpServer, release))
	if len(got) != 1 || got[0].ExpirationID != 0 {
		t.Fatalf("%d flows, want 1 not forced out", len(got))
	}
	checkDHCP(t, got[0], dhcpWant{
		"dhcp_57": 576, "dhcp_options": []int{53, 57}, "dhcp_addr": "192.168.0.10",
		"dhcp_msg_type": MsgRequest, "dhcp_oui": "00:0b:82",
	})
}

// Where NFStream's plugin raises, processing of the packet stops there.
func TestDHCPStopsWhereNFStreamRaises(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    dhcpWant
		expID   int64
	}{
		{"message type 9 after a host name", dhcpPayload(6, dhcpNoAddr, true, dhcpOpt(12, 'a'), dhcpOpt(53, 9), dhcpOpt(60, 'v')),
			dhcpWant{"dhcp_12": "a"}, 0},
		{"empty message type", dhcpPayload(6, dhcpNoAddr, true, dhcpOpt(53)), dhcpWant{}, 0},
		{"vendor class not UTF-8", dhcpPayload(6, dhcpNoAddr, true, dhcpOpt(57, 1, 0), dhcpOpt(60, 0xc3), dhcpMT(MsgDiscover)),
			dhcpWant{"dhcp_57": 256}, 0},
		{"requested address past 128 bits", dhcpPayload(6, dhcpNoAddr, true, dhcpMT(MsgRequest), dhcpOpt(50, bytes.Repeat([]byte{1}, 17)...)),
			dhcpWant{}, 0},
		{"REQUEST with a 16-byte hardware address", dhcpPayload(16, dhcpNoAddr, true, dhcpMT(MsgRequest), dhcpOpt(77, 'u')),
			dhcpWant{"dhcp_77": "u"}, 0},
		{"lone code byte at the end", dhcpPayload(6, dhcpNoAddr, false, dhcpMT(MsgAck), []byte{12}), dhcpWant{}, 0},
		{"short of the fixed part", dhcpPayload(6, dhcpNoAddr, true)[:239], dhcpWant{}, 0},
		{"no message type from 0.0.0.0", dhcpPayload(6, dhcpNoAddr, false, dhcpOpt(57), []byte{0, 0}),
			dhcpWant{"dhcp_57": 0, "dhcp_msg_type": 0}, -1},
		{"cut option, no end", dhcpPayload(6, dhcpNoAddr, false, dhcpMT(MsgInform), []byte{12, 9, 'a', 'b'}),
			dhcpWant{"dhcp_12": "ab", "dhcp_msg_type": MsgInform}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dmMeterFrames(t, &DHCP{}, dmUDPFrame(dhcpZeroSrc, dhcpBcast, tt.payload))
			if len(got) != 1 {
				t.Fatalf("%d flows", len(got))
			}
			checkDHCP(t, got[0], tt.want)
			if got[0].ExpirationID != tt.expID {
				t.Errorf("expiration_id %d, want %d", got[0].ExpirationID, tt.expID)
			}
		})
	}
}

func TestDHCPOptionValues(t *testing.T) {
	// str(ipaddress.ip_address(int.from_bytes(b, "big"))) under CPython 3.11.
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		{nil, "0.0.0.0"},
		{[]byte{10, 0, 0, 7}, "10.0.0.7"},
		{[]byte{1, 2}, "0.0.1.2"},
		{[]byte{0, 0, 0, 0, 0, 192, 168, 0, 1}, "192.168.0.1"},
		{[]byte{1, 0, 0, 0, 0}, "::1:0:0"},
		{[]byte{1, 2, 3, 4, 5}, "::1:203:405"},
		{[]byte{0xff, 0xff, 1, 2, 3, 4}, "::ffff:102:304"},
		{[]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}, "2001:db8::1:0:0:1"},
		{[]byte{0x20, 0x01, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "2001:0:0:1::"},
		{[]byte{0x20, 0x01, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, "2001:1:0:1:0:1:0:1"},
	} {
		if got, ok := dhcpIPString(tt.in); !ok || got != tt.want {
			t.Errorf("pyIPFromBytes(% x) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	// bytes.decode("utf-8", "replace") under CPython 3.11.
	for _, tt := range []struct{ in, want string }{
		{"plain", "plain"},
		{"\xe2\x82A\xed\xa0\x80x\xf0\x9f\x98", "\ufffdA\ufffd\ufffd\ufffdx\ufffd"},
		{"\xc0\xaf\xe0\x80\xbf", "\ufffd\ufffd\ufffd\ufffd\ufffd"},
		{"\xf4\x90\x80\x80\xf4\x8f\xbf\xbf", "\ufffd\ufffd\ufffd\ufffd\U0010ffff"},
		{"\xe0\xa0", "\ufffd"},
		{"é\x80ü", "é\ufffdü"},
	} {
		if got := decodeUTF8Replace([]byte(tt.in)); got != tt.want {
			t.Errorf("decodeUTF8Replace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	big1 := new(big.Int).Lsh(big.NewInt(1), 64)
	for _, tt := range []struct {
		in   []byte
		want any
	}{
		{nil, 0}, {[]byte{5, 0xdc}, 1500},
		{[]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<63 - 1},
		{[]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, big1},
	} {
		if got := dhcpInt(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("bigEndianInt(% x) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for m, want := range map[MsgType]string{MsgDiscover: "MsgType.DISCOVER", MsgNack: "MsgType.NACK",
		MsgInform: "MsgType.INFORM", 9: "MsgType(9)"} {
		if m.String() != want {
			t.Errorf("%d prints %q, want %q", int(m), m.String(), want)
		}
	}
}

// The payload is found as dpkt.ip.IP finds it.
func TestTransportPayload(t *testing.T) {
	ip := dmUDPFrame(dhcpClient, dhcpServer, []byte("payload+pad"))[14:]
	binary.BigEndian.PutUint16(ip[2:], 20+8+7) // Ethernet padding after the datagram
	if p, ok := dpktPayload(ip, false); !ok || string(p) != "payload" {
		t.Errorf("total length not applied: %q %v", p, ok)
	}
	binary.BigEndian.PutUint16(ip[2:], 0)
	if p, ok := dpktPayload(ip, false); !ok || string(p) != "payload+pad" {
		t.Errorf("total length 0: %q %v", p, ok)
	}
	frag := slices.Clone(ip)
	frag[7] = 1
	if _, ok := dpktPayload(frag, false); ok {
		t.Error("non-first fragment parsed")
	}
	opts := append(append([]byte{0x46}, ip[1:20]...), append([]byte{1, 1, 1, 0}, ip[20:]...)...)
	if p, ok := dpktPayload(opts, false); !ok || string(p) != "payload+pad" {
		t.Errorf("IPv4 options: %q %v", p, ok)
	}
	tcp := flowstest.TCP(netip.MustParseAddrPort(dhcpClient), netip.MustParseAddrPort(dhcpServer), 0x18, 3)[14:]
	copy(tcp[40:], "abc")
	if p, ok := dpktPayload(tcp, false); !ok || string(p) != "abc" {
		t.Errorf("TCP: %q %v", p, ok)
	}
	short := slices.Clone(ip[:20+7])
	binary.BigEndian.PutUint16(short[2:], 0)
	if _, ok := dpktPayload(short, false); ok {
		t.Error("cut UDP header parsed")
	}
	v6 := dmIPv6UDP(t, "fe80::1", "ff02::fb", 5353, 5353, []byte("dns"))
	if _, ok := dpktPayload(v6, false); ok {
		t.Error("IPv6 parsed as NFStream would not")
	}
	if p, ok := dpktPayload(v6, true); !ok || string(p) != "dns" {
		t.Errorf("IPv6: %q %v", p, ok)
	}
	// A hop-by-hop header before UDP.
	hbh := slices.Concat(v6[:40], []byte{17, 0, 5, 2, 0, 0, 1, 0}, v6[40:])
	hbh[6] = 0
	binary.BigEndian.PutUint16(hbh[4:], uint16(len(hbh)-40))
	if p, ok := dpktPayload(hbh, true); !ok || string(p) != "dns" {
		t.Errorf("IPv6 hop-by-hop: %q %v", p, ok)
	}
}

// ipv6UDP is an IPv6/UDP packet (no link layer).
func dmIPv6UDP(t testing.TB, src, dst string, sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 48+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	b[6], b[7] = 17, 255
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	binary.BigEndian.PutUint16(b[40:], sport)
	binary.BigEndian.PutUint16(b[42:], dport)
	binary.BigEndian.PutUint16(b[44:], uint16(8+len(payload)))
	copy(b[48:], payload)
	return b
}

// FuzzDHCPParse feeds arbitrary bytes as an IP packet and as a DHCP
// payload: no panic, and the columns keep their types.
func FuzzDHCPParse(f *testing.F) {
	f.Add(dhcpPayload(6, dhcpClientIP, true, dhcpMT(MsgRequest), dhcpOpt(50, 1, 2, 3, 4), dhcpOpt(55, 1, 3), dhcpOpt(12, 0xe2, 0x82)), false)
	f.Add(dmUDPFrame(dhcpZeroSrc, dhcpBcast, dhcpPayload(6, dhcpNoAddr, true, dhcpMT(MsgDiscover), dhcpOpt(57, 2, 64)))[14:], true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fromZero bool) {
		for _, payload := range [][]byte{data, nil} {
			if payload == nil {
				var ok bool
				if payload, ok = dpktPayload(data, fromZero); !ok {
					continue
				}
			}
			m, ok := parseDHCPMessage(payload)
			if !ok {
				continue
			}
			var fl flows.Flow
			(&DHCP{}).OnInit(&flows.Packet{}, &fl) // flow dst_port 0: only initialises
			dhcpApply(m, fromZero, &fl)
			dhcpApply(m, fromZero, &fl)
			if got := fl.UDPS.Names(); !slices.Equal(got, dhcpColumns) {
				t.Fatalf("columns %v", got)
			}
			if _, ok := dmValue(&fl, "dhcp_options").([]int); !ok {
				t.Fatalf("dhcp_options is %T", dmValue(&fl, "dhcp_options"))
			}
			for _, c := range []string{"dhcp_12", "dhcp_50", "dhcp_55", "dhcp_60", "dhcp_77", "dhcp_addr", "dhcp_oui"} {
				if v := dmValue(&fl, c); v != nil {
					if _, ok := v.(string); !ok {
						t.Fatalf("%s is %T", c, v)
					}
				}
			}
		}
	})
}
