package capgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
)

// A conformance mix is real traffic for benchmarks with deep packet
// inspection: the Ethernet captures of a corpus (NFStream's and nDPI's test
// captures) concatenated, then repeated as often as needed, every copy
// with rewritten addresses so that its flows are new flows.

// MaxGap is the largest gap between consecutive packets of a corpus file
// kept in a conformance mix. Longer silences (a few files span years) are
// shortened to it, which keeps a mix of tens of copies within the 32-bit
// seconds of a pcap file; a gap of an hour already exceeds the idle and
// active timeouts of every meter measured, so nothing is lost.
const MaxGap = time.Hour

// copyGap is the silence between two files, and between two copies.
const copyGap = int64(time.Second / time.Microsecond)

// mixPacket is one frame of the corpus.
type mixPacket struct {
	us      int64 // timestamp relative to the start of the copy, µs
	wireLen uint32
	data    []byte
}

// ConformanceCorpus is the Ethernet captures of a directory, loaded in
// memory and laid end to end on one timeline.
type ConformanceCorpus struct {
	// Files are the captures used, in order (base names).
	Files []string
	// Skipped are the captures left out and why: not Ethernet (link type
	// 1), unreadable or empty.
	Skipped []string
	// Truncated are the files whose reading stopped at an error; the
	// packets before it are used.
	Truncated []string
	// Start is the timestamp of the first packet (µs since the epoch).
	Start int64
	// Span is the time from the first to the last packet of one copy.
	Span time.Duration
	// Bytes is the sum of the captured lengths of one copy.
	Bytes int64

	pkts    []mixPacket
	snapLen uint32
}

// Packets returns the number of frames of one copy of the corpus.
func (c *ConformanceCorpus) Packets() int { return len(c.pkts) }

// LoadConformanceCorpus reads every capture of dir (not its
// subdirectories), in name order, whose packets are all Ethernet. Each
// file is placed one second after the last packet of the previous one,
// gaps longer than [MaxGap] inside a file are shortened to MaxGap, and a
// packet older than the start of its file (timestamps going back) is
// moved to that start, so time never goes back across files.
func LoadConformanceCorpus(dir string) (*ConformanceCorpus, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("conformance corpus: %w", err)
	}
	c := &ConformanceCorpus{}
	var t int64 // start of the next file on the corpus timeline
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		pkts, why, readErr := loadEthernet(path)
		if why != "" {
			c.Skipped = append(c.Skipped, e.Name()+": "+why)
			continue
		}
		if readErr != nil {
			c.Truncated = append(c.Truncated, e.Name()+": "+readErr.Error())
		}
		if len(c.pkts) == 0 {
			c.Start = pkts[0].us
		}
		end := place(pkts, t)
		t = end + copyGap
		for i := range pkts {
			c.Bytes += int64(len(pkts[i].data))
			c.snapLen = max(c.snapLen, uint32(len(pkts[i].data)))
		}
		c.pkts = append(c.pkts, pkts...)
		c.Files = append(c.Files, e.Name())
	}
	if len(c.pkts) == 0 {
		return nil, fmt.Errorf("conformance corpus %s: no Ethernet capture", dir)
	}
	c.Span = time.Duration(t-copyGap) * time.Microsecond
	return c, nil
}

// loadEthernet reads the packets of one capture with their absolute
// timestamps. why is not empty when the file is left out; readErr is the
// error that stopped the reading of a file kept with the packets before it.
func loadEthernet(path string) (pkts []mixPacket, why string, readErr error) {
	r, err := pcapreplay.Open(path)
	if err != nil {
		return nil, "cannot open: " + err.Error(), nil
	}
	defer r.Close()
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if p.LinkType != linkTypeEther {
			return nil, fmt.Sprintf("link type %d, not Ethernet", p.LinkType), nil
		}
		pkts = append(pkts, mixPacket{us: p.Sec*1e6 + p.Usec, wireLen: p.WireLen, data: slices.Clone(p.Data)})
	}
	if len(pkts) == 0 {
		if readErr != nil {
			return nil, "no packet read: " + readErr.Error(), nil
		}
		return nil, "no packet", nil
	}
	return pkts, "", readErr
}

// place rewrites the absolute timestamps of one file's packets onto the
// corpus timeline, the first packet at start, and returns the latest
// timestamp. Gaps over MaxGap (measured from the latest packet so far)
// shrink to MaxGap; packets before start are moved to start.
func place(pkts []mixPacket, start int64) int64 {
	maxGap := int64(MaxGap / time.Microsecond)
	origin := pkts[0].us
	latest, shift, end := origin, int64(0), start
	for i := range pkts {
		us := pkts[i].us
		if gap := us - latest; gap > 0 {
			shift += max(gap-maxGap, 0)
			latest = us
		}
		pkts[i].us = max(start+us-origin-shift, start)
		end = max(end, pkts[i].us)
	}
	return end
}

// ConformanceMixSummary describes a written conformance mix.
type ConformanceMixSummary struct {
	Packets int64         // frames written
	Bytes   int64         // captured bytes written (record headers excluded)
	Copies  int           // copies of the corpus
	Span    time.Duration // first to last timestamp
}

// WriteConformanceMix writes whole copies of the corpus as a classic pcap
// file (little-endian, microsecond timestamps, Ethernet) until at least
// minPackets frames are written (one copy at least). Copy k (from 0) adds
// k to the 16-bit number formed by the second and third octets of the
// source and destination addresses of every IPv4 packet, and to bytes 2
// and 3 of both IPv6 addresses, behind any 802.1Q or 802.1ad tags and
// for the inner header of IPv4 or IPv6 tunnelled in IP; the IPv4 header
// checksum is updated, TCP and UDP checksums are not. Other frames are
// copied unchanged. Every copy starts one second after the last packet of
// the previous one.
func (c *ConformanceCorpus) WriteConformanceMix(w io.Writer, minPackets int) (ConformanceMixSummary, error) {
	var sum ConformanceMixSummary
	copies := max(1, (minPackets+len(c.pkts)-1)/len(c.pkts))
	if copies > 1<<16 {
		return sum, fmt.Errorf("conformance mix: %d copies needed, at most %d possible", copies, 1<<16)
	}
	last := int64(c.Span / time.Microsecond)
	if end := c.Start + int64(copies)*(last+copyGap); end/1e6 > 1<<32-1 {
		return sum, fmt.Errorf("conformance mix: %d copies of %v overflow the 32-bit pcap timestamps", copies, c.Span)
	}
	bw := bufio.NewWriterSize(w, pcapBufSize)
	le := binary.LittleEndian
	var hdr [24]byte
	le.PutUint32(hdr[0:], pcapMagicMicro)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], max(c.snapLen, defaultSnapLen))
	le.PutUint32(hdr[20:], linkTypeEther)
	bw.Write(hdr[:])
	buf := make([]byte, c.snapLen)
	var rec [recordHeaderLen]byte
	for k := range copies {
		base := c.Start + int64(k)*(last+copyGap)
		for i := range c.pkts {
			p := &c.pkts[i]
			frame := buf[:len(p.data)]
			copy(frame, p.data)
			RewriteFrame(frame, uint16(k))
			us := base + p.us
			le.PutUint32(rec[0:], uint32(us/1e6))
			le.PutUint32(rec[4:], uint32(us%1e6))
			le.PutUint32(rec[8:], uint32(len(frame)))
			le.PutUint32(rec[12:], p.wireLen)
			bw.Write(rec[:])
			bw.Write(frame)
			sum.Packets++
			sum.Bytes += int64(len(frame))
		}
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("write conformance mix: %w", err)
	}
	sum.Copies = copies
	sum.Span = time.Duration(int64(copies-1)*(last+copyGap)+last) * time.Microsecond
	return sum, nil
}

// WriteConformanceMix loads the corpus of dir and writes a conformance mix
// of at least minPackets frames to w (see
// [ConformanceCorpus.WriteConformanceMix]).
func WriteConformanceMix(w io.Writer, dir string, minPackets int) (*ConformanceCorpus, ConformanceMixSummary, error) {
	c, err := LoadConformanceCorpus(dir)
	if err != nil {
		return nil, ConformanceMixSummary{}, err
	}
	sum, err := c.WriteConformanceMix(w, minPackets)
	return c, sum, err
}

// Ethernet types of the frames RewriteFrame understands.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	ether8021Q = 0x8100
	ether8021A = 0x88a8
	etherQinQ  = 0x9100
)

// RewriteFrame adds k to the 16-bit number of the second and third octets
// of both IPv4 addresses, or to bytes 2-3 of both IPv6 addresses, of an
// Ethernet frame, in place. It looks through 802.1Q/802.1ad tags and into
// IP-in-IP (IPv4 or IPv6 carried directly in IPv4 or IPv6), updates the
// IPv4 header checksum incrementally, and leaves other frames, and
// addresses beyond the captured bytes, alone. k = 0 changes nothing.
func RewriteFrame(frame []byte, k uint16) {
	if k == 0 {
		return
	}
	off := 12
	for tags := 0; off+2 <= len(frame) && tags < 8; tags++ {
		switch binary.BigEndian.Uint16(frame[off:]) {
		case ether8021Q, ether8021A, etherQinQ:
			off += 4
			continue
		case etherIPv4:
			rewriteIP(frame[off+2:], 4, k, 0)
		case etherIPv6:
			rewriteIP(frame[off+2:], 6, k, 0)
		}
		return
	}
}

// rewriteIP rewrites the addresses of the IP packet p of the given
// version, then those of an IP packet it carries directly.
func rewriteIP(p []byte, version int, k uint16, depth int) {
	if len(p) < 1 || int(p[0]>>4) != version || depth > 2 {
		return
	}
	var next []byte
	var proto byte
	switch version {
	case 4:
		if len(p) < 20 {
			return
		}
		// The checksum covers the four 16-bit words of the addresses.
		var old [4]uint16
		for i := range old {
			old[i] = binary.BigEndian.Uint16(p[12+2*i:])
		}
		add16(p[13:15], k)
		add16(p[17:19], k)
		sum := uint32(^binary.BigEndian.Uint16(p[10:]))
		for i := range old {
			sum += uint32(^old[i]) + uint32(binary.BigEndian.Uint16(p[12+2*i:]))
		}
		for sum > 0xffff {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
		ihl := int(p[0]&0x0f) * 4
		frag := binary.BigEndian.Uint16(p[6:]) & 0x1fff
		if ihl >= 20 && ihl <= len(p) && frag == 0 {
			proto, next = p[9], p[ihl:]
		}
	case 6:
		if len(p) < 40 {
			return
		}
		add16(p[10:12], k)
		add16(p[26:28], k)
		proto, next = p[6], p[40:]
	}
	switch proto {
	case 4:
		rewriteIP(next, 4, k, depth+1)
	case 41:
		rewriteIP(next, 6, k, depth+1)
	}
}

// add16 adds k to the big-endian 16-bit number in b.
func add16(b []byte, k uint16) {
	binary.BigEndian.PutUint16(b, binary.BigEndian.Uint16(b)+k)
}
