package capgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ipv4Checksum returns the one's complement sum of an IPv4 header: 0xffff
// when its checksum is right.
func ipv4Checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// v4Frame returns an Ethernet frame (VLAN-tagged if vlan) carrying an IPv4
// header from src to dst with a correct checksum, then payload.
func v4Frame(vlan bool, src, dst [4]byte, proto byte, payload []byte) []byte {
	f := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	if vlan {
		f = append(f, 0x81, 0x00, 0x00, 0x07)
	}
	f = append(f, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, byte(20 + len(payload)), 0x12, 0x34, 0x40, 0, 64, proto, 0, 0}
	ip = append(ip, src[:]...)
	ip = append(ip, dst[:]...)
	binary.BigEndian.PutUint16(ip[10:], ^ipv4Checksum(ip))
	return append(append(f, ip...), payload...)
}

func v6Header(src, dst byte, next byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
	h[6], h[7] = next, 64
	for i := range 16 {
		h[8+i], h[24+i] = src, dst
	}
	return append(h, payload...)
}

func TestRewriteFrame(t *testing.T) {
	udp := []byte{0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0}
	for _, vlan := range []bool{false, true} {
		f := v4Frame(vlan, [4]byte{10, 1, 0xff, 9}, [4]byte{192, 168, 0, 1}, 17, udp)
		orig := slices.Clone(f)
		RewriteFrame(f, 0)
		if !bytes.Equal(f, orig) {
			t.Fatal("k = 0 changed the frame")
		}
		RewriteFrame(f, 3)
		ip := f[len(f)-len(udp)-20:]
		if got, want := ip[12:20], []byte{10, 2, 2, 9, 192, 168, 3, 1}; !bytes.Equal(got, want) {
			t.Errorf("vlan %v: addresses % d, want % d", vlan, got, want)
		}
		if s := ipv4Checksum(ip[:20]); s != 0xffff {
			t.Errorf("vlan %v: checksum sum %#x after rewrite", vlan, s)
		}
		if !bytes.Equal(f[:len(f)-len(udp)-20], orig[:len(f)-len(udp)-20]) || !bytes.Equal(ip[20:], udp) {
			t.Errorf("vlan %v: bytes outside the addresses changed", vlan)
		}
	}
	// Carry out of the 16-bit field is dropped: the first octet stays.
	f := v4Frame(false, [4]byte{10, 0xff, 0xff, 1}, [4]byte{10, 0, 0, 1}, 6, nil)
	RewriteFrame(f, 2)
	if got, want := f[26:34], []byte{10, 0, 1, 1, 10, 0, 2, 1}; !bytes.Equal(got, want) {
		t.Errorf("carry: % d, want % d", got, want)
	}
	// IPv6, and IPv4 inside IPv6.
	inner := v4Frame(false, [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 17, udp)[14:]
	f = append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x86, 0xdd}, v6Header(0x20, 0x30, 4, inner)...)
	RewriteFrame(f, 0x0101)
	ip6 := f[14:]
	if got, want := ip6[8:12], []byte{0x20, 0x20, 0x21, 0x21}; !bytes.Equal(got, want) {
		t.Errorf("IPv6 source % x, want % x", got, want)
	}
	if got, want := ip6[24:28], []byte{0x30, 0x30, 0x31, 0x31}; !bytes.Equal(got, want) {
		t.Errorf("IPv6 destination % x, want % x", got, want)
	}
	if !bytes.Equal(ip6[12:24], bytes.Repeat([]byte{0x20}, 12)) {
		t.Error("IPv6 source bytes 4-15 changed")
	}
	if got, want := ip6[40+12:40+20], []byte{1, 3, 4, 4, 5, 7, 8, 8}; !bytes.Equal(got, want) {
		t.Errorf("inner IPv4 % d, want % d", got, want)
	}
	if s := ipv4Checksum(ip6[40 : 40+20]); s != 0xffff {
		t.Errorf("inner checksum sum %#x", s)
	}
	// Non-IP and truncated frames are left alone.
	for _, f := range [][]byte{
		append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06}, make([]byte, 28)...),
		v4Frame(false, [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 6, nil)[:14+18],
		{0, 1, 2},
	} {
		orig := slices.Clone(f)
		RewriteFrame(f, 9)
		if !bytes.Equal(f, orig) {
			t.Errorf("frame % x changed", orig)
		}
	}
}

func TestPlace(t *testing.T) {
	h := int64(MaxGap / time.Microsecond)
	pkts := []mixPacket{{us: 1000}, {us: 2000}, {us: 1500}, {us: 2000 + 5*h}, {us: 500}, {us: 3000 + 5*h}}
	end := place(pkts, 10)
	var got []int64
	for _, p := range pkts {
		got = append(got, p.us)
	}
	want := []int64{10, 1010, 510, 1010 + h, 10, 2010 + h}
	if !slices.Equal(got, want) || end != 2010+h {
		t.Errorf("place: %v end %d, want %v end %d", got, end, want, 2010+h)
	}
}

// writePcap writes a classic pcap file of link type lt holding frames, one
// per millisecond from start.
func writePcap(t *testing.T, path string, lt uint32, start int64, frames [][]byte) {
	t.Helper()
	le := binary.LittleEndian
	b := make([]byte, 24)
	le.PutUint32(b[0:], pcapMagicMicro)
	le.PutUint16(b[4:], 2)
	le.PutUint16(b[6:], 4)
	le.PutUint32(b[16:], 65535)
	le.PutUint32(b[20:], lt)
	for i, f := range frames {
		us := start + int64(i)*1000
		var h [16]byte
		le.PutUint32(h[0:], uint32(us/1e6))
		le.PutUint32(h[4:], uint32(us%1e6))
		le.PutUint32(h[8:], uint32(len(f)))
		le.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h[:]...), f...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceMix(t *testing.T) {
	dir := t.TempDir()
	var gen bytes.Buffer
	if _, err := Generate(&gen, Config{Packets: 3000, Concurrent: 100, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.pcap"), gen.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	udp := []byte{0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0}
	frames := [][]byte{
		v4Frame(false, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 17, udp),
		v4Frame(true, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 1}, 17, udp),
	}
	writePcap(t, filepath.Join(dir, "b.pcap"), 1, 946684800e6, frames) // older than a.pcap
	writePcap(t, filepath.Join(dir, "c.pcap"), 101, 0, [][]byte{frames[0][14:]})
	if err := os.WriteFile(filepath.Join(dir, "d.txt"), []byte("not a capture"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConformanceCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Files, []string{"a.pcap", "b.pcap"}) || len(c.Skipped) != 2 || c.Packets() != 3002 {
		t.Fatalf("files %v, skipped %v, %d packets", c.Files, c.Skipped, c.Packets())
	}
	var out bytes.Buffer
	sum, err := c.WriteConformanceMix(&out, 7000)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Copies != 3 || sum.Packets != 3*3002 {
		t.Fatalf("summary %+v", sum)
	}
	path := writeTemp(t, out.Bytes())
	r, err := pcapreplay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var (
		p       pcapreplay.Packet
		d       flows.Decoded
		prev    int64
		n       int
		first   int64
		perCopy = make([]map[flowKey]bool, 3)
	)
	for i := range perCopy {
		perCopy[i] = map[flowKey]bool{}
	}
	all := map[flowKey]bool{}
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		us := p.Sec*1e6 + p.Usec
		if n == 0 {
			first = us
		}
		if us < prev {
			t.Fatalf("packet %d: time goes back from %d to %d", n, prev, us)
		}
		if n%3002 == 0 && n > 0 && us-prev < 1e6 {
			t.Errorf("copy %d starts %d µs after the previous one", n/3002, us-prev)
		}
		prev = us
		if !flows.Decode(&d, p.Data, p.LinkType, p.WireLen, true) {
			t.Fatalf("packet %d does not decode", n)
		}
		k := keyOf(&d)
		perCopy[n/3002][k] = true
		all[k] = true
		n++
	}
	if n != 3*3002 {
		t.Fatalf("read %d packets", n)
	}
	if first != c.Start {
		t.Errorf("first timestamp %d, want %d", first, c.Start)
	}
	if got := time.Duration(prev-first) * time.Microsecond; got != sum.Span {
		t.Errorf("span %v, summary says %v", got, sum.Span)
	}
	if len(all) != 3*len(perCopy[0]) || len(perCopy[1]) != len(perCopy[0]) {
		t.Errorf("%d flows in all, %d per copy: copies share flows", len(all), len(perCopy[0]))
	}
}

// TestConformanceCorpus loads the real corpus when it is present.
func TestConformanceCorpus(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "nfstream", "pcaps")
	c, err := LoadConformanceCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files, %d skipped, %d truncated, %d packets, %.1f MB, span %v", len(c.Files), len(c.Skipped), len(c.Truncated), c.Packets(), float64(c.Bytes)/1e6, c.Span)
	sum, err := c.WriteConformanceMix(io.Discard, 2*c.Packets())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Copies != 2 || sum.Packets != int64(2*c.Packets()) {
		t.Errorf("summary %+v", sum)
	}
}
