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

func vu(u uint64) Value     { return Value{Kind: KindUint, U: u} }
func vi(i int64) Value      { return Value{Kind: KindInt, I: i} }
func vf(f float64) Value    { return Value{Kind: KindFloat, F: f} }
func vs(s string) Value     { return Value{Kind: KindString, S: s} }
func vints(x []int64) Value { return Value{Kind: KindInts, Ints: x} }

// Values appends f's values in schema order to dst.
func (f *Flow) Values(s *Schema, dst []Value) []Value {
	src, dst2 := f.SrcAddr(), f.DstAddr()
	smac, dmac := FormatMAC(f.SrcMAC), FormatMAC(f.DstMAC)
	dst = append(dst,
		vu(f.ID), vi(f.ExpirationID),
		vs(FormatAddr(src)), vs(smac), vs(smac[:8]), vu(uint64(f.SrcPort())),
		vs(FormatAddr(dst2)), vs(dmac), vs(dmac[:8]), vu(uint64(f.DstPort())),
		vu(uint64(f.Protocol())), vu(uint64(f.IPVersion())), vu(uint64(f.VLANID())))
	if s.Tunnels {
		dst = append(dst, vu(uint64(f.TunnelID())))
	}
	for _, d := range []*Dir{&f.Bidirectional, &f.Src2Dst, &f.Dst2Src} {
		dst = append(dst, vu(d.FirstSeenMs), vu(d.LastSeenMs), vu(d.DurationMs()), vu(d.Packets), vu(d.Bytes))
	}
	if s.Stats {
		st := f.Stats
		if st == nil {
			st = &Stats{}
		}
		type dirStat struct {
			s *DirStats
			n uint64
		}
		ds := []dirStat{{&st.Bi, f.Bidirectional.Packets}, {&st.S2D, f.Src2Dst.Packets}, {&st.D2S, f.Dst2Src.Packets}}
		for _, x := range ds {
			dst = append(dst, vu(uint64(x.s.MinPS)), vf(x.s.MeanPS), vf(x.s.StddevPS(x.n)), vu(uint64(x.s.MaxPS)))
		}
		for _, x := range ds {
			dst = append(dst, vu(x.s.MinPIAT), vf(x.s.MeanPIAT), vf(x.s.StddevPIAT(x.n)), vu(x.s.MaxPIAT))
		}
		for _, x := range ds {
			d := x.s
			dst = append(dst, vu(d.Syn), vu(d.Cwr), vu(d.Ece), vu(d.Urg), vu(d.Ack), vu(d.Psh), vu(d.Rst), vu(d.Fin))
		}
	}
	if s.SPLT > 0 {
		dir, ps, piat := make([]int64, s.SPLT), make([]int64, s.SPLT), make([]int64, s.SPLT)
		for i := range s.SPLT {
			dir[i], ps[i], piat[i] = -1, -1, -1
		}
		if sp := f.SPLT; sp != nil {
			for i := 0; i < s.SPLT && i < len(sp.Direction); i++ {
				dir[i], ps[i], piat[i] = int64(sp.Direction[i]), int64(sp.PS[i]), sp.PIATms[i]
			}
		}
		dst = append(dst, vints(dir), vints(ps), vints(piat))
	}
	if s.App {
		a := f.App
		if a == nil {
			a = &AppInfo{Name: "Unknown", CategoryName: "Unspecified"}
		}
		dst = append(dst, vs(a.Name), vs(a.CategoryName), vi(int64(a.IsGuessed)), vi(int64(a.Confidence)),
			vs(a.RequestedServerName), vs(a.ClientFingerprint), vs(a.ServerFingerprint), vs(a.UserAgent), vs(a.ContentType))
	}
	for _, u := range s.UDPS {
		v, ok := f.UDPS.Get(u)
		if !ok || v == nil {
			dst = append(dst, Value{})
			continue
		}
		dst = append(dst, Value{Kind: KindAny, A: v})
	}
	if s.Process {
		p, ok := f.Process()
		if !ok {
			p = Process{PID: -1}
		}
		dst = append(dst, vi(int64(p.PID)), vs(p.Name))
	}
	return dst
}

// FormatMAC formats a MAC address as NFStream does: lowercase, colon-separated.
func FormatMAC(m [6]byte) string { return string(AppendMAC(nil, m)) }

// AppendMAC appends m formatted like [FormatMAC].
func AppendMAC(b []byte, m [6]byte) []byte {
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
