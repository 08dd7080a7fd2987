//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// flowOf returns a direction-free key of a frame's flow, as nfmeter decodes
// it, or "" for a frame that is not metered.
func flowOf(frame []byte) string {
	var d flows.Decoded
	if !flows.Decode(&d, frame, 1, uint32(len(frame)), true) {
		return ""
	}
	n := 4
	if d.IPVersion == 6 {
		n = 16
	}
	a, _ := netip.AddrFromSlice(d.Src[:n])
	b, _ := netip.AddrFromSlice(d.Dst[:n])
	x, y := netip.AddrPortFrom(a, d.SrcPort), netip.AddrPortFrom(b, d.DstPort)
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return fmt.Sprintf("%v %v proto %d vlan %d tunnel %d", x, y, d.Protocol, d.VLANID, d.TunnelID)
}

// With n sockets in a fanout group, every frame reaches exactly one socket,
// in sending order, and both directions of a flow reach the same socket.
func TestFanout(t *testing.T) {
	ns := mustNetNS(t)
	frames := readFrames(t, demoPcap)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("sockets=%d", n), func(t *testing.T) {
			g := mustOpenFanout(t, ns, "vb", n, Options{PollTimeout: 20 * time.Millisecond})
			for i, s := range g.Sockets() {
				if id, ok := s.FanoutGroup(); !ok || id != g.ID() {
					t.Fatalf("socket %d in group %d (%v), want %d", i, id, ok, g.ID())
				}
			}
			in := mustInjector(t, ns, "va")
			mustWrite(t, in, frames)

			owner := map[string]int{} // flow -> socket
			left := map[string]int{}  // frame bytes -> copies not yet received
			for _, f := range frames {
				left[string(f)]++
			}
			total, used := 0, 0
			for i, s := range g.Sockets() {
				got := drain(t, s, -1, 300*time.Millisecond)
				if len(got) > 0 {
					used++
				}
				total += len(got)
				j := 0
				for k, r := range got {
					if left[string(r.Data)] == 0 {
						t.Fatalf("socket %d: frame %d was not sent or was received twice", i, k)
					}
					left[string(r.Data)]--
					for j < len(frames) && !bytes.Equal(frames[j], r.Data) {
						j++
					}
					if j == len(frames) {
						t.Fatalf("socket %d: frame %d out of sending order", i, k)
					}
					j++
					key := flowOf(r.Data)
					if o, ok := owner[key]; ok && o != i {
						t.Fatalf("flow %s on sockets %d and %d", key, o, i)
					}
					owner[key] = i
				}
				nf := 0
				for _, o := range owner {
					if o == i {
						nf++
					}
				}
				t.Logf("socket %d: %d frames of %d flows", i, len(got), nf)
			}
			if total != len(frames) {
				t.Fatalf("received %d frames, sent %d", total, len(frames))
			}
			if used < 2 {
				t.Errorf("all %d flows hashed to one socket", len(owner))
			}
			st, err := g.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.Received != uint64(len(frames)) || st.Dropped != 0 || st.Delivered != uint64(len(frames)) {
				t.Errorf("group stats %+v, want %d received and delivered", st, len(frames))
			}
		})
	}
}

// Two fanout groups opened at once get distinct ids.
func TestFanoutGroupsAreDistinct(t *testing.T) {
	ns := mustNetNS(t)
	a := mustOpenFanout(t, ns, "vb", 2, Options{})
	b := mustOpenFanout(t, ns, "vb", 2, Options{})
	if a.ID() == b.ID() {
		t.Fatalf("both groups have id %d", a.ID())
	}
}

// ipv4Fragments returns an Ethernet/IPv4/UDP datagram with payload bytes
// split into two fragments, and the frame of the whole datagram.
func ipv4Fragments(payload int) (frags [][]byte, whole []byte) {
	udp := make([]byte, 8+payload)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	for i := 8; i < len(udp); i++ {
		udp[i] = byte(i)
	}
	frame := func(fragOff int, more bool, data []byte) []byte {
		f := make([]byte, 14+20+len(data))
		copy(f, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00})
		ip := f[14:34]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(data)))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		fo := uint16(fragOff / 8)
		if more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[8], ip[9] = 64, 17
		copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
		var sum uint32
		for i := 0; i < 20; i += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		copy(f[34:], data)
		return f
	}
	half := len(udp) / 2 &^ 7
	frags = [][]byte{frame(0, true, udp[:half]), frame(half, false, udp[half:])}
	return frags, frame(0, false, udp)
}

// In a fanout group the kernel reassembles IPv4 fragments before hashing
// them (PACKET_FANOUT_FLAG_DEFRAG, as NFStream asks), and the socket then
// receives the datagram whole; FanoutKeepFragments and sockets outside a
// group get the fragments.
func TestFanoutDefrag(t *testing.T) {
	ns := mustNetNS(t)
	frags, whole := ipv4Fragments(2000)
	for _, tc := range []struct {
		name   string
		open   func() *Socket
		frames int
	}{
		{"fanout", func() *Socket {
			return mustOpenFanout(t, ns, "vb", 1, Options{PollTimeout: 20 * time.Millisecond}).Sockets()[0]
		}, 1},
		{"fanout keeping fragments", func() *Socket {
			return mustOpenFanout(t, ns, "vb", 1, Options{PollTimeout: 20 * time.Millisecond, FanoutKeepFragments: true}).Sockets()[0]
		}, 2},
		{"no fanout", func() *Socket {
			return mustOpen(t, ns, "vb", Options{PollTimeout: 20 * time.Millisecond})
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open()
			in := mustInjector(t, ns, "va")
			mustWrite(t, in, frags)
			got := drain(t, s, -1, 200*time.Millisecond)
			if len(got) != tc.frames {
				t.Fatalf("received %d frames, want %d", len(got), tc.frames)
			}
			if tc.frames == 2 {
				for i := range got {
					if !bytes.Equal(got[i].Data, frags[i]) {
						t.Errorf("fragment %d differs", i)
					}
				}
				return
			}
			// The kernel clears the fragment fields, sets the total length
			// and checksum: compare the rest.
			g := got[0].Data
			if len(g) != len(whole) || !bytes.Equal(g[:16], whole[:16]) || !bytes.Equal(g[22:24], whole[22:24]) ||
				!bytes.Equal(g[26:], whole[26:]) || binary.BigEndian.Uint16(g[20:])&0x3fff != 0 {
				t.Errorf("reassembled frame\n got %x\nwant %x", g, whole)
			}
		})
	}
}

// A socket of a fanout group takes no frame before the whole group has
// joined and started, so that no flow is split by the group's growth.
func TestFanoutStartsTogether(t *testing.T) {
	ns := mustNetNS(t)
	frames := readFrames(t, demoPcap)[:30]
	var (
		s   *Socket
		err error
	)
	inNetNS(t, ns, func() { s, err = open("vb", Options{Fanout: true, PollTimeout: 20 * time.Millisecond}, fanoutUnique) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	in := mustInjector(t, ns, "va")
	mustWrite(t, in, frames)
	if got := drain(t, s, -1, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d frames before start", len(got))
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, in, frames)
	if got := drain(t, s, -1, 200*time.Millisecond); len(got) != len(frames) {
		t.Fatalf("%d frames after start, want %d", len(got), len(frames))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != uint64(len(frames)) || st.Dropped != 0 {
		t.Errorf("stats %+v: the frames before start must not count", st)
	}
}
