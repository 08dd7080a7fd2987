package sysvis

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/internal/testutil"
)

// tcpLoop opens and closes TCP connections to a loopback listener of this
// process.
type tcpLoop struct {
	l    net.Listener
	addr string
}

func newTCPLoop(tb testing.TB) *tcpLoop {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
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
			go func() { // the client closes first, with a reset
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	return &tcpLoop{l: l, addr: l.Addr().String()}
}

// once connects, returns the local end and when connect returned, and
// closes.
func (t *tcpLoop) once(tb testing.TB) (netip.AddrPort, time.Time) {
	c, err := net.Dial("tcp4", t.addr)
	if err != nil {
		tb.Fatal(err)
	}
	at := time.Now()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	c.(*net.TCPConn).SetLinger(0) // RST: no TIME_WAIT piles up in the socket table
	c.Close()
	return local, at
}

// startForBench starts backend kind ("none": nothing) on a fresh table.
func startForBench(tb testing.TB, kind string, poll time.Duration, sink Sink) {
	tb.Helper()
	if kind == "none" {
		return
	}
	b, err := Start(tb.Context(), Options{Backend: kind, PollInterval: poll}, sink)
	if err != nil {
		tb.Fatalf("start %s: %v", kind, err)
	}
	tb.Cleanup(func() { b.Close() })
}

// BenchmarkTCPConnect measures a loopback TCP connection (connect, accept,
// close: two sockets, so two opens and two closes reported) without a
// backend and with each backend that runs here.
func BenchmarkTCPConnect(b *testing.B) {
	testutil.RequirePrivilege(b)
	for _, kind := range []string{"none", BackendTracepoint, BackendPoll} {
		b.Run(kind, func(b *testing.B) {
			startForBench(b, kind, 0, NewTable(TableOptions{}))
			loop := newTCPLoop(b)
			for b.Loop() {
				loop.once(b)
			}
		})
	}
}

// BenchmarkUDPSendto measures unconnected UDP sends: to one peer (reported
// once) and to a new peer each time (reported each time).
func BenchmarkUDPSendto(b *testing.B) {
	testutil.RequirePrivilege(b)
	for _, kind := range []string{"none", BackendTracepoint} {
		for _, peers := range []int{1, 1024} {
			b.Run(fmt.Sprintf("%s/%d-peers", kind, peers), func(b *testing.B) {
				startForBench(b, kind, 0, NewTable(TableOptions{}))
				sendLoop(b, peers, b.N)
			})
		}
	}
}

// sendLoop sends n datagrams from one socket to peers loopback ports
// (nothing listens: the datagrams are dropped after the send path).
func sendLoop(tb testing.TB, peers, n int) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	msg := []byte("x")
	to := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	for i := range n {
		to.Port = 40000 + i%peers
		unix.Sendto(fd, msg, 0, to)
	}
}

// timingSink records when each socket's first Open reached the table.
type timingSink struct {
	*Table
	mu   sync.Mutex
	seen map[netip.AddrPort]time.Time
}

func (s *timingSink) Add(ev Event) {
	now := time.Now()
	if ev.Kind == Open {
		s.mu.Lock()
		if _, ok := s.seen[ev.Local]; !ok {
			s.seen[ev.Local] = now
		}
		s.mu.Unlock()
	}
	s.Table.Add(ev)
}

func quantiles(d []time.Duration) (p50, p99, maxd time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100], d[len(d)-1]
}

// TestSysvisCostReport prints the figures of docs/PERFORMANCE.md: the cost
// of each BPF program run (kernel BPF statistics), the cost of a
// connection and of a UDP send with and without each backend, and the
// attribution latency (connect() returned -> socket in the table). Run with
// NFMETER_BENCH_SYSVIS=1, as root.
func TestSysvisCostReport(t *testing.T) {
	if os.Getenv("NFMETER_BENCH_SYSVIS") != "1" {
		t.Skip("set NFMETER_BENCH_SYSVIS=1 to measure")
	}
	testutil.RequirePrivilege(t)
	const conns, sends = 20000, 200000
	var lines []string
	report := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }

	// One poll of the socket table, as quiet as the host is.
	t.Run("poll-duration", func(t *testing.T) {
		p, err := newPoller((&Options{}).logger())
		if err != nil {
			t.Fatal(err)
		}
		defer p.close()
		tb := NewTable(TableOptions{})
		p.poll(tb, true)
		const n = 50
		start := time.Now()
		for range n {
			p.poll(tb, true)
		}
		report("| one poll (sock_diag TCP+UDP, v4+v6; %d sockets of processes) | %v |", len(p.known), (time.Since(start) / n).Round(time.Microsecond))
	})

	// Attribution latency.
	for _, c := range []struct {
		kind string
		poll time.Duration
	}{{BackendTracepoint, 0}, {BackendPoll, 100 * time.Millisecond}, {BackendPoll, 10 * time.Millisecond}} {
		t.Run(fmt.Sprintf("latency/%s/%v", c.kind, c.poll), func(t *testing.T) {
			sink := &timingSink{Table: NewTable(TableOptions{}), seen: map[netip.AddrPort]time.Time{}}
			startForBench(t, c.kind, c.poll, sink)
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			const n = 300
			type probe struct {
				local netip.AddrPort
				at    time.Time
			}
			var ps []probe
			var conns []net.Conn
			for range n {
				cn, err := net.Dial("tcp4", l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, probe{cn.LocalAddr().(*net.TCPAddr).AddrPort(), time.Now()})
				conns = append(conns, cn)
				time.Sleep(time.Millisecond)
			}
			time.Sleep(2*c.poll + 50*time.Millisecond)
			var lat []time.Duration
			missed := 0
			sink.mu.Lock()
			for _, p := range ps {
				at, ok := sink.seen[p.local]
				if !ok {
					missed++
					continue
				}
				lat = append(lat, max(at.Sub(p.at), 0))
			}
			sink.mu.Unlock()
			for _, cn := range conns {
				cn.Close()
			}
			if len(lat) == 0 {
				t.Fatalf("no socket seen")
			}
			p50, p99, mx := quantiles(lat)
			name := c.kind
			if c.kind == BackendPoll {
				name = fmt.Sprintf("poll every %v", c.poll)
			}
			report("| %s | %v | %v | %v | %d/%d |", name, p50.Round(time.Microsecond), p99.Round(time.Microsecond), mx.Round(time.Microsecond), n-missed, n)
		})
	}
	// Connection and send cost per backend (after the latency: the
	// connections below leave sockets in TIME_WAIT for a minute).
	// Rounds alternate the backends; the best round of each counts (the
	// least disturbed by everything else on the host).
	perConn := map[string]time.Duration{}
	for round := range 5 {
		for _, kind := range []string{"none", BackendTracepoint, BackendPoll} {
			t.Run(fmt.Sprintf("conn/%s/%d", kind, round), func(t *testing.T) {
				startForBench(t, kind, 0, NewTable(TableOptions{}))
				loop := newTCPLoop(t)
				for range 200 {
					loop.once(t)
				}
				start := time.Now()
				for range conns / 5 {
					loop.once(t)
				}
				d := time.Since(start) / (conns / 5)
				if old, ok := perConn[kind]; !ok || d < old {
					perConn[kind] = d
				}
			})
		}
	}
	report("| TCP connection over loopback (connect, accept, close) | %v | %v (+%v) | %v (+%v) |",
		perConn["none"], perConn[BackendTracepoint], perConn[BackendTracepoint]-perConn["none"],
		perConn[BackendPoll], perConn[BackendPoll]-perConn["none"])
	for _, peers := range []int{1, 1024} {
		per := map[string]time.Duration{}
		for round := range 5 {
			for _, kind := range []string{"none", BackendTracepoint} {
				t.Run(fmt.Sprintf("udp/%s/%d/%d", kind, peers, round), func(t *testing.T) {
					startForBench(t, kind, 0, NewTable(TableOptions{}))
					sendLoop(t, peers, 2000)
					start := time.Now()
					sendLoop(t, peers, sends/5)
					d := time.Since(start) / (sends / 5)
					if old, ok := per[kind]; !ok || d < old {
						per[kind] = d
					}
				})
			}
		}
		report("| UDP sendto, %d peer(s) | %v | %v (+%v) | - |", peers, per["none"], per[BackendTracepoint], per[BackendTracepoint]-per["none"])
	}

	// BPF program cost from the kernel's statistics.
	t.Run("bpf-stats", func(t *testing.T) {
		stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			t.Skipf("BPF statistics: %v", err)
		}
		defer stats.Close()
		b, err := Start(t.Context(), Options{Backend: BackendTracepoint}, NewTable(TableOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		objs := b.(*kernelBackend).tp
		loop := newTCPLoop(t)
		for range conns {
			loop.once(t)
		}
		sendLoop(t, 1024, sends)
		progs := map[string]*ebpf.Program{
			"cgroup/sock_create": objs.Create, "cgroup/connect4": objs.Connect4, "cgroup/sendmsg4": objs.Sendmsg4,
			"cgroup/sock_release": objs.Release, "tp_btf/inet_sock_set_state": objs.State,
			"tp_btf/sock_send_length": objs.Send, "tp_btf/sock_recv_length": objs.Recv,
		}
		names := make([]string, 0, len(progs))
		for n := range progs {
			names = append(names, n)
		}
		sort.Strings(names)
		var perConnNs float64
		for _, n := range names {
			st, err := progs[n].Stats()
			if err != nil || st.RunCount == 0 {
				report("| %s | no runs (%v) |", n, err)
				continue
			}
			avg := float64(st.Runtime.Nanoseconds()) / float64(st.RunCount)
			report("| %s | %d runs | %.0f ns/run |", n, st.RunCount, avg)
			if n != "cgroup/sendmsg4" && n != "tp_btf/sock_send_length" {
				perConnNs += float64(st.Runtime.Nanoseconds())
			}
		}
		report("| BPF time per loopback TCP connection (two sockets) | %.0f ns |", perConnNs/conns)
	})

	t.Log("\n" + strings.Join(lines, "\n"))
}
