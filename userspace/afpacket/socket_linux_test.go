//go:build linux

package afpacket

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
)

// Every frame of the demo capture injected into one end of a veth pair is
// received on the other end, unchanged and in order, VLAN tags included.
func TestReceiveDemoFrames(t *testing.T) {
	ns := mustNetNS(t)
	want := readFrames(t, demoPcap)
	s := mustOpen(t, ns, "vb", Options{PollTimeout: 20 * time.Millisecond})
	in := mustInjector(t, ns, "va")

	start := time.Now()
	mustWrite(t, in, want)
	got := drain(t, s, len(want), 2*time.Second)
	if len(got) != len(want) {
		t.Fatalf("received %d frames, sent %d", len(got), len(want))
	}
	for i, g := range got {
		if !bytes.Equal(g.Data, want[i]) {
			t.Fatalf("frame %d differs:\n got %x\nwant %x", i, g.Data, want[i])
		}
		if g.CapLen != uint32(len(want[i])) || g.WireLen != uint32(len(want[i])) || g.LinkType != 1 || g.File != "vb" {
			t.Fatalf("frame %d: caplen %d wirelen %d linktype %d file %q, want %d, %d, 1, vb",
				i, g.CapLen, g.WireLen, g.LinkType, g.File, len(want[i]), len(want[i]))
		}
		ts := time.Unix(g.Sec, g.Usec*1000)
		if g.Usec < 0 || g.Usec > 999999 || ts.Before(start.Add(-time.Second)) || ts.After(g.at.Add(time.Second)) {
			t.Fatalf("frame %d: timestamp %v not within the test (%v to %v)", i, ts, start, g.at)
		}
	}
	if extra := drain(t, s, 1, 100*time.Millisecond); len(extra) != 0 {
		t.Fatalf("%d unexpected frames after the capture", len(extra))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{Received: uint64(len(want)), Delivered: uint64(len(want))}) {
		t.Errorf("stats %+v, want %d received and delivered, nothing else", st, len(want))
	}
}

// A socket sees the frames its own host sends on the interface (both
// directions of a flow), like libpcap; on loopback, where each frame goes
// out and comes back in, it sees each once.
func TestOutgoingFrames(t *testing.T) {
	ns := mustNetNS(t)
	frames := readFrames(t, demoPcap)[:20]
	for _, tc := range []struct {
		name, ifname string
	}{
		{"veth", "va"},
		{"loopback", "lo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustCmd(t, "ip", "-n", ns, "link", "set", "lo", "up")
			s := mustOpen(t, ns, tc.ifname, Options{PollTimeout: 20 * time.Millisecond})
			if s.LinkType() != 1 {
				t.Errorf("link type %d, want 1 (ethernet)", s.LinkType())
			}
			in := mustInjector(t, ns, tc.ifname)
			mustWrite(t, in, frames)
			got := drain(t, s, -1, 300*time.Millisecond)
			if len(got) != len(frames) {
				t.Fatalf("received %d frames, sent %d", len(got), len(frames))
			}
			for i, g := range got {
				if !bytes.Equal(g.Data, frames[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

// Next returns ErrTimeout after PollTimeout when no frame comes, and Close
// unblocks a Next that waits without a deadline.
func TestIdleAndClose(t *testing.T) {
	ns := mustNetNS(t)
	t.Run("timeout", func(t *testing.T) {
		s := mustOpen(t, ns, "vb", Options{PollTimeout: 50 * time.Millisecond})
		var p pcapreplay.Packet
		for range 3 {
			start := time.Now()
			err := s.Next(&p)
			d := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("idle next: %v, want ErrTimeout", err)
			}
			if d < 40*time.Millisecond || d > time.Second {
				t.Fatalf("idle next returned after %v, want about 50ms", d)
			}
		}
		allocs := testing.AllocsPerRun(3, func() { s.Next(&p) })
		if allocs != 0 {
			t.Errorf("an idle next allocates %v times", allocs)
		}
	})
	t.Run("close", func(t *testing.T) {
		s := mustOpen(t, ns, "vb", Options{PollTimeout: -1})
		errc := make(chan error, 1)
		go func() {
			var p pcapreplay.Packet
			errc <- s.Next(&p)
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-errc:
			t.Fatalf("next returned %v before close", err)
		default:
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if err != io.EOF {
				t.Fatalf("next after close: %v, want io.EOF", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("close did not unblock next")
		}
		var p pcapreplay.Packet
		if err := s.Next(&p); err != io.EOF {
			t.Errorf("next on a closed socket: %v, want io.EOF", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		if _, err := s.Stats(); err != nil {
			t.Errorf("stats after close: %v", err)
		}
	})
}

// A snap length cuts frames (after the VLAN tag is put back, as libpcap
// does): CapLen < WireLen, and Stats counts them.
func TestSnaplen(t *testing.T) {
	ns := mustNetNS(t)
	const snap = 64
	want := readFrames(t, demoPcap)
	s := mustOpen(t, ns, "vb", Options{Snaplen: snap, PollTimeout: 20 * time.Millisecond})
	in := mustInjector(t, ns, "va")
	mustWrite(t, in, want)
	got := drain(t, s, len(want), 2*time.Second)
	if len(got) != len(want) {
		t.Fatalf("received %d frames, sent %d", len(got), len(want))
	}
	var cut uint64
	for i, g := range got {
		n := min(len(want[i]), snap)
		if n < len(want[i]) {
			cut++
		}
		if !bytes.Equal(g.Data, want[i][:n]) || g.CapLen != uint32(n) || g.WireLen != uint32(len(want[i])) {
			t.Fatalf("frame %d: caplen %d wirelen %d %x, want %d %d %x", i, g.CapLen, g.WireLen, g.Data, n, len(want[i]), want[i][:n])
		}
	}
	drain(t, s, 1, 50*time.Millisecond) // hands the last block back
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if cut == 0 || st.Truncated != cut || st.Delivered != uint64(len(want)) {
		t.Errorf("stats %+v, want %d truncated of %d delivered", st, cut, len(want))
	}
}

// With a tiny ring and no reader, the kernel drops frames; every frame is
// either received or counted as dropped, and the received ones are then
// delivered in order.
func TestRingOverflow(t *testing.T) {
	ns := mustNetNS(t)
	frames := readFrames(t, demoPcap)
	const n = 400
	s := mustOpen(t, ns, "vb", Options{Snaplen: 1536, SocketBufferSize: 8192, PollTimeout: 20 * time.Millisecond})
	if s.nblk != 2 || s.bsize != 4096 {
		t.Fatalf("ring of %d blocks of %d bytes, want 2 of 4096", s.nblk, s.bsize)
	}
	in := mustInjector(t, ns, "va")
	for i := range n {
		if err := in.Write(frames[i%len(frames)]); err != nil {
			t.Fatal(err)
		}
	}
	var st Stats
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if st, err = s.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.Received+st.Dropped >= n {
			break
		}
	}
	if st.Received+st.Dropped != n || st.Dropped == 0 || st.Freezes == 0 {
		t.Fatalf("stats %+v: want received + dropped = %d, with drops and freezes", st, n)
	}
	got := drain(t, s, -1, 200*time.Millisecond)
	if uint64(len(got)) != st.Received {
		t.Fatalf("delivered %d frames, the kernel received %d", len(got), st.Received)
	}
	// The first frames fill the ring; each later one is delivered in
	// sending order.
	j := 0
	for i, g := range got {
		for j < n && !bytes.Equal(frames[j%len(frames)], g.Data) {
			j++
		}
		if j == n {
			t.Fatalf("frame %d (%d bytes) is not a sent frame in order", i, len(g.Data))
		}
		j++
	}
	t.Logf("%d frames into a 2 x 4 KiB ring: %+v", n, st)
}

// Open errors name the interface and say what is wrong.
func TestOpenErrors(t *testing.T) {
	ns := mustNetNS(t)
	mustCmd(t, "ip", "-n", ns, "link", "add", "vdown", "type", "veth", "peer", "name", "vdown2")
	for _, tc := range []struct {
		name, ifname string
		opts         Options
		want         string
		is           error
	}{
		{"missing", "nfm-nope0", Options{}, "open af_packet socket on nfm-nope0: no such interface", ErrNoInterface},
		{"down", "vdown", Options{}, "open af_packet socket on vdown: interface is down", ErrInterfaceDown},
		{"name too long", "an-interface-name-too-long", Options{}, "open af_packet socket on an-interface-name-too-long: interface name", nil},
		{"snaplen", "vb", Options{Snaplen: -1}, "open af_packet socket on vb: snaplen -1 out of range", nil},
		{"buffer", "vb", Options{SocketBufferSize: -1}, "open af_packet socket on vb: socket buffer size -1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			inNetNS(t, ns, func() {
				var s *Socket
				if s, err = Open(tc.ifname, tc.opts); err == nil {
					s.Close()
				}
			})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// When the interface goes down, a waiting Next returns an error naming it.
func TestInterfaceGoesDown(t *testing.T) {
	ns := mustNetNS(t)
	s := mustOpen(t, ns, "vb", Options{PollTimeout: -1})
	errc := make(chan error, 1)
	go func() {
		var p pcapreplay.Packet
		errc <- s.Next(&p)
	}()
	time.Sleep(50 * time.Millisecond)
	mustCmd(t, "ip", "-n", ns, "link", "set", "vb", "down")
	select {
	case err := <-errc:
		if !errors.Is(err, ErrInterfaceDown) || !strings.Contains(err.Error(), "vb") {
			t.Fatalf("next: %v, want ErrInterfaceDown naming vb", err)
		}
		var p pcapreplay.Packet
		if err2 := s.Next(&p); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("next after the error: %v, want the same error", err2)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("next did not return when the interface went down")
	}
}

// Reading frames does not allocate.
func TestNextDoesNotAllocate(t *testing.T) {
	ns := mustNetNS(t)
	frames := readFrames(t, demoPcap)
	s := mustOpen(t, ns, "vb", Options{PollTimeout: time.Second})
	in := mustInjector(t, ns, "va")
	mustWrite(t, in, frames)
	var p pcapreplay.Packet
	if err := s.Next(&p); err != nil {
		t.Fatal(err)
	}
	var err error
	allocs := testing.AllocsPerRun(len(frames)-2, func() {
		if e := s.Next(&p); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("next allocates %v times per frame", allocs)
	}
}

// Promiscuous mode holds while the socket is open.
func TestPromiscuous(t *testing.T) {
	ns := mustNetNS(t)
	promisc := func() bool {
		out, err := exec.Command("ip", "-n", ns, "-d", "link", "show", "vb").CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show: %v: %s", err, out)
		}
		return strings.Contains(string(out), "promiscuity 1")
	}
	if promisc() {
		t.Fatal("vb promiscuous before the test")
	}
	s := mustOpen(t, ns, "vb", Options{Promiscuous: true})
	if !promisc() {
		t.Error("vb not promiscuous with the socket open")
	}
	s.Close()
	if promisc() {
		t.Error("vb still promiscuous after close")
	}
}
