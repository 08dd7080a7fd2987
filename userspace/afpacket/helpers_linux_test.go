//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/pcapreplay"
)

var demoPcap = filepath.Join("..", "..", "testdata", "demo.pcap")

// requireNetAdmin skips a test that needs root and network namespaces,
// unless NFMETER_TEST_REQUIRE_BPF=1 (the privileged CI lane), where it
// fails instead.
func requireNetAdmin(tb testing.TB) {
	tb.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root for network namespaces and af_packet sockets"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = fmt.Sprintf("needs ip (iproute2): %v", err)
	}
	if why == "" {
		return
	}
	if os.Getenv("NFMETER_TEST_REQUIRE_BPF") == "1" {
		tb.Fatalf("%s (NFMETER_TEST_REQUIRE_BPF=1 forbids skipping)", why)
	}
	tb.Skip(why)
}

func mustCmd(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

var nsSeq atomic.Uint32

// mustNetNS creates a network namespace holding a veth pair va <-> vb, both
// up, with IPv6 off (no neighbour discovery frames) and no addresses, so
// the only frames on the pair are the test's. It is removed at cleanup.
func mustNetNS(tb testing.TB) string {
	tb.Helper()
	requireNetAdmin(tb)
	ns := fmt.Sprintf("nfm-afp-%d-%d", os.Getpid(), nsSeq.Add(1))
	mustCmd(tb, "ip", "netns", "add", ns)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	mustCmd(tb, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	mustCmd(tb, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
	mustCmd(tb, "ip", "-n", ns, "link", "add", "va", "mtu", "9000", "type", "veth", "peer", "name", "vb", "mtu", "9000")
	mustCmd(tb, "ip", "-n", ns, "link", "set", "va", "up")
	mustCmd(tb, "ip", "-n", ns, "link", "set", "vb", "up")
	return ns
}

// inNetNS runs fn on an OS thread switched into the network namespace ns.
// Sockets created by fn stay in ns and may be used from any goroutine.
func inNetNS(tb testing.TB, ns string, fn func()) {
	tb.Helper()
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, oerr := os.Open("/proc/thread-self/ns/net")
		if oerr != nil {
			err = oerr
			return
		}
		defer orig.Close()
		target, oerr := os.Open(filepath.Join("/run/netns", ns))
		if oerr != nil {
			err = oerr
			return
		}
		defer target.Close()
		if err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			return
		}
		fn()
		if err = unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			return // the thread stays locked and exits with the goroutine
		}
		runtime.UnlockOSThread()
	}()
	<-done
	if err != nil {
		tb.Fatalf("enter network namespace %s: %v", ns, err)
	}
}

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

// readFrames returns every frame of a capture.
func readFrames(tb testing.TB, path string) [][]byte {
	tb.Helper()
	r, err := pcapreplay.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out [][]byte
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, append([]byte(nil), p.Data...))
	}
}

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
