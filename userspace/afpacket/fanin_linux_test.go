//go:build linux

package afpacket

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// udp4 builds an Ethernet frame of an IPv4 UDP datagram from src:sport to
// dst:dport with n bytes of payload; with frag set it is the first fragment
// of a larger datagram (MF set, offset 0), which the kernel's fanout hash
// keys without the ports and nfmeter keys with them.
func udp4(src, dst [4]byte, sport, dport uint16, n int, frag bool) []byte {
	b := make([]byte, 14+20+8+n)
	copy(b[0:6], []byte{2, 0, 0, 0, 0, dst[3]})
	copy(b[6:12], []byte{2, 0, 0, 0, 0, src[3]})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	if frag {
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		binary.BigEndian.PutUint16(ip[6:], 0x2000) // MF, offset 0
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	}
	ip[8], ip[9] = 64, 17
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	l := 8 + n
	if frag {
		l += 1000 // the rest of the datagram is in fragments that never come
	}
	binary.BigEndian.PutUint16(udp[4:], uint16(l))
	return b
}

// splitTraffic is nflows request/response exchanges whose responses are
// first fragments: the kernel hashes the two directions of most of them
// to different sockets of a fanout group.
func splitTraffic(nflows int) [][]byte {
	var frames [][]byte
	server := [4]byte{10, 1, 0, 1}
	for round := range 3 {
		for i := range nflows {
			client := [4]byte{10, 0, byte(i >> 8), byte(i)}
			port := uint16(20000 + i)
			frames = append(frames,
				udp4(client, server, port, 53, 40+round, false),
				udp4(server, client, 53, port, 600+round, true))
		}
	}
	return frames
}

// A meter with a fanout group of 2, 3 or 4 sockets finds every flow once,
// with both directions, even where the kernel hands the two directions to
// different sockets (issue 11, item 2): one engine meters the frames of
// every socket, merged in the order they came.
func TestMeterFanoutKeepsFlowsWhole(t *testing.T) {
	ns := mustNetNS(t)
	frames := splitTraffic(200)
	opts := flows.DefaultOptions()
	opts.NDissections = 0
	opts.StatisticalAnalysis = true
	opts.NMeters = 1
	want := summaries(testutil.MeterSource(t, &frameList{frames: frames}, opts))
	if len(want) != 200 {
		t.Fatalf("%d flows offline, want 200", len(want))
	}
	for _, n := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("%d sockets", n), func(t *testing.T) {
			// GIVEN a meter of n sockets on vb
			mo := opts
			mo.NMeters = n
			m := mustMeter(t, ns, "vb", mo)
			in := mustInjector(t, ns, "va")
			// WHEN the exchanges are sent into va at top speed, and the
			// meter is then stopped
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				mustWriteAfter(t, in, frames, 100*time.Millisecond)
				time.Sleep(200 * time.Millisecond)
				cancel()
			}()
			var got []*flows.Flow
			for f, err := range m.Flows(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, f)
			}
			// THEN every flow is whole, as offline, and every socket
			// took a share of the frames
			c, err := m.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if g := summaries(got); !slices.Equal(g, want) {
				t.Errorf("%d live flows differ from the %d offline:\n got\n%s\nwant\n%s", len(g), len(want),
					strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
			var sum uint64
			for i, p := range c.PerMeter {
				sum += p
				if p == 0 {
					t.Errorf("socket %d of %d delivered nothing: %+v", i, n, c)
				}
			}
			if len(c.PerMeter) != n || sum != c.Processed || c.Processed != uint64(len(frames)) {
				t.Errorf("counters %+v, want %d frames over %d sockets", c, len(frames), n)
			}
			t.Logf("%d sockets: %d flows, frames per socket %v, %d late", n, len(got), c.PerMeter, c.Late)
		})
	}
}

// mustWriteAfter waits d (the meter is reading by then) and sends frames.
func mustWriteAfter(t *testing.T, in interface{ Write([]byte) error }, frames [][]byte, d time.Duration) {
	time.Sleep(d)
	for _, f := range frames {
		if err := in.Write(f); err != nil {
			t.Error(err)
			return
		}
	}
}

// frameList is a flows.Source of frames one microsecond apart.
type frameList struct {
	frames [][]byte
	i      int
}

func (l *frameList) Next(f *flows.Frame) error {
	if l.i == len(l.frames) {
		return io.EOF
	}
	d := l.frames[l.i]
	*f = flows.Frame{Sec: 1, Usec: int64(l.i), CapLen: uint32(len(d)), WireLen: uint32(len(d)), LinkType: flows.DLTEthernet, Data: d}
	l.i++
	return nil
}
