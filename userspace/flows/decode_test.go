package flows_test

import (
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// frames returns up to n frames (copied) and their link types from a capture.
func frames(tb testing.TB, path string, n int) ([][]byte, []int) {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	var dlts []int
	var p flows.Frame
	for len(out) < n {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if flows.Recoverable(err) {
				continue
			}
			break
		}
		out = append(out, append([]byte(nil), p.Data...))
		dlts = append(dlts, p.LinkType)
	}
	return out, dlts
}

func TestDecodeTCP(t *testing.T) {
	src := netip.MustParseAddrPort("10.0.0.1:1234")
	dst := netip.MustParseAddrPort("10.0.0.2:80")
	f := flowstest.TCP(src, dst, 0x12, 100)
	var d flows.Decoded
	if !flows.Decode(&d, f, flows.DLTEthernet, uint32(len(f)), true) {
		t.Fatal("frame ignored")
	}
	if d.SrcPort != 1234 || d.DstPort != 80 || d.Protocol != 6 || d.IPVersion != 4 || d.Flags != 0x12 {
		t.Errorf("decoded %+v", d)
	}
	if d.RawSize != uint32(len(f)) || d.IPSize != 140 || d.TransportSize != 120 || d.PayloadSize != 100 {
		t.Errorf("sizes raw %d ip %d transport %d payload %d", d.RawSize, d.IPSize, d.TransportSize, d.PayloadSize)
	}
}

func TestDecodeRejects(t *testing.T) {
	src := netip.MustParseAddrPort("10.0.0.1:1234")
	dst := netip.MustParseAddrPort("10.0.0.2:80")
	good := flowstest.UDP(src, dst, 20)
	tests := []struct {
		name  string
		frame func() []byte
		dlt   int
	}{
		{"too short", func() []byte { return good[:27] }, flows.DLTEthernet},
		{"unknown link type", func() []byte { return good }, 276},
		{"arp", func() []byte {
			f := append([]byte(nil), good...)
			f[12], f[13] = 0x08, 0x06
			f[14] = 0x00
			return f
		}, flows.DLTEthernet},
		{"non-first fragment", func() []byte {
			f := append([]byte(nil), good...)
			f[14+6], f[14+7] = 0x00, 0x10
			return f
		}, flows.DLTEthernet},
		{"spanning tree", func() []byte {
			f := append([]byte(nil), good...)
			f[12], f[13], f[14] = 0x00, 0x26, 0x42
			return f
		}, flows.DLTEthernet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d flows.Decoded
			f := tt.frame()
			if flows.Decode(&d, f, tt.dlt, uint32(len(f)), true) {
				t.Errorf("frame was accepted: %+v", d)
			}
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	f := flowstest.TCP(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 2, 10)
	var d flows.Decoded
	if n := testing.AllocsPerRun(100, func() { flows.Decode(&d, f, flows.DLTEthernet, uint32(len(f)), true) }); n != 0 {
		t.Errorf("Decode allocates %v times per frame", n)
	}
}

// checkDecoded asserts the invariants of an accepted frame.
func checkDecoded(t *testing.T, d *flows.Decoded, data []byte) {
	if d.IPVersion != 4 && d.IPVersion != 6 {
		t.Fatalf("accepted frame with ip version %d", d.IPVersion)
	}
	if d.L3Off < 0 || int(d.L3Off) > len(data) {
		t.Fatalf("L3Off %d outside frame of %d bytes", d.L3Off, len(data))
	}
	if d.TunnelID > flows.TunnelTZSP {
		t.Fatalf("tunnel id %d", d.TunnelID)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{}, uint8(1), true)
	f.Add(flowstest.TCP(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 2, 10), uint8(1), true)
	if dir, err := corpus.Find(); err == nil {
		pcaps := corpus.Synthetic(dir)
		more := corpus.Captures(dir)
		if len(more) > 40 {
			more = more[:40]
		}
		for _, p := range append(pcaps, more...) {
			fr, dlts := frames(f, p, 8)
			for i := range fr {
				f.Add(fr[i], uint8(dlts[i]), true)
			}
		}
	}
	dltOf := []int{0, 1, 9, 12, 50, 104, 113, 127, 228, 229}
	f.Fuzz(func(t *testing.T, data []byte, dlt uint8, tunnels bool) {
		var d flows.Decoded
		link := int(dlt)
		if int(dlt)%16 < len(dltOf) && dlt >= 16 {
			link = dltOf[int(dlt)%16]
		}
		if flows.Decode(&d, data, link, uint32(len(data)), tunnels) {
			checkDecoded(t, &d, data)
		}
	})
}

// Every frame of the synthetic corpus decodes without panicking, and
// accepted frames satisfy the invariants, for both tunnel settings.
func TestDecodeCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	pcaps := corpus.Synthetic(dir)
	all := corpus.Captures(dir)
	accepted := 0
	for _, p := range append(pcaps, all...) {
		fr, dlts := frames(t, p, 1<<20)
		for i := range fr {
			for _, tun := range []bool{true, false} {
				var d flows.Decoded
				if flows.Decode(&d, fr[i], dlts[i], uint32(len(fr[i])), tun) {
					checkDecoded(t, &d, fr[i])
					accepted++
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no frame accepted")
	}
}

func BenchmarkDecode(b *testing.B) {
	f := flowstest.TCP(netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.2:2"), 0x18, 500)
	var d flows.Decoded
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		flows.Decode(&d, f, flows.DLTEthernet, uint32(len(f)), true)
	}
}
