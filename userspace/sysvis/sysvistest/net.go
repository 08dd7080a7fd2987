package sysvistest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Net is a network namespace joined to the caller's by a veth pair, with
// IPv4 and IPv6 on both ends: RootIf on the caller's side, "eth0" inside.
type Net struct {
	NS, RootIf   string
	Root, Peer   netip.Addr // IPv4 of the caller's end and of the namespace's end
	Root6, Peer6 netip.Addr
}

// NewNet makes a namespace and a veth pair for subnet n: 10.n.0.1/24 and
// fd00:n::1/64 on the caller's side, .2 and ::2 in the namespace (nodad:
// usable at once), both up. Everything is removed at cleanup. Tests of
// different packages must use different n, since the caller's side is
// routed in the caller's namespace.
func NewNet(tb testing.TB, n int) *Net {
	tb.Helper()
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, time.Now().UnixNano()%1000)
	nt := &Net{
		NS: "nfm-sv-" + id, RootIf: "nfsv" + id,
		Root: netip.MustParseAddr(fmt.Sprintf("10.%d.0.1", n)), Peer: netip.MustParseAddr(fmt.Sprintf("10.%d.0.2", n)),
		Root6: netip.MustParseAddr(fmt.Sprintf("fd00:%d::1", n)), Peer6: netip.MustParseAddr(fmt.Sprintf("fd00:%d::2", n)),
	}
	ip := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", nt.NS)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", nt.NS).Run() })
	ip("link", "add", nt.RootIf, "type", "veth", "peer", "name", "eth0", "netns", nt.NS)
	tb.Cleanup(func() { exec.Command("ip", "link", "del", nt.RootIf).Run() })
	os.WriteFile("/proc/sys/net/ipv6/conf/"+nt.RootIf+"/disable_ipv6", []byte("0"), 0o644)
	exec.Command("ip", "netns", "exec", nt.NS, "sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=0").Run()
	ip("addr", "add", nt.Root.String()+"/24", "dev", nt.RootIf)
	ip("-6", "addr", "add", nt.Root6.String()+"/64", "dev", nt.RootIf, "nodad")
	ip("link", "set", nt.RootIf, "up")
	ip("-n", nt.NS, "addr", "add", nt.Peer.String()+"/24", "dev", "eth0")
	ip("-n", nt.NS, "-6", "addr", "add", nt.Peer6.String()+"/64", "dev", "eth0", "nodad")
	ip("-n", nt.NS, "link", "set", "eth0", "up")
	ip("-n", nt.NS, "link", "set", "lo", "up")
	return nt
}
