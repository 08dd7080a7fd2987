package flows_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// This file checks [flows.Decode] against an independent decoder,
// gopacket's layers: on every frame gopacket decodes cleanly (no
// DecodeFailure, not truncated), the addresses, ports, protocol, VLAN id and
// IP version must be what NFStream's rules (docs: nfstream-spec §1) make of
// the layers gopacket found. Where those rules differ from a plain protocol
// decoder on purpose, the frame is either expected to be ignored (the rule is
// exact) or left out of the comparison (the rule depends on bytes gopacket
// does not expose); each case is named in skip reasons below and listed in
// docs/CONFORMANCE.md. Tunnels are compared with decode_tunnels off:
// NFStream's UDP tunnels (GTP-U, TZSP, CAPWAP) are its own rules, tested by
// the conformance suite.

// oracleLinks are the link types the oracle compares, in the order the
// fuzz argument picks them. PPP, Cisco HDLC, PPP serial and radiotap are
// not compared: NFStream's handling of them (spec §1.3) is not what
// gopacket's decoders of those link types do.
var oracleLinks = []int{flows.DLTEthernet, flows.DLTLinuxSLL, flows.DLTRaw, flows.DLTIPv4, flows.DLTIPv6, flows.DLTNull}

func oracleDecoder(dlt int) gopacket.Decoder {
	switch dlt {
	case flows.DLTEthernet:
		return layers.LayerTypeEthernet
	case flows.DLTLinuxSLL:
		return layers.LayerTypeLinuxSLL
	case flows.DLTRaw:
		return layers.LinkTypeRaw
	case flows.DLTIPv4:
		return layers.LayerTypeIPv4
	case flows.DLTIPv6:
		return layers.LayerTypeIPv6
	default:
		return layers.LayerTypeLoopback
	}
}

// expectation is what Decode must report for a frame, per gopacket.
type expectation struct {
	ignored      bool // NFStream ignores the frame
	why          string
	ipv          uint8
	src, dst     netip.Addr
	proto        uint8
	vlan         uint16
	ports        bool // compare the ports (else only the rest)
	sport, dport uint16
}

// expect derives the expectation from gopacket's decoding of a frame of
// link type dlt. It returns skip != "" when the frame is not compared, and
// the reason.
func expect(data []byte, dlt int) (e expectation, skip string) {
	pkt := gopacket.NewPacket(data, oracleDecoder(dlt), gopacket.DecodeOptions{NoCopy: true})
	if pkt.ErrorLayer() != nil || pkt.Metadata().Truncated {
		return e, "gopacket: not decoded cleanly"
	}
	ls := pkt.Layers()

	// The link and Ethertype layers before the first IP header. typ is
	// NFStream's "type" when it reaches that header: whether it is IPv4
	// decides whether the IPv4 header's fragment field is looked at
	// (spec §1.5 step 2).
	i := 0
	typeIPv4 := dlt == flows.DLTIPv4
	var typ layers.EthernetType // the type that introduced layer i
	for ; i < len(ls); i++ {
		switch l := ls[i].(type) {
		case *layers.Ethernet:
			typ = l.EthernetType
		case *layers.Dot1Q:
			if typ != layers.EthernetTypeDot1Q {
				// 802.1ad S-tags (0x88a8) are not VLAN tags to NFStream (§1.4).
				return e, "802.1ad S-tag"
			}
			e.vlan = l.VLANIdentifier // the innermost tag wins (§1.4)
			typ = l.Type
		case *layers.LinuxSLL:
			typ = l.EthernetType
		case *layers.Loopback:
			// NFStream reads the family big-endian and only 2 is IPv4;
			// the version nibble then decides (§1.3).
			typeIPv4 = binary.BigEndian.Uint32(data) == 2
			continue
		case *layers.MPLS:
			// After MPLS or PPPoE NFStream assumes IPv4 (§1.4).
			typeIPv4 = true
			continue
		case *layers.PPPoE:
			if typ != layers.EthernetTypePPPoESession || len(l.Contents) != 6 {
				// 0x8863 discovery frames are not decapsulated.
				return e, "PPPoE discovery"
			}
			typeIPv4 = true
			continue
		case *layers.PPP:
			if len(l.Contents) != 2 {
				// NFStream skips a fixed 8 bytes of PPPoE + PPP (§1.4): no
				// address/control field, no protocol-field compression.
				return e, "PPP header other than 2 bytes"
			}
			continue // the type stays IPv4 from PPPoE
		case *layers.LLC, *layers.SNAP:
			// 802.3 length frames: NFStream reads the SNAP type byte-swapped
			// and otherwise goes by the version nibble (§1.3).
			return e, "802.3 LLC/SNAP"
		case *layers.IPv4, *layers.IPv6:
			goto ip
		default:
			return e, fmt.Sprintf("link layer %v", l.LayerType())
		}
		typeIPv4 = typ == layers.EthernetTypeIPv4
	}
	// No IP layer: NFStream may still find one by the version nibble.
	return e, "gopacket: no IP layer"

ip:
	if dlt == flows.DLTRaw {
		typeIPv4 = data[0]>>4 == 4
	}
	// The innermost IP header through IP-in-IP (4in4, 6in4, 4in6, 6in6),
	// which NFStream always decapsulates (§1.5), then the IPv6 extension
	// headers it walks.
	var (
		ip4  *layers.IPv4
		ip6  *layers.IPv6
		frag bool // a fragment: gopacket does not decode the transport
	)
	for {
		ip4, ip6 = nil, nil
		switch l := ls[i].(type) {
		case *layers.IPv4:
			if l.Version != 4 {
				// NFStream trusts the version nibble, not the link type.
				return e, "IPv4 layer with version nibble " + fmt.Sprint(l.Version)
			}
			ip4, e.ipv, e.proto = l, 4, uint8(l.Protocol)
			e.src, e.dst = netip.AddrFrom4([4]byte(l.SrcIP.To4())), netip.AddrFrom4([4]byte(l.DstIP.To4()))
			frag = l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0
		case *layers.IPv6:
			if l.Version != 6 {
				return e, "IPv6 layer with version nibble " + fmt.Sprint(l.Version)
			}
			ip6, e.ipv, e.proto = l, 6, uint8(l.NextHeader)
			e.src, e.dst = netip.AddrFrom16([16]byte(l.SrcIP.To16())), netip.AddrFrom16([16]byte(l.DstIP.To16()))
			frag = false
		}
		i++
		for ; i < len(ls); i++ {
			switch x := ls[i].(type) {
			case *layers.IPv6HopByHop:
				e.proto = uint8(x.NextHeader)
				continue
			case *layers.IPv6Routing:
				e.proto = uint8(x.NextHeader)
				continue
			case *layers.IPv6Destination:
				e.proto = uint8(x.NextHeader)
				continue
			case *layers.IPv6Fragment:
				e.proto = uint8(x.NextHeader)
				frag = true
				if x.FragmentOffset != 0 {
					// NFStream ignores non-first IPv6 fragments (§1.5).
					e.ignored, e.why = true, "non-first IPv6 fragment"
				} else if isIPv6Ext(x.NextHeader) {
					// After a first fragment's header NFStream walks on
					// through more extension headers; gopacket takes the
					// rest for fragment data.
					return e, "extension header after an IPv6 first fragment"
				}
				continue
			}
			break
		}
		if i < len(ls) && (ls[i].LayerType() == layers.LayerTypeIPv4 || ls[i].LayerType() == layers.LayerTypeIPv6) {
			// NFStream's type stays the link's through IP-in-IP: an IPv4
			// header inside IPv6 has its fragment field ignored (§1.5).
			if e.ignored {
				return e, "IP-in-IP after a fragment"
			}
			continue
		}
		break
	}
	if e.proto == 4 || e.proto == 41 {
		// The innermost header gopacket found still announces IP-in-IP:
		// gopacket left its payload undecoded (a fragment, or an empty
		// payload within the total length), while NFStream decapsulates
		// whatever the fragment and length fields say, from the captured
		// bytes.
		return e, "IP-in-IP that gopacket does not decapsulate"
	}
	if len(data) < 28 {
		// NFStream ignores any frame shorter than 28 bytes (§1.3).
		e.ignored, e.why = true, "frame under 28 bytes"
		return e, ""
	}
	if ip4 != nil {
		if ip4.FragOffset != 0 {
			if !typeIPv4 {
				// The fragment field is only looked at when the type is
				// IPv4 (§1.5 step 2, §13).
				return e, "IPv4 fragment behind a non-IPv4 type"
			}
			e.ignored, e.why = true, "non-first IPv4 fragment"
			return e, ""
		}
		if binary.BigEndian.Uint16(ip4.Contents[2:]) == 0 {
			// gopacket takes a total length of 0 for TSO and uses the
			// captured length; NFStream's length arithmetic wraps and the
			// packet is ignored (§1.7).
			e.ignored, e.why = true, "IPv4 total length 0"
			return e, ""
		}
	}
	if ip6 != nil && e.proto == 59 {
		// "No next header": nDPI's walk rejects it while more than one
		// captured byte is left, a count gopacket does not give.
		return e, "IPv6 no next header"
	}
	if ip6 != nil && ip6.Length == 0 {
		// Jumbograms: NFStream's extension-header walk needs a payload
		// length (§1.5).
		return e, "IPv6 jumbogram"
	}
	if e.ignored {
		return e, ""
	}
	if frag {
		// NFStream reads first fragments as whole packets; gopacket does not
		// decode a fragment's transport header.
		return e, ""
	}
	e.ports = true
	if i < len(ls) {
		switch t := ls[i].(type) {
		case *layers.TCP:
			if e.proto == 6 {
				e.sport, e.dport = uint16(t.SrcPort), uint16(t.DstPort)
			}
		case *layers.UDP:
			if e.proto == 17 {
				e.sport, e.dport = uint16(t.SrcPort), uint16(t.DstPort)
			}
		}
	}
	return e, ""
}

// compareWithGopacket decodes data with both decoders and reports a
// difference as an error naming the frame and both views.
func compareWithGopacket(data []byte, dlt int) error {
	e, skip := expect(data, dlt)
	if skip != "" {
		return nil
	}
	var d flows.Decoded
	ok := flows.Decode(&d, data, dlt, uint32(len(data)), false)
	var diffs []string
	if e.ignored {
		if ok {
			diffs = append(diffs, "accepted, want ignored ("+e.why+")")
		}
	} else if !ok {
		diffs = append(diffs, "ignored, want accepted")
	} else {
		src, dst := decodedAddr(d.Src, d.IPVersion), decodedAddr(d.Dst, d.IPVersion)
		if d.IPVersion != e.ipv {
			diffs = append(diffs, fmt.Sprintf("ip version %d, want %d", d.IPVersion, e.ipv))
		}
		if src != e.src || dst != e.dst {
			diffs = append(diffs, fmt.Sprintf("addresses %v > %v, want %v > %v", src, dst, e.src, e.dst))
		}
		if d.Protocol != e.proto {
			diffs = append(diffs, fmt.Sprintf("protocol %d, want %d", d.Protocol, e.proto))
		}
		if d.VLANID != e.vlan {
			diffs = append(diffs, fmt.Sprintf("vlan %d, want %d", d.VLANID, e.vlan))
		}
		if e.ports && (d.SrcPort != e.sport || d.DstPort != e.dport) {
			diffs = append(diffs, fmt.Sprintf("ports %d > %d, want %d > %d", d.SrcPort, d.DstPort, e.sport, e.dport))
		}
		if d.TunnelID != flows.TunnelNone {
			diffs = append(diffs, fmt.Sprintf("tunnel %d with decode_tunnels off", d.TunnelID))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	pkt := gopacket.NewPacket(data, oracleDecoder(dlt), gopacket.DecodeOptions{NoCopy: true})
	var names []string
	for _, l := range pkt.Layers() {
		names = append(names, l.LayerType().String())
	}
	return fmt.Errorf("link type %d, frame %s\ngopacket: %s\nDecode: ok=%v %+v\n%s",
		dlt, hex.EncodeToString(data), strings.Join(names, "/"), ok, d, strings.Join(diffs, "\n"))
}

// isIPv6Ext reports whether NFStream's (nDPI's) extension-header walk
// handles header p: hop-by-hop, routing, fragment, destination options,
// mobility and "no next header".
func isIPv6Ext(p layers.IPProtocol) bool {
	switch p {
	case 0, 43, 44, 60, 135, 59:
		return true
	}
	return false
}

func decodedAddr(a [16]byte, v uint8) netip.Addr {
	if v == 4 {
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrFrom16(a)
}

// oracleFrames returns the frames (copied) of a capture whose link type the
// oracle compares, with the index of the link type in oracleLinks.
func oracleFrames(tb testing.TB, path string) (frames [][]byte, links []uint8) {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return frames, links
		}
		if err != nil {
			if flows.Recoverable(err) {
				continue
			}
			return frames, links
		}
		for i, l := range oracleLinks {
			if l == p.LinkType || (p.LinkType == 101 && l == flows.DLTRaw) {
				frames = append(frames, append([]byte(nil), p.Data...))
				links = append(links, uint8(i))
			}
		}
	}
}

// oracleCaptures returns demo.pcap and the conformance captures, if the
// corpus is there.
func oracleCaptures() []string {
	paths := []string{filepath.Join("..", "..", "testdata", "demo.pcap")}
	if dir, err := corpus.Find(); err == nil {
		paths = append(paths, corpus.Synthetic(dir)...)
		paths = append(paths, corpus.Captures(dir)...)
	}
	return paths
}

// variants returns odd versions of a frame: truncations, an 802.1Q tag
// and a QinQ pair pushed in, and for IPv4 the fragment fields set.
func variants(frame []byte, dlt int) [][]byte {
	var out [][]byte
	for _, n := range []int{len(frame) - 1, len(frame) / 2, 34, 28, 27} {
		if n > 0 && n < len(frame) {
			out = append(out, frame[:n:n])
		}
	}
	if dlt == flows.DLTEthernet && len(frame) >= 14 {
		tag := func(tpid uint16, vid uint16, f []byte) []byte {
			g := append([]byte(nil), f[:12]...)
			g = binary.BigEndian.AppendUint16(g, tpid)
			g = binary.BigEndian.AppendUint16(g, vid)
			return append(g, f[12:]...)
		}
		out = append(out, tag(0x8100, 42, frame), tag(0x8100, 7, tag(0x8100, 3000, frame)), tag(0x88a8, 5, tag(0x8100, 6, frame)))
		if len(frame) >= 34 && binary.BigEndian.Uint16(frame[12:]) == 0x0800 {
			for _, ff := range []uint16{0x2000, 0x0001, 0x2010} {
				g := append([]byte(nil), frame...)
				binary.BigEndian.PutUint16(g[20:], ff)
				out = append(out, g)
			}
		}
	}
	return out
}

// FuzzDecodeGopacket compares Decode with gopacket (see the top of the
// file) on arbitrary frames of the compared link types.
func FuzzDecodeGopacket(f *testing.F) {
	seen := map[string]bool{}
	add := func(frame []byte, link uint8) {
		k := string(frame) + string(rune(link))
		if !seen[k] {
			seen[k] = true
			f.Add(frame, link)
		}
	}
	for _, path := range oracleCaptures() {
		frames, links := oracleFrames(f, path)
		for i, fr := range frames {
			add(fr, links[i])
			if i < 4 {
				for _, v := range variants(fr, oracleLinks[links[i]]) {
					add(v, links[i])
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, link uint8) {
		if err := compareWithGopacket(data, oracleLinks[int(link)%len(oracleLinks)]); err != nil {
			t.Fatal(err)
		}
	})
}

// The comparison has something to compare: most frames of the demo
// capture are decoded cleanly by gopacket and not left out.
func TestGopacketOracleCompares(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "demo.pcap")
	if _, err := os.Stat(path); err != nil {
		t.Skip(err)
	}
	frames, links := oracleFrames(t, path)
	compared := 0
	for i, fr := range frames {
		if _, skip := expect(fr, oracleLinks[links[i]]); skip == "" {
			compared++
		}
	}
	if len(frames) == 0 || compared*10 < len(frames)*9 {
		t.Errorf("%d of %d demo frames compared, want at least 90%%", compared, len(frames))
	}
}
