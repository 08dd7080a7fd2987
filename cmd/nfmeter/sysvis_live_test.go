//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/sysvis"
	"github.com/nfmeter/nfmeter/userspace/sysvis/sysvistest"
)

// sysvisHelperArgs start this test binary as a sysvistest client or server.
var sysvisHelperArgs = []string{"-test.run=^TestSysvisHelper$"}

// TestSysvisHelper is the entry of the processes that the system
// visibility tests start from this binary.
func TestSysvisHelper(t *testing.T) {
	sysvistest.RunRole()
	t.Skip("entry of the helper processes of TestLiveSystemVisibility")
}

// serveEcho runs TCP and UDP echo servers of this process on port of each
// address (the test veth's own, never the host's other interfaces) until
// cleanup.
func serveEcho(tb testing.TB, port int, addrs ...netip.Addr) {
	tb.Helper()
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(port)).String()
		l, err := net.Listen("tcp", ap)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					io.Copy(c, c)
				}()
			}
		}()
		u, err := net.ListenPacket("udp", ap)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { u.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := u.ReadFrom(buf)
				if err != nil {
					return
				}
				u.WriteTo(buf[:n], from)
			}
		}()
	}
}

// Issue 5, acceptance 1: known client processes of the root namespace
// (TCP and UDP, IPv4 and IPv6, connected and unconnected UDP, and one that
// exits right after its exchange) talk to servers in a test namespace over
// a veth pair; nfmeter meters the root end with --system-visibility-mode 1,
// and every flow of theirs carries the client's pid and command name. So do
// the flows of clients in the namespace to servers of this process (whose
// first packets the capture sees before the server's socket exists). For
// each backend this kernel runs.
func TestLiveSystemVisibility(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	n := sysvistest.NewNet(t, 201)
	const port = 7201
	sysvistest.StartServer(t, n.NS, port, sysvisHelperArgs...)
	type run struct{ backend, mode string }
	var runs []run
	for _, b := range sysvis.Backends {
		runs = append(runs, run{b, "auto"})
	}
	runs = append(runs, run{sysvis.BackendTracepoint, "afpacket"}) // packet times from the socket, not the kernel path
	for _, r := range runs {
		t.Run(r.backend+"/"+r.mode, func(t *testing.T) {
			if r.backend == sysvis.BackendKprobe || r.backend == sysvis.BackendFentry {
				// Where the probe passes the backend must work (the
				// sysvis package tests the probes themselves).
				if err := sysvis.Probe(r.backend); err != nil {
					t.Skipf("backend %s: %v", r.backend, err)
				}
			}
			checkLiveSysvis(t, n, r.backend, r.mode, port)
		})
	}
}

func checkLiveSysvis(t *testing.T, n *sysvistest.Net, backend, mode string, port uint16) {
	dir := t.TempDir()
	out, ready := filepath.Join(dir, "flows.csv"), filepath.Join(dir, "ready")
	args := []string{"--interface", n.RootIf, "--mode", mode, "-o", out, "--ready-file", ready,
		"--system-visibility-mode", "1", "--system-visibility-backend", backend,
		"--n-dissections", "0", "--idle-timeout", "1000", "--progress", "never"}
	linger, short := time.Duration(0), time.Duration(0)
	if backend == sysvis.BackendPoll {
		// A poller only sees sockets that live through a poll (NFStream's
		// limit): poll every 5 ms, clients stay 50 ms, the short one 25.
		args = append(args, "--system-visibility-poll-ms", "5")
		linger, short = 50*time.Millisecond, 25*time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, &stderr) }()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("nfmeter exited with %d before attaching: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("nfmeter not ready after 20 s: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Servers of this process, opened after nfmeter started.
	serveEcho(t, int(port)+1, n.Root, n.Root6)
	srv4, srv6 := netip.AddrPortFrom(n.Peer, port), netip.AddrPortFrom(n.Peer6, port)
	in4, in6 := netip.AddrPortFrom(n.Root, port+1), netip.AddrPortFrom(n.Root6, port+1)
	clients := []*sysvistest.Client{
		{Name: "nfm-cli-tcp4", Network: sysvistest.TCP4, Server: srv4, Linger: linger},
		{Name: "nfm-cli-tcp6", Network: sysvistest.TCP6, Server: srv6, Linger: linger},
		{Name: "nfm-cli-udp4", Network: sysvistest.UDP4, Server: srv4, Linger: linger},
		{Name: "nfm-cli-udp6", Network: sysvistest.UDP6, Server: srv6, Linger: linger},
		{Name: "nfm-cli-udp4-to", Network: sysvistest.UDP4SendTo, Server: srv4, Linger: linger},
		{Name: "nfm-cli-udp6-to", Network: sysvistest.UDP6SendTo, Server: srv6, Linger: linger},
		{Name: "nfm-cli-short", Network: sysvistest.TCP4, Server: srv4, Linger: short},
		{Name: "nfm-in-tcp4", Network: sysvistest.TCP4, Server: in4, Linger: linger, NetNS: n.NS},
		{Name: "nfm-in-tcp6", Network: sysvistest.TCP6, Server: in6, Linger: linger, NetNS: n.NS},
		{Name: "nfm-in-udp6", Network: sysvistest.UDP6, Server: in6, Linger: linger, NetNS: n.NS},
	}
	for _, c := range clients {
		sysvistest.RunClient(t, c, sysvisHelperArgs...)
	}
	cancel() // as SIGINT: every flow is flushed, then written
	if code := <-done; code != exitInterrupted {
		t.Fatalf("nfmeter exited with %d: %s", code, stderr.String())
	}
	if want := "system visibility: " + backend + " backend"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not name the backend (%q): %s", want, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "system visibility:") || strings.Contains(line, "metering") {
			t.Log(line)
		}
	}
	header, rows := readFlowCSV(t, out)
	col := func(name string) int {
		i := slices.Index(header, name)
		if i < 0 {
			t.Fatalf("no column %s in %v", name, header)
		}
		return i
	}
	cSrc, cSport, cDst, cDport, cProto := col("src_ip"), col("src_port"), col("dst_ip"), col("dst_port"), col("protocol")
	cPID, cName := col("system_process_pid"), col("system_process_name")
	me, _ := os.ReadFile("/proc/self/comm")
	attributed, total := 0, 0
	for _, c := range clients {
		proto := "17"
		if strings.HasPrefix(c.Network, "tcp") {
			proto = "6"
		}
		wantPID, wantName := strconv.Itoa(c.PID), c.Name
		if c.NetNS != "" { // a client of this process's server
			wantPID, wantName = strconv.Itoa(os.Getpid()), strings.TrimSpace(string(me))
		}
		found := 0
		for _, r := range rows {
			a, _ := netip.ParseAddrPort(net.JoinHostPort(r[cSrc], r[cSport]))
			b, _ := netip.ParseAddrPort(net.JoinHostPort(r[cDst], r[cDport]))
			if r[cProto] != proto || !((a == c.Local && b == c.Server) || (a == c.Server && b == c.Local)) {
				continue
			}
			found++
			total++
			if r[cPID] == wantPID && r[cName] == wantName {
				attributed++
				t.Logf("%-15s %-11s %s -> %s: pid %s %q", c.Name, c.Network, c.Local, c.Server, r[cPID], r[cName])
			} else {
				t.Errorf("%s (%s %s -> %s): flow has pid %s %q, want %s %q", c.Name, c.Network, c.Local, c.Server, r[cPID], r[cName], wantPID, wantName)
			}
		}
		if found == 0 {
			t.Errorf("%s (%s %s -> %s): no flow in the output", c.Name, c.Network, c.Local, c.Server)
		}
	}
	t.Logf("backend %s: %d/%d flows of the test's processes attributed (%.0f%%)", backend, attributed, total, 100*float64(attributed)/float64(max(total, 1)))
}
