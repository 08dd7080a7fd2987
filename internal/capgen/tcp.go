package capgen

// TCP flag bits.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// tcpMSS returns the largest segment payload of f: 1460 bytes over
// IPv4, 1440 over IPv6, 12 less with the timestamps option.
func tcpMSS(f *flow) int {
	mss := 1460
	if f.bits&bitV6 != 0 {
		mss = 1440
	}
	if f.bits&bitTSOpt != 0 {
		mss -= 12
	}
	return mss
}

// tcp writes the next packet of a TCP flow into b and returns the frame
// length.
func (g *gen) tcp(b []byte, f *flow) int {
	k := f.sent
	if f.kind == kindTCPRefused {
		if k == 0 {
			f.cseq++
			return g.segment(b, f, false, tcpSYN, f.cseq-1, 0, 0)
		}
		return g.segment(b, f, true, tcpRST|tcpACK, 0, f.cseq, 0)
	}
	teardown := uint32(3)
	if f.bits&bitRST != 0 {
		teardown = 1
	}
	dataEnd := f.planned - teardown
	switch {
	case k == 0:
		f.cseq++
		return g.segment(b, f, false, tcpSYN, f.cseq-1, 0, 0)
	case k == 1:
		f.sseq++
		return g.segment(b, f, true, tcpSYN|tcpACK, f.sseq-1, f.cseq, 0)
	case k == 2:
		return g.segment(b, f, false, tcpACK, f.cseq, f.sseq, 0)
	case k < dataEnd:
		return g.tcpData(b, f, dataEnd-k)
	}
	switch k - dataEnd {
	case 0:
		if f.bits&bitRST != 0 {
			return g.segment(b, f, false, tcpRST|tcpACK, f.cseq, f.sseq, 0)
		}
		f.cseq++
		return g.segment(b, f, false, tcpFIN|tcpACK, f.cseq-1, f.sseq, 0)
	case 1:
		f.sseq++
		return g.segment(b, f, true, tcpFIN|tcpACK, f.sseq-1, f.cseq, 0)
	default:
		return g.segment(b, f, false, tcpACK, f.cseq, f.sseq, 0)
	}
}

// tcpData writes the next packet of the data phase, remaining packets
// before the teardown included: a data segment of the current sender, or
// an ACK of the receiver after every two full segments.
func (g *gen) tcpData(b []byte, f *flow, remaining uint32) int {
	if f.unacked >= 2 {
		f.unacked = 0
		if f.bits&bitServerPhase != 0 {
			return g.segment(b, f, false, tcpACK, f.cseq, f.sseq, 0)
		}
		return g.segment(b, f, true, tcpACK, f.sseq, f.cseq, 0)
	}
	if f.left == 0 {
		g.nextPhase(f, remaining)
	}
	f.left--
	fromServer := f.bits&bitServerPhase != 0
	mss := tcpMSS(f)
	var n int
	switch {
	case f.bits&bitInteractive != 0:
		n = g.r.between(36, 120)
	case f.bits&bitBulkPhase != 0:
		f.unacked++
		n = mss
		if f.left == 0 {
			n = g.r.between(1, mss)
		}
	default:
		n = g.r.between(120, 900)
	}
	if f.sent == 3 || f.sent == 4 {
		n = firstSegmentLen(f, fromServer, n)
	}
	flags := uint8(tcpACK)
	if f.left == 0 {
		flags |= tcpPSH
	}
	if fromServer {
		f.sseq += uint32(n)
		return g.segment(b, f, true, flags, f.sseq-uint32(n), f.cseq, n)
	}
	f.cseq += uint32(n)
	return g.segment(b, f, false, flags, f.cseq-uint32(n), f.sseq, n)
}

// nextPhase hands the data phase to the other side. The bulk side (the
// server, or the client of an upload) sends a random share of the
// remaining packets in full segments; the other side sends one request or
// reply segment.
func (g *gen) nextPhase(f *flow, remaining uint32) {
	f.bits ^= bitServerPhase
	f.bits &^= bitBulkPhase
	f.unacked = 0
	f.left = 1
	if f.bits&bitInteractive != 0 {
		return
	}
	server := f.bits&bitServerPhase != 0
	upload := f.bits&bitUpload != 0
	if server != upload {
		f.bits |= bitBulkPhase
		f.left = 1 + uint32(g.r.intn(int(max(remaining*2/3, 1))))
	}
}

// segment writes a TCP segment with n payload bytes and returns the frame
// length.
func (g *gen) segment(b []byte, f *flow, fromServer bool, flags uint8, seq, ack uint32, n int) int {
	ts := f.bits&bitTSOpt != 0
	hl := 20
	switch {
	case flags&tcpSYN != 0 && ts:
		hl = 40
	case flags&tcpSYN != 0:
		hl = 32
	case ts && flags&tcpRST == 0:
		hl = 32
	}
	l4 := l3(b, f, fromServer, protoTCP, hl+n)
	t := b[l4 : l4+hl]
	if fromServer {
		be.PutUint16(t[0:], f.sport)
		be.PutUint16(t[2:], f.cport)
	} else {
		be.PutUint16(t[0:], f.cport)
		be.PutUint16(t[2:], f.sport)
	}
	be.PutUint32(t[4:], seq)
	be.PutUint32(t[8:], ack)
	t[12] = byte(hl/4) << 4
	t[13] = flags
	win := uint16(502)
	switch {
	case flags&tcpRST != 0:
		win = 0
	case flags&tcpSYN != 0 && fromServer:
		win = 65160
	case flags&tcpSYN != 0:
		win = 64240
	case fromServer:
		win = 509
	}
	be.PutUint16(t[14:], win)
	be.PutUint32(t[16:], 0) // checksum (offloaded), urgent pointer
	if hl > 20 {
		putTCPOptions(t[20:], f, fromServer, flags, g.us)
	}
	p := b[l4+hl : l4+hl+n]
	g.fill(p)
	if n > 0 {
		g.tcpPayload(p, f, fromServer)
	}
	return l4 + hl + n
}

// putTCPOptions writes the options of a SYN (MSS, SACK permitted, window
// scale, timestamps if enabled) or the timestamps of another segment.
func putTCPOptions(o []byte, f *flow, fromServer bool, flags uint8, us int64) {
	tsval := f.ts + uint32(us/1000)
	tsecr := tsval - 1
	if fromServer {
		tsval, tsecr = tsval+0x5bd1e995, tsval-1
	}
	if flags&tcpSYN != 0 && flags&tcpACK == 0 {
		tsecr = 0
	}
	if flags&tcpSYN == 0 {
		o[0], o[1], o[2], o[3] = 1, 1, 8, 10 // NOP, NOP, timestamps
		be.PutUint32(o[4:], tsval)
		be.PutUint32(o[8:], tsecr)
		return
	}
	mss := uint16(tcpMSS(f) + 12*int(f.bits&bitTSOpt/bitTSOpt))
	o[0], o[1] = 2, 4 // MSS
	be.PutUint16(o[2:], mss)
	if f.bits&bitTSOpt != 0 {
		// Linux: MSS, SACK permitted, timestamps, NOP, window scale.
		o[4], o[5], o[6], o[7] = 4, 2, 8, 10
		be.PutUint32(o[8:], tsval)
		be.PutUint32(o[12:], tsecr)
		o[16], o[17], o[18], o[19] = 1, 3, 3, 7
		return
	}
	// Windows: MSS, NOP, window scale, NOP, NOP, SACK permitted.
	o[4], o[5], o[6], o[7] = 1, 3, 3, 8
	o[8], o[9], o[10], o[11] = 1, 1, 4, 2
}

// Application payload heads for the first data segments.
const (
	httpRequest  = "GET /assets/app.js HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n\r\n"
	httpResponse = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/javascript\r\nCache-Control: max-age=3600\r\nContent-Length: 1048576\r\n\r\n"
	sshClient    = "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"
	sshServer    = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n"
)

// firstSegmentLen returns the length of the first data segment of a side:
// the length of its HTTP request or SSH banner, n otherwise.
func firstSegmentLen(f *flow, fromServer bool, n int) int {
	switch {
	case f.sport == 80 && !fromServer && f.sent == 3:
		return len(httpRequest)
	case f.sport == 22 && !fromServer && f.sent == 3:
		return len(sshClient)
	case f.sport == 22 && fromServer && f.sent == 4:
		return len(sshServer)
	}
	return n
}

// tcpPayload dresses the payload p (already filled with noise) as the
// flow's application: HTTP on port 80, TLS records on 443 and 993, SSH
// banners on 22.
func (g *gen) tcpPayload(p []byte, f *flow, fromServer bool) {
	first := f.sent == 3 || (f.sent == 4 && fromServer)
	switch f.sport {
	case 80:
		if first && fromServer {
			copy(p, httpResponse)
		} else if first {
			copy(p, httpRequest)
		}
	case 22:
		if first && fromServer {
			copy(p, sshServer)
		} else if first {
			copy(p, sshClient)
		}
	case 443, 993:
		if len(p) < 5 {
			return
		}
		p[0], p[1], p[2] = 0x17, 3, 3 // application data
		if first {
			p[0] = 0x16 // handshake
			if !fromServer {
				p[2] = 1
			}
		}
		be.PutUint16(p[3:], uint16(len(p)-5))
	}
}
