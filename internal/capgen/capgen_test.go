package capgen

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// generate writes a capture into a temporary file and returns its path
// and summary.
func generate(t testing.TB, cfg Config) (string, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Generate(&buf, cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return writeTemp(t, buf.Bytes()), sum
}

func writeTemp(t testing.TB, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// flowKey is a direction-independent flow identity.
type flowKey struct {
	a, b      [16]byte
	pa, pb    uint16
	proto     uint8
	vlan      uint16
	ipVersion uint8
}

func keyOf(d *flows.Decoded) flowKey {
	k := flowKey{a: d.Src, b: d.Dst, pa: d.SrcPort, pb: d.DstPort, proto: d.Protocol, vlan: d.VLANID, ipVersion: d.IPVersion}
	if c := bytes.Compare(k.a[:], k.b[:]); c > 0 || (c == 0 && k.pa > k.pb) {
		k.a, k.b, k.pa, k.pb = k.b, k.a, k.pb, k.pa
	}
	return k
}

// census reads a capture back and decodes every frame.
type census struct {
	packets, v6, vlan int
	protos            map[uint8]int
	flags             map[uint8]int // TCP flag bytes seen
	keys              map[flowKey]int
	first, last       pcapreplay.Packet
}

func readBack(t *testing.T, path string) *census {
	t.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	c := &census{protos: map[uint8]int{}, flags: map[uint8]int{}, keys: map[flowKey]int{}}
	var p pcapreplay.Packet
	var d flows.Decoded
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d packets: %v", c.packets, err)
		}
		if p.LinkType != flows.DLTEthernet {
			t.Fatalf("link type %d", p.LinkType)
		}
		if !flows.Decode(&d, p.Data, p.LinkType, p.WireLen, true) {
			t.Fatalf("packet %d (%d bytes) does not decode: % x", c.packets, len(p.Data), p.Data)
		}
		if c.packets == 0 {
			c.first = p
			c.first.Data = nil
		}
		c.last = p
		c.last.Data = nil
		c.packets++
		c.protos[d.Protocol]++
		if d.Protocol == 6 {
			c.flags[d.Flags]++
		}
		if d.IPVersion == 6 {
			c.v6++
		}
		if d.VLANID != 0 {
			c.vlan++
		}
		c.keys[keyOf(&d)]++
	}
	return c
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Packets: 20000, Concurrent: 500, Seed: 7}
	var a, b, c bytes.Buffer
	if err := Write(&a, cfg); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same config, different bytes")
	}
	cfg.Seed = 8
	if err := Write(&c, cfg); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds, same bytes")
	}
}

func TestPacketCountAndDecode(t *testing.T) {
	for _, cfg := range []Config{
		{Packets: 0},
		{Packets: 1, Concurrent: 10},
		{Packets: 50, Concurrent: 1000},
		{Packets: 30000, Concurrent: 1000, Seed: 1},
		{Packets: 30000, Concurrent: 10, Seed: 2, MeanPackets: 3000},
		{Packets: 30000, Concurrent: 20000, Seed: 3, PPS: 1000},
	} {
		path, sum := generate(t, cfg)
		c := readBack(t, path)
		if c.packets != cfg.Packets || sum.Packets != int64(cfg.Packets) {
			t.Errorf("%+v: read %d packets, summary %d", cfg, c.packets, sum.Packets)
		}
		// Every flow has its own 5-tuple.
		if len(c.keys) != int(sum.Flows) {
			t.Errorf("%+v: %d distinct keys, %d flows", cfg, len(c.keys), sum.Flows)
		}
		// The first min(Packets, Concurrent) packets open as many flows.
		if want := min(cfg.Packets, max(cfg.Concurrent, DefaultConcurrent)); cfg.Concurrent > 0 && sum.Flows < int64(min(cfg.Packets, cfg.Concurrent)) {
			t.Errorf("%+v: %d flows, want at least %d", cfg, sum.Flows, want)
		}
		if cfg.Packets < 2 {
			continue
		}
		pps := cfg.PPS
		if pps == 0 {
			pps = DefaultPPS
		}
		start := defaultStart().UnixMicro()
		first := c.first.Sec*1e6 + c.first.Usec
		last := c.last.Sec*1e6 + c.last.Usec
		wantLast := start + int64(float64(cfg.Packets-1)*1e6/pps)
		if first != start || last != wantLast {
			t.Errorf("%+v: timestamps %d..%d, want %d..%d", cfg, first, last, start, wantLast)
		}
	}
}

func TestMix(t *testing.T) {
	path, sum := generate(t, Config{Packets: 200000, Concurrent: 2000, Seed: 5})
	c := readBack(t, path)
	frac := func(n int) float64 { return float64(n) / float64(c.packets) }
	t.Logf("flows %d, mean %.1f packets, %.0f bytes/packet; tcp %.2f udp %.2f icmp %.3f v6 %.2f vlan %.2f",
		sum.Flows, float64(c.packets)/float64(sum.Flows), float64(sum.Bytes)/float64(sum.Packets),
		frac(c.protos[6]), frac(c.protos[17]), frac(c.protos[1]+c.protos[58]), frac(c.v6), frac(c.vlan))
	for _, p := range []uint8{1, 6, 17, 58} {
		if c.protos[p] == 0 {
			t.Errorf("no packet of protocol %d", p)
		}
	}
	for _, f := range []uint8{0x02, 0x12, 0x10, 0x18, 0x11, 0x14} {
		if c.flags[f] == 0 {
			t.Errorf("no TCP segment with flags %#x", f)
		}
	}
	if v := frac(c.v6); v < 0.03 || v > 0.25 {
		t.Errorf("IPv6 share %.3f", v)
	}
	if v := frac(c.vlan); v < 0.01 || v > 0.15 {
		t.Errorf("VLAN share %.3f", v)
	}
	if size := float64(sum.Bytes) / float64(sum.Packets); size < 300 || size > 1300 {
		t.Errorf("mean frame size %.0f", size)
	}
}

func TestDemo(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteDemo(&a); err != nil {
		t.Fatal(err)
	}
	if err := WriteDemo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("demo is not deterministic")
	}
	c := readBack(t, writeTemp(t, a.Bytes()))
	t.Logf("demo: %d packets, %d bytes, %d flows", c.packets, a.Len(), len(c.keys))
	if c.packets < 200 || c.packets > 500 || a.Len() >= 100_000 {
		t.Errorf("demo has %d packets, %d bytes", c.packets, a.Len())
	}
	if c.v6 == 0 || c.vlan == 0 || c.protos[1] == 0 || c.protos[58] == 0 || c.flags[0x02] == 0 || c.flags[0x11] == 0 {
		t.Errorf("demo lacks variety: %+v", c)
	}
	if len(c.keys) != len(demoSpecs()) {
		t.Errorf("demo has %d flows, want %d", len(c.keys), len(demoSpecs()))
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Packets: -1},
		{Packets: 1, Concurrent: -1},
		{Packets: 1, PPS: -1},
		{Packets: 1, SnapLen: 10},
		{Packets: 1, StartTime: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if err := Write(io.Discard, cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestSnapLen(t *testing.T) {
	path, _ := generate(t, Config{Packets: 5000, Seed: 4, SnapLen: 128})
	r, err := pcapreplay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p pcapreplay.Packet
	for r.Next(&p) == nil {
		if p.CapLen > 128 || p.WireLen < p.CapLen {
			t.Fatalf("caplen %d wirelen %d", p.CapLen, p.WireLen)
		}
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteError(t *testing.T) {
	err := Write(&failWriter{n: 3 << 20}, Config{Packets: 100000})
	if err == nil || err.Error() != "write capture: disk full" {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteAllocs(t *testing.T) {
	count := func(packets int) float64 {
		cfg := Config{Packets: packets, Concurrent: 1000}
		return testing.AllocsPerRun(3, func() {
			if err := Write(io.Discard, cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A fixed handful (buffer, noise, names, slots): nothing per packet.
	small, large := count(10000), count(200000)
	if large > small+2 || large > 100 {
		t.Errorf("%.0f allocations for 10k packets, %.0f for 200k", small, large)
	}
}
