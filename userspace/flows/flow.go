package flows

import (
	"math"
	"net/netip"
)

// DirStats are the post-mortem statistics of one direction (or both) of a
// flow. Mean and M2 are Welford's running values, replicated operation by
// operation from NFStream so that the floats are bit-identical.
type DirStats struct {
	MinPS, MaxPS     uint32
	MeanPS, M2PS     float64
	MinPIAT, MaxPIAT uint64
	MeanPIAT, M2PIAT float64
	// TCP flag counters: syn, cwr, ece, urg, ack, psh, rst, fin.
	Syn, Cwr, Ece, Urg, Ack, Psh, Rst, Fin uint64
}

func (s *DirStats) psInit(x uint32) {
	s.MinPS, s.MaxPS, s.MeanPS, s.M2PS = x, x, float64(x), 0
}

func (s *DirStats) psUpdate(x uint32, n uint64) {
	s.MaxPS = max(s.MaxPS, x)
	s.MinPS = min(s.MinPS, x)
	old := s.MeanPS
	s.MeanPS = old + (float64(x)-old)/float64(n)
	s.M2PS = s.M2PS + (float64(x)-old)*(float64(x)-s.MeanPS)
}

func (s *DirStats) piatInit(p uint64) {
	s.MinPIAT, s.MaxPIAT, s.MeanPIAT, s.M2PIAT = p, p, float64(p), 0
}

func (s *DirStats) piatUpdate(p uint64, n uint64) {
	s.MaxPIAT = max(s.MaxPIAT, p)
	s.MinPIAT = min(s.MinPIAT, p)
	old := s.MeanPIAT
	s.MeanPIAT = old + (float64(p)-old)/float64(n)
	s.M2PIAT = s.M2PIAT + (float64(p)-old)*(float64(p)-s.MeanPIAT)
}

func (s *DirStats) addFlags(f uint8) {
	s.Fin += uint64(f & 1)
	s.Syn += uint64(f >> 1 & 1)
	s.Rst += uint64(f >> 2 & 1)
	s.Psh += uint64(f >> 3 & 1)
	s.Ack += uint64(f >> 4 & 1)
	s.Urg += uint64(f >> 5 & 1)
	s.Ece += uint64(f >> 6 & 1)
	s.Cwr += uint64(f >> 7 & 1)
}

// StddevPS is the sample standard deviation of the sizes of n packets (0.0
// when n < 2), as NFStream exports it.
func (s *DirStats) StddevPS(n uint64) float64 {
	if n > 1 {
		return math.Sqrt(s.M2PS / float64(n-1))
	}
	return 0
}

// StddevPIAT is the sample standard deviation of the n-1 inter-arrival times
// of n packets (0.0 when n < 3).
func (s *DirStats) StddevPIAT(n uint64) float64 {
	if n > 2 {
		return math.Sqrt(s.M2PIAT / float64(n-2))
	}
	return 0
}

// Stats groups the three directions' statistics.
type Stats struct {
	Bi, S2D, D2S DirStats
}

// SPLT holds the early packet sequence (splt_analysis): direction, size and
// inter-arrival time of the first packets, -1 where there was no packet.
type SPLT struct {
	Direction []int8
	PS        []int32
	PIATms    []int64
}

// spltInline is an SPLT whose arrays live in the same allocation, for the
// usual short sequences.
type spltInline struct {
	SPLT
	dir  [spltInlineLen]int8
	ps   [spltInlineLen]int32
	piat [spltInlineLen]int64
}

const spltInlineLen = 16

// newSPLT returns an SPLT of n entries, all -1.
func newSPLT(n int) *SPLT {
	var s *SPLT
	if n <= spltInlineLen {
		in := &spltInline{}
		in.Direction, in.PS, in.PIATms = in.dir[:n], in.ps[:n], in.piat[:n]
		s = &in.SPLT
	} else {
		s = &SPLT{Direction: make([]int8, n), PS: make([]int32, n), PIATms: make([]int64, n)}
	}
	for i := range n {
		s.Direction[i], s.PS[i], s.PIATms[i] = -1, -1, -1
	}
	return s
}

// Dir is a direction of a flow: counters for one way or both. Times are
// 0 for a direction without packets.
type Dir struct {
	FirstSeenMs, LastSeenMs uint64
	Packets, Bytes          uint64
}

// DurationMs is LastSeenMs - FirstSeenMs.
func (d *Dir) DurationMs() uint64 { return d.LastSeenMs - d.FirstSeenMs }

// Flow is a bidirectional flow with NFStream's fields. While it is in the
// table it is owned by the metering goroutine (plugins see it there); once
// emitted it belongs to the receiver.
type Flow struct {
	// The fields a packet touches come first, to share cache lines.
	key    Key
	srcLo  bool // the first packet's sender is key.lo
	SrcMAC [6]byte
	DstMAC [6]byte

	Bidirectional, Src2Dst, Dst2Src Dir

	ID           uint64
	ExpirationID int64 // 0 idle (and end of capture), 1 active, -1 forced by a plugin

	Stats *Stats // nil unless statistical analysis is on
	SPLT  *SPLT  // nil unless splt analysis is on

	// Application fields (n_dissections > 0).
	App *AppInfo

	// UDPS holds plugin columns in first-assignment order.
	UDPS UDPS

	// next/prev link the table's creation order.
	next, prev *Flow
	hash       uint64        // Key.tableHash, the table slot's hash
	dpi        DissectorFlow // until classification is complete
}

// AppInfo is the nDPI classification of a flow.
type AppInfo struct {
	Name, CategoryName  string
	IsGuessed           int
	Confidence          int
	RequestedServerName string
	ClientFingerprint   string
	ServerFingerprint   string
	UserAgent           string
	ContentType         string
}

// Process is the local process that owned a flow's socket (NFStream's
// system visibility): its process id (tgid) and command name, as seen when
// the socket was used, so that a later process with the same id cannot
// rename it.
type Process struct {
	PID  int
	Name string
}

// Process returns the process system visibility attributed f to, and
// whether there is one. Without one, the columns hold NFStream's defaults
// (-1 and "").
func (f *Flow) Process() (Process, bool) {
	if f.UDPS.p == nil || !f.UDPS.p.hasProc {
		return Process{}, false
	}
	return f.UDPS.p.proc, true
}

// SetProcess attributes f to p (see userspace/sysvis).
func (f *Flow) SetProcess(p Process) {
	if f.UDPS.p == nil {
		f.UDPS.p = &udpsData{}
	}
	f.UDPS.p.proc, f.UDPS.p.hasProc = p, true
}

// SrcAddr returns the address of the first packet's sender.
func (f *Flow) SrcAddr() netip.Addr {
	if f.srcLo {
		return f.key.addr(true)
	}
	return f.key.addr(false)
}

// DstAddr returns the address the first packet was sent to.
func (f *Flow) DstAddr() netip.Addr { return f.key.addr(!f.srcLo) }

// SrcPort returns the source port of the first packet (0 for non TCP/UDP).
func (f *Flow) SrcPort() uint16 {
	if f.srcLo {
		return f.key.loPort()
	}
	return f.key.hiPort()
}

// DstPort returns the destination port of the first packet.
func (f *Flow) DstPort() uint16 {
	if f.srcLo {
		return f.key.hiPort()
	}
	return f.key.loPort()
}

// Protocol returns the IP protocol number.
func (f *Flow) Protocol() uint8 { return f.key.proto() }

// IPVersion returns 4 or 6.
func (f *Flow) IPVersion() uint8 { return f.key.ipv() }

// VLANID returns the innermost 802.1Q VLAN id, 0 if none.
func (f *Flow) VLANID() uint16 { return f.key.vlan() }

// TunnelID returns the tunnel the flow was decapsulated from (TunnelNone,
// TunnelGTP, TunnelCAPWAP, TunnelTZSP).
func (f *Flow) TunnelID() uint8 { return f.key.tunnel() }

// Key returns the flow's direction-agnostic key.
func (f *Flow) Key() Key { return f.key }
