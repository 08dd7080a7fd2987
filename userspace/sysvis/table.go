package sysvis

import (
	"net/netip"
	"sync"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Defaults of [TableOptions].
const (
	DefaultKeep       = 125 * time.Second // NFStream: idle_timeout (120 s) + 5 s
	DefaultMaxEntries = 1 << 20
	DefaultMaxWait    = 250 * time.Millisecond
	DefaultLag        = 5 * time.Millisecond
	// maxPerKey is how many sockets one endpoint pair remembers (reuse of
	// a port by successive sockets).
	maxPerKey = 4
	// slack is how far apart a socket event and a flow's packets may be
	// and still belong together (clock conversions, poll periods).
	slack = time.Second
)

// TableOptions configures a [Table]. The zero value gives the defaults.
type TableOptions struct {
	// Keep is how long the entries of a closed socket stay, so that flows
	// that end after their process (short-lived processes, flows emitted at
	// their idle timeout) are still attributed. NFStream keeps them
	// idle_timeout + 5 s. 0 means DefaultKeep.
	Keep time.Duration
	// MaxEntries bounds the table: beyond it the oldest entries go first.
	// 0 means DefaultMaxEntries.
	MaxEntries int
	// MaxWait is the longest [Table.Annotate] waits for the backend to
	// report the sockets of a flow that has just ended. 0 means
	// DefaultMaxWait; negative never waits.
	MaxWait time.Duration
	// Lag is how long after a flow's last packet its socket's events may
	// still be produced (passive TCP sockets are reported once the
	// handshake's last packet is processed). 0 means DefaultLag.
	Lag time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// endpoint is an address (IPv4 as IPv4-mapped IPv6, any address as all
// zeros) and a port: fixed arrays rather than netip.AddrPort, which is
// slower as a map key.
type endpoint struct {
	addr [16]byte
	port uint16
}

func endpointOf(ap netip.AddrPort) endpoint {
	a := ap.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return endpoint{port: ap.Port()}
	}
	return endpoint{addr: a.As16(), port: ap.Port()}
}

func (e endpoint) less(o endpoint) bool {
	for i := range e.addr {
		if e.addr[i] != o.addr[i] {
			return e.addr[i] < o.addr[i]
		}
	}
	return e.port < o.port
}

// Kinds of keys, most precise first.
const (
	keyPair  uint8 = iota // both endpoints, in canonical order
	keyHalf               // a: local port (any address), b: remote endpoint
	keyBound              // a: local endpoint (address may be 0), b: zero
)

type key struct {
	a, b  endpoint
	proto uint8
	kind  uint8
}

func pairKey(x, y endpoint, proto uint8) key {
	if y.less(x) {
		x, y = y, x
	}
	return key{a: x, b: y, proto: proto, kind: keyPair}
}

func halfKey(localPort uint16, remote endpoint, proto uint8) key {
	return key{a: endpoint{port: localPort}, b: remote, proto: proto, kind: keyHalf}
}

func boundKey(local endpoint, proto uint8) key {
	return key{a: local, proto: proto, kind: keyBound}
}

// entry is one socket's ownership under one key.
type entry struct {
	k      key
	proc   flows.Process
	sock   uint64
	start  time.Time // first seen
	closed time.Time // zero while the socket exists
	gone   bool      // removed from the table
}

// Table maps the endpoints of sockets to their processes and attributes
// flows to them. It implements [Sink]. It is safe for concurrent use: a
// backend adds events while the metering loop annotates flows.
type Table struct {
	o TableOptions

	mu      sync.Mutex
	m       map[key][]*entry // oldest first, at most maxPerKey
	bySock  map[uint64][]*entry
	order   []*entry // creation order, for MaxEntries (lazily compacted)
	closedQ []*entry // close order, for Keep (lazily compacted)
	n       int      // live entries
	caught  time.Time
	caughtC chan struct{} // closed and replaced by CaughtUp
	stalled bool          // a wait timed out since the last CaughtUp
}

// NewTable returns an empty table.
func NewTable(o TableOptions) *Table {
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Lag == 0 {
		o.Lag = DefaultLag
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Table{o: o, m: map[key][]*entry{}, bySock: map[uint64][]*entry{}, caughtC: make(chan struct{})}
}

// Len returns the number of entries.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Add records ev (see [Event]).
func (t *Table) Add(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(t.o.Now())
	if ev.Kind == Close {
		for _, e := range t.bySock[ev.Socket] {
			if !e.gone && e.closed.IsZero() {
				e.closed = ev.Time
				t.closedQ = append(t.closedQ, e)
			}
		}
		delete(t.bySock, ev.Socket)
		return
	}
	if ev.Protocol != 6 && ev.Protocol != 17 {
		return
	}
	var k key
	switch l := endpointOf(ev.Local); {
	case !ev.Remote.IsValid() || ev.Remote.Port() == 0:
		k = boundKey(l, ev.Protocol)
	case ev.Local.Addr().IsUnspecified() || !ev.Local.Addr().IsValid():
		k = halfKey(l.port, endpointOf(ev.Remote), ev.Protocol)
	default:
		k = pairKey(l, endpointOf(ev.Remote), ev.Protocol)
	}
	es := t.m[k]
	if n := len(es); n > 0 {
		last := es[n-1]
		if last.sock == ev.Socket && last.proc == ev.Process && last.closed.IsZero() {
			return // already known
		}
		if n == maxPerKey {
			t.remove(es[0])
			es = t.m[k]
		}
	}
	e := &entry{k: k, proc: ev.Process, sock: ev.Socket, start: ev.Time}
	t.m[k] = append(es, e)
	t.bySock[ev.Socket] = append(t.bySock[ev.Socket], e)
	t.order = append(t.order, e)
	t.n++
	for t.n > t.o.MaxEntries && len(t.order) > 0 {
		if old := t.order[0]; !old.gone {
			t.remove(old)
		}
		t.order = t.order[1:]
	}
	if len(t.order) > 2*t.n+64 {
		t.order = compact(t.order)
	}
}

// CaughtUp records that every event before tm was added, waking
// [Table.Annotate] calls that wait for it.
func (t *Table) CaughtUp(tm time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stalled = false
	if tm.After(t.caught) {
		t.caught = tm
		close(t.caughtC)
		t.caughtC = make(chan struct{})
	}
}

// expire removes the entries closed more than Keep ago.
func (t *Table) expire(now time.Time) {
	i := 0
	for ; i < len(t.closedQ); i++ {
		e := t.closedQ[i]
		if e.gone {
			continue
		}
		if now.Sub(e.closed) <= t.o.Keep {
			break
		}
		t.remove(e)
	}
	t.closedQ = t.closedQ[i:]
}

func (t *Table) remove(e *entry) {
	e.gone = true
	t.n--
	es := t.m[e.k]
	for i, x := range es {
		if x == e {
			es = append(es[:i:i], es[i+1:]...)
			break
		}
	}
	if len(es) == 0 {
		delete(t.m, e.k)
	} else {
		t.m[e.k] = es
	}
	if e.closed.IsZero() {
		bs := t.bySock[e.sock]
		for i, x := range bs {
			if x == e {
				bs = append(bs[:i:i], bs[i+1:]...)
				break
			}
		}
		if len(bs) == 0 {
			delete(t.bySock, e.sock)
		} else {
			t.bySock[e.sock] = bs
		}
	}
}

func compact(es []*entry) []*entry {
	out := es[:0]
	for _, e := range es {
		if !e.gone {
			out = append(out, e)
		}
	}
	clear(es[len(out):])
	return out
}

// Lookup returns the process of the socket of a flow between a and b with
// protocol proto (6 or 17) whose packets were seen from first to last.
// Either end may be the local one. The most precise match wins: both
// endpoints, then the local port with the remote endpoint (unconnected UDP
// sockets), then a bound or listening socket on either end.
func (t *Table) Lookup(a, b netip.AddrPort, proto uint8, first, last time.Time) (flows.Process, bool) {
	if proto != 6 && proto != 17 {
		return flows.Process{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ea, eb := endpointOf(a), endpointOf(b)
	keys := [...]key{
		pairKey(ea, eb, proto),
		halfKey(eb.port, ea, proto), // b local (a flow's dst is usually the server: try it first)
		halfKey(ea.port, eb, proto),
		boundKey(eb, proto),
		boundKey(endpoint{port: eb.port}, proto),
		boundKey(ea, proto),
		boundKey(endpoint{port: ea.port}, proto),
	}
	for _, k := range keys {
		if e := pick(t.m[k], first, last); e != nil {
			return e.proc, true
		}
	}
	return flows.Process{}, false
}

// pick chooses among the sockets of one key (oldest first) the one of a
// flow seen from first to last: among those that existed during the flow,
// the newest that started before the flow did, else the oldest.
func pick(es []*entry, first, last time.Time) *entry {
	var early, late *entry
	for _, e := range es {
		if e.start.After(last.Add(slack)) || (!e.closed.IsZero() && e.closed.Before(first.Add(-slack))) {
			continue
		}
		if !e.start.After(first.Add(slack)) {
			early = e
		} else if late == nil {
			late = e
		}
	}
	if early != nil {
		return early
	}
	return late
}

// Annotate attributes f to the process of its socket ([flows.Flow.SetProcess])
// and reports whether it found one. When f ended so recently that the
// backend may not have reported its socket yet, it waits (at most
// MaxWait) for the backend to catch up with f's last packet.
func (t *Table) Annotate(f *flows.Flow) bool {
	proto := f.Protocol()
	if proto != 6 && proto != 17 {
		return false
	}
	a := netip.AddrPortFrom(f.SrcAddr(), f.SrcPort())
	b := netip.AddrPortFrom(f.DstAddr(), f.DstPort())
	first := time.UnixMilli(int64(f.Bidirectional.FirstSeenMs))
	last := time.UnixMilli(int64(f.Bidirectional.LastSeenMs))
	p, ok := t.Lookup(a, b, proto, first, last)
	if !ok && t.wait(last.Add(t.o.Lag)) {
		p, ok = t.Lookup(a, b, proto, first, last)
	}
	if ok {
		f.SetProcess(p)
	}
	return ok
}

// wait waits until the backend has caught up with tm, at most MaxWait, and
// reports whether it waited for anything.
func (t *Table) wait(tm time.Time) bool {
	if t.o.MaxWait < 0 {
		return false
	}
	var timer *time.Timer
	for {
		t.mu.Lock()
		if !t.caught.Before(tm) || t.stalled {
			t.mu.Unlock()
			return timer != nil
		}
		c := t.caughtC
		t.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(t.o.MaxWait)
			defer timer.Stop()
		}
		select {
		case <-c:
		case <-timer.C:
			t.mu.Lock()
			t.stalled = true
			t.mu.Unlock()
			return true
		}
	}
}
