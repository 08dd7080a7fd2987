package flows

import "net/netip"

// Kind is the type of a column value.
type Kind uint8

const (
	KindNone   Kind = iota // Python None: an empty CSV field
	KindUint               // U
	KindInt                // I
	KindFloat              // F
	KindString             // S
	KindBool               // B
	KindInts               // Ints (a Python list of int)
	KindAny                // A (plugin value of any Go type)
)

// Value is one column value of a flow, typed so that every exporter can
// format it its own way without reflection on the hot path.
type Value struct {
	Kind Kind
	U    uint64
	I    int64
	F    float64
	S    string
	B    bool
	Ints []int64
	A    any
}

// Schema is the ordered column list of a flow stream (NFStream §5.1). It is
// fixed by the options and, for plugin columns, by the first flow.
type Schema struct {
	Tunnels bool
	Stats   bool
	SPLT    int
	App     bool
	UDPS    []string
	// Process adds system_process_pid and system_process_name after the
	// plugin columns (system_visibility_mode 1).
	Process bool
	Names   []string
}

// UDPSStart is the index in Names of the first plugin column; plugin
// columns are Names[UDPSStart():UDPSStart()+len(UDPS)].
func (s *Schema) UDPSStart() int {
	n := len(s.Names) - len(s.UDPS)
	if s.Process {
		n -= len(colsProcess)
	}
	return n
}

var (
	colsHead = []string{"id", "expiration_id", "src_ip", "src_mac", "src_oui", "src_port", "dst_ip", "dst_mac",
		"dst_oui", "dst_port", "protocol", "ip_version", "vlan_id"}
	colsTimes = []string{"first_seen_ms", "last_seen_ms", "duration_ms", "packets", "bytes"}
	colsApp   = []string{"application_name", "application_category_name", "application_is_guessed",
		"application_confidence", "requested_server_name", "client_fingerprint", "server_fingerprint",
		"user_agent", "content_type"}
	colsProcess = []string{"system_process_pid", "system_process_name"}
	dirPrefixes = []string{"bidirectional_", "src2dst_", "dst2src_"}
	flagNames   = []string{"syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin"}
)

// NewSchema returns the columns of flows produced with o; first supplies the
// plugin column names (nil when there are none).
func NewSchema(o *Options, first *Flow) *Schema {
	s := &Schema{Tunnels: o.DecodeTunnels, Stats: o.StatisticalAnalysis, SPLT: o.SPLTAnalysis, App: o.NDissections > 0,
		Process: o.SystemVisibilityMode == 1}
	if first != nil {
		s.UDPS = append([]string(nil), first.UDPS.Names()...)
	}
	n := append([]string(nil), colsHead...)
	if s.Tunnels {
		n = append(n, "tunnel_id")
	}
	for _, p := range dirPrefixes {
		for _, c := range colsTimes {
			n = append(n, p+c)
		}
	}
	if s.Stats {
		for _, p := range dirPrefixes {
			n = append(n, p+"min_ps", p+"mean_ps", p+"stddev_ps", p+"max_ps")
		}
		for _, p := range dirPrefixes {
			n = append(n, p+"min_piat_ms", p+"mean_piat_ms", p+"stddev_piat_ms", p+"max_piat_ms")
		}
		for _, p := range dirPrefixes {
			for _, fl := range flagNames {
				n = append(n, p+fl+"_packets")
			}
		}
	}
	if s.SPLT > 0 {
		n = append(n, "splt_direction", "splt_ps", "splt_piat_ms")
	}
	if s.App {
		n = append(n, colsApp...)
	}
	for _, u := range s.UDPS {
		n = append(n, "udps."+u)
	}
	if s.Process {
		n = append(n, colsProcess...)
	}
	s.Names = n
	return s
}

// Values appends f's values in schema order to dst: [Flow.Walk] as
// [Value]s, for code that wants the row as data (plugins, tests, the
// generic paths of the exporters). It allocates the strings and lists.
func (f *Flow) Values(s *Schema, dst []Value) []Value {
	w := valueWriter{dst: dst}
	f.Walk(s, &w)
	return w.dst
}

// valueWriter is the [ColumnWriter] behind [Flow.Values].
type valueWriter struct{ dst []Value }

func (w *valueWriter) Uint(v uint64)   { w.dst = append(w.dst, Value{Kind: KindUint, U: v}) }
func (w *valueWriter) Int(v int64)     { w.dst = append(w.dst, Value{Kind: KindInt, I: v}) }
func (w *valueWriter) Float(v float64) { w.dst = append(w.dst, Value{Kind: KindFloat, F: v}) }
func (w *valueWriter) String(t Text)   { w.dst = append(w.dst, Value{Kind: KindString, S: t.String()}) }
func (w *valueWriter) Any(v any)       { w.dst = append(w.dst, Value{Kind: KindAny, A: v}) }
func (w *valueWriter) None()           { w.dst = append(w.dst, Value{}) }
func (w *valueWriter) Ints(l IntList) {
	w.dst = append(w.dst, Value{Kind: KindInts, Ints: l.AppendTo(make([]int64, 0, l.Len()))})
}

// FormatMAC formats a MAC address as NFStream does: lowercase, colon-separated.
func FormatMAC(m [6]byte) string { return string(AppendMAC(nil, m)) }

// AppendMAC appends m formatted like [FormatMAC].
func AppendMAC(b []byte, m [6]byte) []byte { return appendHexColons(b, m[:]) }

// appendHexColons appends m as colon-separated lowercase hex bytes.
func appendHexColons(b []byte, m []byte) []byte {
	const hex = "0123456789abcdef"
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[x>>4], hex[x&0xf])
	}
	return b
}

// FormatAddr formats an address like glibc's inet_ntop, which NFStream uses:
// IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) IPv6
// addresses keep their dotted tail, unlike netip.Addr.String for the latter.
func FormatAddr(a netip.Addr) string { return string(AppendAddr(nil, a)) }

// AppendAddr appends a formatted like [FormatAddr].
func AppendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		return a.AppendTo(b)
	}
	x := a.As16()
	if x == [16]byte{} || [10]byte(x[:10]) != [10]byte{} {
		return a.AppendTo(b)
	}
	tail := netip.AddrFrom4([4]byte(x[12:16]))
	switch {
	case x[10] == 0xff && x[11] == 0xff:
		return tail.AppendTo(append(b, "::ffff:"...))
	case x[10] == 0 && x[11] == 0 && (x[12] != 0 || x[13] != 0):
		return tail.AppendTo(append(b, "::"...))
	}
	return a.AppendTo(b)
}
