package flows

import (
	"net/netip"
	"strconv"
)

// ColumnWriter receives a flow's column values from [Flow.Walk], one call
// per column of the [Schema], in the order of [Schema.Names]. Every
// exporter implements it; the walk alone decides the order of the columns
// and their defaults, so a format never repeats them. A writer that needs
// the column index (its name, its type) counts the calls.
//
// Values passed to a call are only valid during the call: a writer that
// keeps a [Text] or an [IntList] must copy what it needs.
type ColumnWriter interface {
	// Uint is an unsigned integer column (ids, counters, times, ports).
	Uint(v uint64)
	// Int is a signed integer column (expiration_id, the application
	// flags, system_process_pid).
	Int(v int64)
	// Float is a floating-point column (the means and deviations of the
	// statistics).
	Float(v float64)
	// String is a text column: an address, a MAC address, an OUI, an
	// application label or a process name.
	String(t Text)
	// Ints is a list of integers (the SPLT columns).
	Ints(l IntList)
	// Any is a plugin column's value (never nil).
	Any(v any)
	// None is a plugin column without a value, or whose value is nil
	// (Python's None).
	None()
}

// Text is a text column value that [Flow.Walk] hands over unformatted, so
// that walking a flow allocates nothing: a string, an IP address (formatted
// like [FormatAddr]), a MAC address ([FormatMAC]) or the OUI of one (the
// first 8 characters of its [FormatMAC]). The zero value is "".
type Text struct {
	s    string
	addr netip.Addr
	mac  [6]byte
	kind textKind
}

type textKind uint8

const (
	textString textKind = iota
	textAddr
	textMAC
	textOUI
)

// StringText returns the [Text] holding s.
func StringText(s string) Text { return Text{s: s} }

// AppendTo appends the text to b.
func (t Text) AppendTo(b []byte) []byte {
	switch t.kind {
	case textAddr:
		return AppendAddr(b, t.addr)
	case textMAC:
		return AppendMAC(b, t.mac)
	case textOUI:
		return appendHexColons(b, t.mac[:3])
	}
	return append(b, t.s...)
}

// String returns the text (allocating for addresses and MAC addresses).
func (t Text) String() string {
	if t.kind == textString {
		return t.s
	}
	var tmp [64]byte
	return string(t.AppendTo(tmp[:0]))
}

// IntList is a list column value: one of the three SPLT arrays of a flow,
// padded with -1 to the schema's length, or a list of [IntListOf].
type IntList struct {
	ints []int64
	sp   *SPLT
	col  uint8 // 0 direction, 1 packet size, 2 inter-arrival time
	n    int
}

// IntListOf returns the [IntList] holding x.
func IntListOf(x []int64) IntList { return IntList{ints: x, n: len(x)} }

// Len returns the number of elements.
func (l IntList) Len() int { return l.n }

// At returns element i (0 <= i < Len()): -1 past the flow's packets.
func (l IntList) At(i int) int64 {
	if l.ints != nil {
		return l.ints[i]
	}
	sp := l.sp
	if sp == nil || i >= len(sp.Direction) {
		return -1
	}
	switch l.col {
	case 0:
		return int64(sp.Direction[i])
	case 1:
		return int64(sp.PS[i])
	}
	return sp.PIATms[i]
}

// AppendTo appends the elements to b.
func (l IntList) AppendTo(b []int64) []int64 {
	i := 0
	switch sp := l.sp; {
	case l.ints != nil:
		return append(b, l.ints[:l.n]...)
	case sp == nil:
	case l.col == 0:
		for ; i < l.n && i < len(sp.Direction); i++ {
			b = append(b, int64(sp.Direction[i]))
		}
	case l.col == 1:
		for ; i < l.n && i < len(sp.PS); i++ {
			b = append(b, int64(sp.PS[i]))
		}
	default:
		for ; i < l.n && i < len(sp.PIATms); i++ {
			b = append(b, sp.PIATms[i])
		}
	}
	for ; i < l.n; i++ {
		b = append(b, -1)
	}
	return b
}

// AppendPy appends the list as Python's str() prints it: "[1, -1]".
func (l IntList) AppendPy(b []byte) []byte {
	b = append(b, '[')
	i := 0
	switch sp := l.sp; {
	case l.ints != nil:
		for ; i < l.n; i++ {
			b = appendListInt(b, i, l.ints[i])
		}
	case sp == nil:
	case l.col == 0:
		for ; i < l.n && i < len(sp.Direction); i++ {
			b = appendListInt(b, i, int64(sp.Direction[i]))
		}
	case l.col == 1:
		for ; i < l.n && i < len(sp.PS); i++ {
			b = appendListInt(b, i, int64(sp.PS[i]))
		}
	default:
		for ; i < l.n && i < len(sp.PIATms); i++ {
			b = appendListInt(b, i, sp.PIATms[i])
		}
	}
	for ; i < l.n; i++ {
		b = appendListInt(b, i, -1)
	}
	return append(b, ']')
}

// appendListInt appends element i of a list, after a separator but for
// the first.
func appendListInt(b []byte, i int, v int64) []byte {
	if i > 0 {
		b = append(b, ',', ' ')
	}
	if v == -1 {
		return append(b, '-', '1')
	}
	return strconv.AppendInt(b, v, 10)
}

// Walk passes f's column values under schema s to w, in schema order: the
// one definition of the columns that [Flow.Values] and every exporter
// share. Absent parts take NFStream's defaults: zero statistics, SPLT
// arrays of -1, application "Unknown"/"Unspecified", process id -1 and an
// empty name, None for a plugin value the flow lacks. It allocates
// nothing.
func (f *Flow) Walk(s *Schema, w ColumnWriter) {
	w.Uint(f.ID)
	w.Int(f.ExpirationID)
	w.String(Text{addr: f.SrcAddr(), kind: textAddr})
	w.String(Text{mac: f.SrcMAC, kind: textMAC})
	w.String(Text{mac: f.SrcMAC, kind: textOUI})
	w.Uint(uint64(f.SrcPort()))
	w.String(Text{addr: f.DstAddr(), kind: textAddr})
	w.String(Text{mac: f.DstMAC, kind: textMAC})
	w.String(Text{mac: f.DstMAC, kind: textOUI})
	w.Uint(uint64(f.DstPort()))
	w.Uint(uint64(f.Protocol()))
	w.Uint(uint64(f.IPVersion()))
	w.Uint(uint64(f.VLANID()))
	if s.Tunnels {
		w.Uint(uint64(f.TunnelID()))
	}
	for _, d := range [3]*Dir{&f.Bidirectional, &f.Src2Dst, &f.Dst2Src} {
		w.Uint(d.FirstSeenMs)
		w.Uint(d.LastSeenMs)
		w.Uint(d.DurationMs())
		w.Uint(d.Packets)
		w.Uint(d.Bytes)
	}
	if s.Stats {
		walkStats(f, w)
	}
	if s.SPLT > 0 {
		for col := range uint8(3) {
			w.Ints(IntList{sp: f.SPLT, col: col, n: s.SPLT})
		}
	}
	if s.App {
		a := f.App
		if a == nil {
			a = &unknownApp
		}
		w.String(Text{s: a.Name})
		w.String(Text{s: a.CategoryName})
		w.Int(int64(a.IsGuessed))
		w.Int(int64(a.Confidence))
		w.String(Text{s: a.RequestedServerName})
		w.String(Text{s: a.ClientFingerprint})
		w.String(Text{s: a.ServerFingerprint})
		w.String(Text{s: a.UserAgent})
		w.String(Text{s: a.ContentType})
	}
	for _, u := range s.UDPS {
		if v, ok := f.UDPS.Get(u); ok && v != nil {
			w.Any(v)
		} else {
			w.None()
		}
	}
	if s.Process {
		p, ok := f.Process()
		if !ok {
			p = Process{PID: -1}
		}
		w.Int(int64(p.PID))
		w.String(Text{s: p.Name})
	}
}

// unknownApp is the application of a flow nDPI has not classified. It is
// only read.
var unknownApp = AppInfo{Name: "Unknown", CategoryName: "Unspecified"}

// zeroStats are the statistics of a flow without any. They are only read.
var zeroStats Stats

// walkStats passes the statistics columns: sizes, inter-arrival times and
// TCP flag counters, each for both directions, src2dst and dst2src.
func walkStats(f *Flow, w ColumnWriter) {
	st := f.Stats
	if st == nil {
		st = &zeroStats
	}
	ds := [3]*DirStats{&st.Bi, &st.S2D, &st.D2S}
	ns := [3]uint64{f.Bidirectional.Packets, f.Src2Dst.Packets, f.Dst2Src.Packets}
	for i, d := range ds {
		w.Uint(uint64(d.MinPS))
		w.Float(d.MeanPS)
		w.Float(d.StddevPS(ns[i]))
		w.Uint(uint64(d.MaxPS))
	}
	for i, d := range ds {
		w.Uint(d.MinPIAT)
		w.Float(d.MeanPIAT)
		w.Float(d.StddevPIAT(ns[i]))
		w.Uint(d.MaxPIAT)
	}
	for _, d := range ds {
		w.Uint(d.Syn)
		w.Uint(d.Cwr)
		w.Uint(d.Ece)
		w.Uint(d.Urg)
		w.Uint(d.Ack)
		w.Uint(d.Psh)
		w.Uint(d.Rst)
		w.Uint(d.Fin)
	}
}

// WalkValues passes vals, a row taken by [Flow.Values], to w as
// [Flow.Walk] would have: a format that implements [ColumnWriter] needs
// no other code for rows held as values. A bool (which no column of Walk
// has) is passed to Any.
func WalkValues(vals []Value, w ColumnWriter) {
	for i := range vals {
		switch v := &vals[i]; v.Kind {
		case KindUint:
			w.Uint(v.U)
		case KindInt:
			w.Int(v.I)
		case KindFloat:
			w.Float(v.F)
		case KindString:
			w.String(Text{s: v.S})
		case KindBool:
			w.Any(v.B)
		case KindInts:
			w.Ints(IntListOf(v.Ints))
		case KindAny:
			if v.A != nil {
				w.Any(v.A)
				break
			}
			w.None()
		default:
			w.None()
		}
	}
}
