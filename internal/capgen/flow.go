package capgen

// kind is the application pattern of a flow.
type kind uint8

const (
	kindTCP        kind = iota // handshake, request/response data, teardown
	kindTCPRefused             // SYN answered by RST
	kindDNS                    // UDP query/response pairs to a resolver
	kindQUIC                   // UDP/443 stream, mostly server to client
	kindRTP                    // UDP stream, both ways, fixed sizes
	kindICMP                   // echo request/reply pairs
)

// Flow option bits.
const (
	bitV6          = 1 << iota // IPv6 instead of IPv4
	bitVLAN                    // 802.1Q tagged
	bitTSOpt                   // TCP timestamps option (Linux-like stack)
	bitUpload                  // TCP: the client sends the bulk data
	bitRST                     // TCP: torn down by a client RST instead of FINs
	bitInteractive             // TCP: small segments both ways (ssh-like)
	bitServerPhase             // TCP data phase: the server is sending
	bitBulkPhase               // TCP data phase: the current sender sends full segments
)

// spec is a planned flow before it starts.
type spec struct {
	kind kind
	bits uint8
	// n is the data-phase packet count (TCP), the packet count (QUIC,
	// RTP) or the number of request/response exchanges (DNS, ICMP).
	n    uint32
	port uint16 // server port; 0 picks the kind's usual one
}

// packets returns the planned number of packets of the flow.
func (s *spec) packets() uint32 {
	switch s.kind {
	case kindTCP:
		if s.bits&bitRST != 0 {
			return 4 + s.n
		}
		return 6 + s.n
	case kindTCPRefused:
		return 2
	case kindDNS, kindICMP:
		return 2 * s.n
	default:
		return s.n
	}
}

// flow is an active flow's state. It is kept small: Write holds
// Config.Concurrent of them.
type flow struct {
	id           uint64 // flow counter: makes the 5-tuple unique
	planned      uint32 // packets planned
	sent         uint32 // packets sent so far
	left         uint32 // TCP: data segments left in the current phase
	cseq, sseq   uint32 // TCP next sequence numbers; RTP/QUIC/DNS: per-flow randomness
	server       uint32 // index in the server pool
	ts           uint32 // TCP timestamp option base
	cport, sport uint16
	cipid, sipid uint16 // IPv4 identification per direction
	kind         kind
	bits         uint8
	unacked      uint8    // TCP: segments received since the last ACK
	sttl         uint8    // server-side TTL / hop limit
	_            [16]byte // pad to a cache line: slots are read at random
}

func (f *flow) done() bool { return f.sent >= f.planned }

// host returns the flow's client host index (65536 clients).
func (f *flow) host() uint32 { return uint32(f.id & 0xffff) }

// clientPort returns an ephemeral port that, with the host, is unique
// for the first 65536*28232 flows.
func clientPort(id uint64) uint16 {
	host := id & 0xffff
	return uint16(32768 + ((id>>16)+host*7919)%28232)
}
