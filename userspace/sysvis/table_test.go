package sysvis

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a settable clock for TableOptions.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func open(sock uint64, at time.Time, proto uint8, local, remote string, pid int, name string) Event {
	ev := Event{Kind: Open, Time: at, Socket: sock, Protocol: proto, Local: ap(local), Process: flows.Process{PID: pid, Name: name}}
	if remote != "" {
		ev.Remote = ap(remote)
	}
	return ev
}

func closeEv(sock uint64, at time.Time) Event { return Event{Kind: Close, Time: at, Socket: sock} }

// meterOne meters the frames (1 ms apart from start) into flows.
func meterOne(t testing.TB, start time.Time, frames ...[]byte) *flows.Flow {
	t.Helper()
	var src flowstest.Source
	for i, f := range frames {
		src.Push(start.UnixMilli()+int64(i), f)
	}
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.SystemVisibilityMode = 1
	st, err := flows.NewStreamer(&src, o)
	if err != nil {
		t.Fatal(err)
	}
	var out []*flows.Flow
	for f, err := range st.Flows(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	if len(out) != 1 {
		t.Fatalf("%d flows, want 1", len(out))
	}
	return out[0]
}

// A socket's flow is attributed whichever end sent the first packet, for
// TCP and UDP over IPv4 and IPv6; the first packet's sender may be the
// remote end (an accepted connection) or the local one.
func TestTableBothDirections(t *testing.T) {
	tests := []struct {
		name          string
		proto         uint8
		local, remote string
	}{
		{"tcp4", 6, "10.0.0.1:40000", "10.0.0.2:80"},
		{"udp4", 17, "10.0.0.1:40001", "10.0.0.9:53"},
		{"tcp6", 6, "[fd00::1]:40002", "[fd00::2]:443"},
		{"udp6", 17, "[fd00::1]:40003", "[2001:db8::5]:5353"},
		{"tcp4 local sorts last", 6, "10.9.0.1:1000", "10.0.0.2:80"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: t0}
			tb := NewTable(TableOptions{Now: clk.now, MaxWait: -1})
			tb.Add(open(uint64(i), t0, tt.proto, tt.local, tt.remote, 100+i, "client"))
			frame := func(src, dst string) []byte {
				if tt.proto == 6 {
					return flowstest.TCP(ap(src), ap(dst), 0x02, 0)
				}
				return flowstest.UDP(ap(src), ap(dst), 10)
			}
			for _, dir := range []struct {
				name     string
				src, dst string
			}{{"outgoing", tt.local, tt.remote}, {"incoming", tt.remote, tt.local}} {
				f := meterOne(t, t0.Add(time.Millisecond), frame(dir.src, dir.dst))
				if !tb.Annotate(f) {
					t.Fatalf("%s flow not attributed", dir.name)
				}
				if p, _ := f.Process(); p.PID != 100+i || p.Name != "client" {
					t.Errorf("%s flow: %+v", dir.name, p)
				}
			}
			// Other protocol, other port: no match.
			other := meterOne(t, t0, flowstest.UDP(ap(tt.local), ap("10.7.7.7:9"), 1))
			if tb.Annotate(other) {
				t.Errorf("unrelated flow attributed: %+v", other)
			}
		})
	}
}

// An unconnected UDP socket reports its local port with the peer (local
// address unknown); a listener or a bound UDP server owns whatever reaches
// its port; exact pairs win over both.
func TestTableWildcards(t *testing.T) {
	clk := &fakeClock{t: t0}
	tb := NewTable(TableOptions{Now: clk.now})
	tb.Add(open(1, t0, 17, "0.0.0.0:5000", "10.0.0.9:53", 10, "resolver"))
	tb.Add(open(2, t0, 6, "0.0.0.0:22", "", 20, "sshd"))
	tb.Add(open(3, t0, 6, "[::]:8080", "", 30, "web"))
	tb.Add(open(4, t0, 6, "10.0.0.1:22", "10.0.0.7:5555", 40, "sshd-child"))
	tests := []struct {
		name     string
		a, b     string
		proto    uint8
		wantPID  int
		wantNone bool
	}{
		{"udp half", "10.0.0.1:5000", "10.0.0.9:53", 17, 10, false},
		{"udp half reversed", "10.0.0.9:53", "10.0.0.1:5000", 17, 10, false},
		{"udp half other peer", "10.0.0.1:5000", "10.0.0.8:53", 17, 0, true},
		{"listener", "10.0.0.6:6000", "10.0.0.1:22", 6, 20, false},
		{"listener v6 any", "[fd00::6]:6000", "[fd00::1]:8080", 6, 30, false},
		{"listener v4 on v6 any", "10.0.0.6:6000", "10.0.0.1:8080", 6, 30, false},
		{"exact beats listener", "10.0.0.7:5555", "10.0.0.1:22", 6, 40, false},
		{"wrong protocol", "10.0.0.6:6000", "10.0.0.1:22", 17, 0, true},
	}
	for _, tt := range tests {
		p, ok := tb.Lookup(ap(tt.a), ap(tt.b), tt.proto, t0, t0)
		if ok == tt.wantNone || (ok && p.PID != tt.wantPID) {
			t.Errorf("%s: %+v %v, want pid %d (none: %v)", tt.name, p, ok, tt.wantPID, tt.wantNone)
		}
	}
}

// A closed socket's entry stays Keep, then goes; an open one stays.
func TestTableExpiry(t *testing.T) {
	clk := &fakeClock{t: t0}
	keep := 10 * time.Second
	tb := NewTable(TableOptions{Now: clk.now, Keep: keep})
	tb.Add(open(1, t0, 6, "10.0.0.1:40000", "10.0.0.2:80", 1, "short"))
	tb.Add(open(2, t0, 6, "10.0.0.1:40001", "10.0.0.2:80", 2, "long"))
	tb.Add(closeEv(1, t0.Add(time.Second)))
	look := func(port uint16) bool {
		_, ok := tb.Lookup(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port), ap("10.0.0.2:80"), 6, t0, t0)
		return ok
	}
	clk.set(t0.Add(time.Second + keep))
	tb.Add(Event{Kind: Close, Socket: 99}) // any event runs the expiry
	if !look(40000) || !look(40001) {
		t.Fatal("entry gone before Keep")
	}
	clk.set(t0.Add(time.Second + keep + time.Millisecond))
	tb.Add(Event{Kind: Close, Socket: 99})
	if look(40000) {
		t.Error("closed entry still there after Keep")
	}
	if !look(40001) || tb.Len() != 1 {
		t.Errorf("open entry gone (%d entries)", tb.Len())
	}
}

// A pid reused by another process, and a port reused by another socket,
// do not rename or steal the first flow: the name is the one captured with
// the event, and the socket that existed during the flow is chosen.
func TestTablePIDAndPortReuse(t *testing.T) {
	clk := &fakeClock{t: t0}
	tb := NewTable(TableOptions{Now: clk.now})
	// Process 500 "first" owns the socket, exits; 500 is reused by "second",
	// which binds the same local port to the same peer a minute later.
	tb.Add(open(1, t0, 17, "10.0.0.1:40000", "10.0.0.9:53", 500, "first"))
	tb.Add(closeEv(1, t0.Add(50*time.Millisecond)))
	later := t0.Add(time.Minute)
	clk.set(later)
	tb.Add(open(2, later, 17, "10.0.0.1:40000", "10.0.0.9:53", 500, "second"))

	a, b := ap("10.0.0.1:40000"), ap("10.0.0.9:53")
	if p, ok := tb.Lookup(a, b, 17, t0.Add(time.Millisecond), t0.Add(40*time.Millisecond)); !ok || p.Name != "first" {
		t.Errorf("first flow: %+v %v, want first", p, ok)
	}
	if p, ok := tb.Lookup(a, b, 17, later.Add(time.Millisecond), later.Add(time.Second)); !ok || p.Name != "second" {
		t.Errorf("second flow: %+v %v, want second", p, ok)
	}
	// A flow between the two sockets' lives belongs to neither.
	if p, ok := tb.Lookup(a, b, 17, t0.Add(10*time.Second), t0.Add(11*time.Second)); ok {
		t.Errorf("flow between the sockets attributed to %+v", p)
	}
}

// MaxEntries evicts the oldest entries; at most maxPerKey sockets are kept
// per key.
func TestTableBounds(t *testing.T) {
	clk := &fakeClock{t: t0}
	tb := NewTable(TableOptions{Now: clk.now, MaxEntries: 100})
	for i := range 1000 {
		tb.Add(open(uint64(i), t0, 6, "10.0.0.1:1000", netip.AddrPortFrom(netip.MustParseAddr("10.1.0.0"), uint16(i+1)).String(), i, "p"))
	}
	if n := tb.Len(); n != 100 {
		t.Errorf("%d entries, want 100", n)
	}
	if _, ok := tb.Lookup(ap("10.0.0.1:1000"), ap("10.1.0.0:1"), 6, t0, t0); ok {
		t.Error("oldest entry not evicted")
	}
	if p, ok := tb.Lookup(ap("10.0.0.1:1000"), ap("10.1.0.0:1000"), 6, t0, t0); !ok || p.PID != 999 {
		t.Errorf("newest entry: %+v %v", p, ok)
	}
	for i := range 10 {
		tb.Add(open(uint64(5000+i), t0.Add(time.Duration(i)*time.Minute), 6, "10.0.0.2:1", "10.0.0.3:2", i, "p"))
	}
	tb.mu.Lock()
	n := len(tb.m[pairKey(endpointOf(ap("10.0.0.2:1")), endpointOf(ap("10.0.0.3:2")), 6)])
	tb.mu.Unlock()
	if n != maxPerKey {
		t.Errorf("%d sockets for one key, want %d", n, maxPerKey)
	}
}

// Annotate waits for the backend to catch up with a flow that has just
// ended, and no longer than MaxWait when the backend does not.
func TestTableAnnotateWaits(t *testing.T) {
	tb := NewTable(TableOptions{MaxWait: 2 * time.Second})
	now := time.Now()
	tb.CaughtUp(now.Add(-time.Second))
	f := meterOne(t, now, flowstest.TCP(ap("10.0.0.1:40000"), ap("10.0.0.2:80"), 0x02, 0))
	go func() {
		time.Sleep(50 * time.Millisecond)
		tb.Add(open(1, now, 6, "10.0.0.1:40000", "10.0.0.2:80", 7, "late"))
		tb.CaughtUp(time.Now())
	}()
	start := time.Now()
	if !tb.Annotate(f) {
		t.Fatal("not attributed after the backend caught up")
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
		t.Errorf("waited %v, want about 50 ms", d)
	}

	// A backend that never catches up costs MaxWait once, then nothing.
	tb2 := NewTable(TableOptions{MaxWait: 30 * time.Millisecond})
	f2 := meterOne(t, time.Now(), flowstest.TCP(ap("10.0.0.1:40001"), ap("10.0.0.2:80"), 0x02, 0))
	start = time.Now()
	tb2.Annotate(f2)
	tb2.Annotate(f2)
	if d := time.Since(start); d < 30*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("two annotations with a stalled backend took %v, want about 30 ms", d)
	}
}

// Flows of other protocols are never attributed (NFStream matches TCP and
// UDP connections only).
func TestTableOtherProtocols(t *testing.T) {
	tb := NewTable(TableOptions{MaxWait: -1})
	tb.Add(Event{Kind: Open, Time: t0, Protocol: 1, Local: ap("10.0.0.1:0"), Remote: ap("10.0.0.2:0")})
	if tb.Len() != 0 {
		t.Errorf("ICMP event recorded")
	}
	if _, ok := tb.Lookup(ap("10.0.0.1:0"), ap("10.0.0.2:0"), 1, t0, t0); ok {
		t.Error("ICMP flow attributed")
	}
}

// BenchmarkTableAdd is the userspace cost of one socket event: an Open
// for a new socket, then its Close.
func BenchmarkTableAdd(b *testing.B) {
	tb := NewTable(TableOptions{})
	remote := ap("10.0.0.2:443")
	now := time.Now()
	i := 0
	for b.Loop() {
		local := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 16), byte(i >> 8)}), uint16(i))
		tb.Add(Event{Kind: Open, Time: now, Socket: uint64(i), Protocol: 6, Local: local, Remote: remote, Process: flows.Process{PID: 1, Name: "p"}})
		tb.Add(Event{Kind: Close, Time: now, Socket: uint64(i)})
		i++
	}
}

// BenchmarkTableAnnotate is the cost of attributing one emitted flow.
func BenchmarkTableAnnotate(b *testing.B) {
	tb := NewTable(TableOptions{MaxWait: -1})
	for i := range 100000 {
		local := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000)
		tb.Add(open(uint64(i), t0, 6, local.String(), "10.9.0.1:443", i, "p"))
	}
	f := meterOne(b, t0, flowstest.TCP(ap("10.0.1.2:40000"), ap("10.9.0.1:443"), 0x02, 0))
	for b.Loop() {
		if !tb.Annotate(f) {
			b.Fatal("not attributed")
		}
	}
}
