package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var nsSeq atomic.Uint32

// MustCmd runs a command and fails tb with its output if it fails.
func MustCmd(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// NetNS creates a network namespace holding a veth pair va <-> vb at the
// given MTU, both up, with IPv6 off (no neighbour discovery frames) and no
// addresses, so that the only frames on the pair are the test's. It is
// removed at cleanup. It needs root (RequirePrivilege is applied).
func NetNS(tb testing.TB, mtu int) string {
	tb.Helper()
	RequirePrivilege(tb, "ip")
	seq := nsSeq.Add(1)
	ns := fmt.Sprintf("nfm-t-%d-%d", os.Getpid(), seq)
	// Interface indexes unique to this process and call, so that a test
	// that looks at BPF links by ifindex never sees another test's veth.
	idx := 100000 + (os.Getpid()%100000)*64 + int(seq%32)*2
	MustCmd(tb, "ip", "netns", "add", ns)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	MustCmd(tb, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	MustCmd(tb, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
	m := fmt.Sprint(mtu)
	MustCmd(tb, "ip", "-n", ns, "link", "add", "va", "index", fmt.Sprint(idx), "mtu", m, "type", "veth",
		"peer", "name", "vb", "index", fmt.Sprint(idx+1), "mtu", m)
	MustCmd(tb, "ip", "-n", ns, "link", "set", "va", "up")
	MustCmd(tb, "ip", "-n", ns, "link", "set", "vb", "up")
	// The carrier comes up asynchronously; frames sent before are dropped.
	for i := 0; ; i++ {
		out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/va/operstate", "/sys/class/net/vb/operstate").Output()
		if err == nil && strings.Count(string(out), "up") == 2 {
			return ns
		}
		if i == 200 {
			tb.Fatalf("veth pair in %s not up after 2 s: %s", ns, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// InNetNS runs fn on an OS thread switched into the network namespace ns.
// Sockets, BPF links and netlink handles fn creates stay in ns and may be
// used from any goroutine.
func InNetNS(tb testing.TB, ns string, fn func()) {
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
