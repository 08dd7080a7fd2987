package sysvis

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/sysvis/sysvistest"
)

func TestMain(m *testing.M) {
	sysvistest.RunRole()
	os.Exit(m.Run())
}

// kprobesAvailable probes kprobe support without this package's code: a
// kprobe perf event source on which a kprobe on tcp_connect opens, or
// kprobe_events in tracefs.
func kprobesAvailable(tb testing.TB) (bool, string) {
	if b, err := os.ReadFile("/sys/bus/event_source/devices/kprobe/type"); err == nil {
		typ, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		sym := []byte("tcp_connect\x00")
		attr := unix.PerfEventAttr{Type: uint32(typ), Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Ext1: uint64(uintptr(unsafe.Pointer(&sym[0])))} // config1: the function name
		fd, err := unix.PerfEventOpen(&attr, -1, 0, -1, unix.PERF_FLAG_FD_CLOEXEC)
		runtime.KeepAlive(sym)
		if err != nil {
			return false, fmt.Sprintf("kprobe event source present but perf_event_open of a kprobe on tcp_connect: %v", err)
		}
		unix.Close(fd)
		return true, "kprobe perf event source"
	}
	const tracing = "/sys/kernel/tracing"
	if ents, err := os.ReadDir(tracing); err == nil && len(ents) == 0 {
		unix.Mount("nodev", tracing, "tracefs", 0, "")
	}
	for _, p := range []string{tracing + "/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		if _, err := os.Stat(p); err == nil {
			return true, p
		}
	}
	return false, "no kprobe perf event source (/sys/bus/event_source/devices/kprobe) and no kprobe_events in tracefs"
}

// fentryAllowed probes, without this package's programs, whether the
// kernel loads a trivial fentry program on tcp_connect.
func fentryAllowed() error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry, AttachTo: "tcp_connect", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return err
	}
	return p.Close()
}

// Issue 5, acceptance 2: the kprobe programs go through the verifier
// wherever the kernel has kprobe programs, and are attached and must
// report a connection wherever the kernel has kprobes. A kernel without
// kprobes (told by an independent probe) skips the attach part with the
// reason; a kernel with them cannot skip.
func TestKprobeBackend(t *testing.T) {
	testutil.RequirePrivilege(t)
	if runtime.GOARCH != "amd64" {
		t.Skipf("the kprobe programs read x86-64 registers; this is %s", runtime.GOARCH)
	}
	typeErr := features.HaveProgramType(ebpf.Kprobe)
	var objs kprobeObjects
	loadErr := loadSpec(&Options{}, &objs)
	switch {
	case typeErr == nil && loadErr != nil:
		t.Fatalf("the kernel loads kprobe programs but refuses ours: %v", loadErr)
	case loadErr == nil:
		for _, c := range []closer{objs.Events, objs.Counters, objs.Connect, objs.Accept, objs.UDP4, objs.UDP6, objs.Release} {
			c.Close()
		}
		t.Log("the verifier accepts the 5 kprobe programs")
	}
	ok, why := kprobesAvailable(t)
	if !ok {
		t.Skipf("kernel without kprobes (%s): the programs were verified (%v) but cannot be attached", why, loadErr == nil)
	}
	t.Logf("kprobes available (%s): the backend must attach and report", why)
	checkLoopback(t, BackendKprobe)
}

// The fentry programs load, attach and report wherever the kernel loads
// fentry programs at all (probed with a trivial one); some kernels refuse
// them (EPERM), which skips with the reason.
func TestFentryBackend(t *testing.T) {
	testutil.RequirePrivilege(t)
	if err := fentryAllowed(); err != nil {
		t.Skipf("kernel refuses fentry programs (a trivial one on tcp_connect: %v)", err)
	}
	checkLoopback(t, BackendFentry)
}

// checkLoopback starts backend kind and checks it attributes TCP and UDP
// sockets of this process over loopback, IPv4 and IPv6.
func checkLoopback(t *testing.T, kind string) {
	t.Helper()
	tb := NewTable(TableOptions{})
	b, err := Start(t.Context(), Options{Backend: kind}, tb)
	if err != nil {
		t.Fatalf("start %s: %v", kind, err)
	}
	defer b.Close()
	me := flows.Process{PID: os.Getpid(), Name: selfComm(t)}
	for _, network := range []string{"tcp4", "tcp6", "udp4", "udp6"} {
		local, remote := loopbackExchange(t, network)
		proto := uint8(6)
		if strings.HasPrefix(network, "udp") {
			proto = 17
		}
		if now := time.Now(); !waitLookup(tb, local, remote, proto, now, now, me) {
			t.Errorf("%s: %s %s -> %s not attributed to %+v", kind, network, local, remote, me)
		}
	}
	t.Logf("%s backend: %+v", kind, b.Stats())
}

func selfComm(tb testing.TB) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// loopbackExchange opens a connection of network on loopback (a listener
// and a client in this process), exchanges a message and returns the
// client's end and the server's.
func loopbackExchange(tb testing.TB, network string) (client, server netip.AddrPort) {
	tb.Helper()
	host := "127.0.0.1"
	if strings.HasSuffix(network, "6") {
		host = "::1"
	}
	if strings.HasPrefix(network, "tcp") {
		l, err := net.Listen(network, net.JoinHostPort(host, "0"))
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		c, err := net.Dial(network, l.Addr().String())
		if err != nil {
			tb.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.TCPAddr).AddrPort(), l.Addr().(*net.TCPAddr).AddrPort()
	}
	s, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial(network, s.LocalAddr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		tb.Fatal(err)
	}
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), s.LocalAddr().(*net.UDPAddr).AddrPort()
}

// recordingSink is a Table that also keeps the events, to tell which hook
// saw each socket.
type recordingSink struct {
	*Table
	mu  sync.Mutex
	evs []Event
}

func (r *recordingSink) Add(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	r.Table.Add(ev)
}

// hooks returns the hooks of the events about the pair a, b (either end
// local; the local address may be any).
func (r *recordingSink) hooks(a, b netip.AddrPort) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		if ev.Kind != Open {
			continue
		}
		l, rem := endpointOf(ev.Local), endpointOf(ev.Remote)
		for _, x := range [][2]netip.AddrPort{{a, b}, {b, a}} {
			xl, xr := endpointOf(x[0]), endpointOf(x[1])
			if rem == xr && (l == xl || (l.addr == [16]byte{} && l.port == xl.port)) || (!ev.Remote.IsValid() && (l == xl || l == endpoint{port: xl.port})) {
				out = append(out, ev.Hook)
				break
			}
		}
	}
	return out
}

// waitLookup waits up to 2 s for the table to attribute the pair, used
// from first to last, to want.
func waitLookup(tb *Table, a, b netip.AddrPort, proto uint8, first, last time.Time, want flows.Process) bool {
	for range 200 {
		if p, ok := tb.Lookup(a, b, proto, first, last); ok && p == want {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// The backends this kernel runs attribute, over a veth pair to another
// network namespace: clients of this namespace (TCP and UDP, IPv4 and IPv6,
// connected and unconnected UDP, and one that exits right after its
// exchange) to their pid and command name, and servers of this namespace
// (this process, and a worker accepting on a listener this process opened)
// for clients of the other one. Sockets of the other namespace, with the
// same endpoints, are not taken.
func TestBackendsAttributeAcrossVeth(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	tn := sysvistest.NewNet(t, 202)
	const port = 7202
	sysvistest.StartServer(t, tn.NS, port)
	for _, kind := range Backends {
		t.Run(kind, func(t *testing.T) {
			switch kind {
			case BackendKprobe:
				if ok, why := kprobesAvailable(t); !ok || runtime.GOARCH != "amd64" {
					t.Skipf("kernel without kprobes: %s", why)
				}
			case BackendFentry:
				if err := fentryAllowed(); err != nil {
					t.Skipf("kernel refuses fentry programs: %v", err)
				}
			}
			tb := &recordingSink{Table: NewTable(TableOptions{})}
			linger, short := time.Duration(0), time.Duration(0)
			o := Options{Backend: kind}
			if kind == BackendPoll {
				// A poller sees only sockets that live through a poll.
				o.PollInterval = 5 * time.Millisecond
				linger, short = 50*time.Millisecond, 25*time.Millisecond
			}
			b, err := Start(t.Context(), o, tb)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			defer b.Close()
			// This process serves clients of the other namespace; its
			// sockets are opened after the backend started.
			me := flows.Process{PID: os.Getpid(), Name: selfComm(t)}
			tl, err := net.Listen("tcp", fmt.Sprintf(":%d", port+1))
			if err != nil {
				t.Fatal(err)
			}
			defer tl.Close()
			go func() {
				for {
					c, err := tl.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						buf := make([]byte, 64)
						n, _ := c.Read(buf)
						c.Write(buf[:n])
						time.Sleep(100 * time.Millisecond)
					}()
				}
			}()
			ul, err := net.ListenPacket("udp", fmt.Sprintf(":%d", port+1))
			if err != nil {
				t.Fatal(err)
			}
			defer ul.Close()
			go func() {
				buf := make([]byte, 64)
				for {
					n, from, err := ul.ReadFrom(buf)
					if err != nil {
						return
					}
					ul.WriteTo(buf[:n], from)
				}
			}()

			// A pre-forked server: this process listens, a worker accepts.
			wl, err := net.ListenTCP("tcp", &net.TCPAddr{Port: port + 2})
			if err != nil {
				t.Fatal(err)
			}
			worker := flows.Process{Name: "nfm-sv-worker"}
			worker.PID = sysvistest.StartWorker(t, wl, worker.Name)
			wl.Close()

			srv4 := netip.AddrPortFrom(tn.Peer, port)
			srv6 := netip.AddrPortFrom(tn.Peer6, port)
			clients := []*sysvistest.Client{
				{Name: "nfm-sv-tcp4", Network: sysvistest.TCP4, Server: srv4, Linger: linger},
				{Name: "nfm-sv-tcp6", Network: sysvistest.TCP6, Server: srv6, Linger: linger},
				{Name: "nfm-sv-udp4", Network: sysvistest.UDP4, Server: srv4, Linger: linger},
				{Name: "nfm-sv-udp6", Network: sysvistest.UDP6, Server: srv6, Linger: linger},
				{Name: "nfm-sv-udp4-to", Network: sysvistest.UDP4SendTo, Server: srv4, Linger: linger},
				{Name: "nfm-sv-udp6-to", Network: sysvistest.UDP6SendTo, Server: srv6, Linger: linger},
				{Name: "nfm-sv-short", Network: sysvistest.TCP4, Server: srv4, Linger: short},
				// Clients in the other namespace of this process's servers.
				{Name: "nfm-sv-in-tcp4", Network: sysvistest.TCP4, Server: netip.AddrPortFrom(tn.Root, port+1), Linger: linger, NetNS: tn.NS},
				{Name: "nfm-sv-in-tcp6", Network: sysvistest.TCP6, Server: netip.AddrPortFrom(tn.Root6, port+1), Linger: linger, NetNS: tn.NS},
				{Name: "nfm-sv-in-udp4", Network: sysvistest.UDP4, Server: netip.AddrPortFrom(tn.Root, port+1), Linger: linger, NetNS: tn.NS},
				{Name: "nfm-sv-in-work", Network: sysvistest.TCP6, Server: netip.AddrPortFrom(tn.Root6, port+2), Linger: linger, NetNS: tn.NS},
			}
			for _, c := range clients {
				sysvistest.RunClient(t, c)
			}
			ok := 0
			for _, c := range clients {
				want := flows.Process{PID: c.PID, Name: c.Name}
				switch {
				case c.Server.Port() == port+2:
					want = worker
				case c.NetNS != "":
					want = me
				}
				proto := uint8(17)
				if strings.HasPrefix(c.Network, "tcp") {
					proto = 6
				}
				if waitLookup(tb.Table, c.Local, c.Server, proto, c.Start, c.Exited, want) {
					t.Logf("%-15s %-11s %s -> %s: pid %d %q, seen by %v", c.Name, c.Network, c.Local, c.Server, want.PID, want.Name, tb.hooks(c.Local, c.Server))
					ok++
					continue
				}
				got, found := tb.Table.Lookup(c.Local, c.Server, proto, c.Start, c.Exited)
				t.Errorf("%s (%s %s -> %s): got %+v (%v), want %+v", c.Name, c.Network, c.Local, c.Server, got, found, want)
			}
			t.Logf("backend %s: %d/%d sockets attributed", kind, ok, len(clients))
		})
	}
}

// The event layout is the one bpf2go generated from bpf/sysvis.h.
func TestSocketEventLayout(t *testing.T) {
	if s := unsafe.Sizeof(bpfobj.SysvisSocketEvent{}); s != 80 {
		t.Errorf("socket_event is %d bytes, want 80", s)
	}
}

// The poller attributes this process's own sockets without privileges
// (sock_diag of the own namespace, /proc/self/fd).
func TestPollerOwnSockets(t *testing.T) {
	tb := NewTable(TableOptions{})
	b, err := Start(t.Context(), Options{Backend: BackendPoll, PollInterval: 5 * time.Millisecond}, tb)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		t.Skipf("sock_diag refused: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	me := flows.Process{PID: os.Getpid(), Name: selfComm(t)}
	for _, network := range []string{"tcp4", "udp4"} {
		host := "127.0.0.1"
		if network == "tcp4" {
			l, err := net.Listen(network, host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if now := time.Now(); !waitLookup(tb, c.LocalAddr().(*net.TCPAddr).AddrPort(), l.Addr().(*net.TCPAddr).AddrPort(), 6, now, now, me) {
				t.Errorf("tcp4 not attributed")
			}
			continue
		}
		s, _ := net.ListenPacket(network, host+":0")
		defer s.Close()
		c, err := net.Dial(network, s.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if now := time.Now(); !waitLookup(tb, c.LocalAddr().(*net.UDPAddr).AddrPort(), s.LocalAddr().(*net.UDPAddr).AddrPort(), 17, now, now, me) {
			t.Errorf("udp4 not attributed")
		}
	}
}
