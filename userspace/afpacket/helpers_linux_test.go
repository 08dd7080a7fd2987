//go:build linux

package afpacket

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

var demoPcap = filepath.Join("..", "..", "testdata", "demo.pcap")

func mustNetNS(tb testing.TB) string { return testutil.NetNS(tb, 9000) }

func mustCmd(tb testing.TB, name string, args ...string) { testutil.MustCmd(tb, name, args...) }

func inNetNS(tb testing.TB, ns string, fn func()) { testutil.InNetNS(tb, ns, fn) }

// mustOpen opens a socket on ifname in ns, closed at cleanup.
func mustOpen(tb testing.TB, ns, ifname string, opts Options) *Socket {
	tb.Helper()
	var (
		s   *Socket
		err error
	)
	inNetNS(tb, ns, func() { s, err = Open(ifname, opts) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// mustOpenFanout opens n sockets in one fanout group, closed at cleanup.
func mustOpenFanout(tb testing.TB, ns, ifname string, n int, opts Options) *Group {
	tb.Helper()
	var (
		g   *Group
		err error
	)
	inNetNS(tb, ns, func() { g, err = OpenFanout(ifname, n, opts) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Close() })
	return g
}

// mustMeter opens a Meter on ifname in ns with a 50 ms poll timeout,
// closed at cleanup.
func mustMeter(tb testing.TB, ns, ifname string, o flows.Options) *Meter {
	tb.Helper()
	var (
		m   *Meter
		err error
	)
	inNetNS(tb, ns, func() {
		m, err = NewMeter(ifname, MeterOptions{Flow: o, Socket: Options{PollTimeout: 50 * time.Millisecond}})
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// mustInjector opens an injector on ifname in ns, closed at cleanup.
func mustInjector(tb testing.TB, ns, ifname string) *pcapreplay.Injector {
	tb.Helper()
	var (
		in  *pcapreplay.Injector
		err error
	)
	inNetNS(tb, ns, func() { in, err = pcapreplay.OpenInjector(ifname) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Close() })
	return in
}

func readFrames(tb testing.TB, path string) [][]byte { return testutil.ReadFrames(tb, path) }

func mustWrite(tb testing.TB, in *pcapreplay.Injector, frames [][]byte) {
	tb.Helper()
	for _, f := range frames {
		if err := in.Write(f); err != nil {
			tb.Fatal(err)
		}
	}
}

// received is a frame as Next delivered it, copied.
type received struct {
	pcapreplay.Packet
	at time.Time
}

// drain reads s until want frames arrived or no frame came for quiet,
// copying the frames; it fails the test on any error but ErrTimeout.
func drain(tb testing.TB, s *Socket, want int, quiet time.Duration) []received {
	tb.Helper()
	var out []received
	var p pcapreplay.Packet
	last := time.Now()
	for len(out) < want || want < 0 {
		err := s.Next(&p)
		if errors.Is(err, ErrTimeout) {
			if time.Since(last) >= quiet {
				break
			}
			continue
		}
		if err != nil {
			tb.Fatalf("next on %s: %v", s.Interface(), err)
		}
		last = time.Now()
		q := p
		q.Data = append([]byte(nil), p.Data...)
		out = append(out, received{Packet: q, at: last})
	}
	return out
}
