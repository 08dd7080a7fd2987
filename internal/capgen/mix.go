package capgen

// The traffic mix: shares of flows by kind, and the shape of the heavy
// tail. TCP takes the rest.
const (
	shareDNS     = 0.30
	shareICMP    = 0.03
	shareQUIC    = 0.08
	shareRTP     = 0.02
	shareTCP     = 1 - shareDNS - shareICMP - shareQUIC - shareRTP
	shareDNS2    = 0.10 // DNS flows with a second (AAAA) query
	shareRefused = 0.04 // TCP connections answered by RST
	shareTCPRST  = 0.10 // TCP connections closed by RST
	shareUpload  = 0.10 // TCP connections whose client sends the bulk
	shareTSOpt   = 0.70 // TCP stacks using timestamps (Linux-like)
	shareV6      = 0.10
	shareVLAN    = 0.05

	tailAlpha = 1.2 // Pareto shape of the stream sizes
	tailLimit = 1e6 // cap of the Pareto variable
	rtpFactor = 4   // RTP calls are this many times longer
	quicBase  = 4   // handshake packets of a QUIC stream
	rtpBase   = 10  // shortest RTP call
)

// tailScale returns the multiplier of the heavy-tailed sizes that makes the
// mean planned flow size about mean packets.
func tailScale(mean float64) float64 {
	fixed := shareDNS*2*(1+shareDNS2) + shareICMP*2*3 + shareQUIC*quicBase + shareRTP*rtpBase +
		shareTCP*(shareRefused*2+(1-shareRefused)*(6-2*shareTCPRST))
	weight := shareQUIC + shareRTP*rtpFactor + shareTCP*(1-shareRefused)
	// Flooring the scaled variable loses half a packet on average.
	s := ((mean-fixed)/weight + 0.5) / paretoMean(tailAlpha, tailLimit)
	return max(s, 0.1)
}

// tail draws a heavy-tailed packet count.
func (g *gen) tail() uint32 {
	return uint32(min(g.scale*g.r.pareto(tailAlpha, tailLimit), 1<<30))
}

// randomSpec draws the next flow of the mix.
func (g *gen) randomSpec() spec {
	r := &g.r
	var s spec
	if r.chance(shareV6) {
		s.bits |= bitV6
	}
	if r.chance(shareVLAN) {
		s.bits |= bitVLAN
	}
	u := r.float()
	switch {
	case u < shareDNS:
		s.kind, s.n = kindDNS, 1
		if r.chance(shareDNS2) {
			s.n = 2
		}
	case u < shareDNS+shareICMP:
		s.kind, s.n = kindICMP, uint32(r.between(1, 5))
	case u < shareDNS+shareICMP+shareQUIC:
		s.kind, s.n = kindQUIC, quicBase+g.tail()
	case u < shareDNS+shareICMP+shareQUIC+shareRTP:
		s.kind, s.n = kindRTP, rtpBase+rtpFactor*g.tail()
	default:
		g.tcpSpec(&s)
	}
	return s
}

// tcpSpec fills in a TCP connection: server port, stack, size, teardown.
func (g *gen) tcpSpec(s *spec) {
	r := &g.r
	s.kind = kindTCP
	switch u := r.float(); {
	case u < 0.65:
		s.port = 443
	case u < 0.85:
		s.port = 80
	case u < 0.88:
		s.port = 22
		s.bits |= bitInteractive
	case u < 0.90:
		s.port = 993
	case u < 0.93:
		s.port = 8080
	case u < 0.95:
		s.port = 25
	default:
		s.port = uint16(r.between(1024, 65535))
	}
	if r.chance(shareTSOpt) {
		s.bits |= bitTSOpt
	}
	if r.chance(shareRefused) {
		s.kind = kindTCPRefused
		return
	}
	s.n = g.tail()
	if r.chance(shareTCPRST) {
		s.bits |= bitRST
	}
	if r.chance(shareUpload) {
		s.bits |= bitUpload
	}
}
