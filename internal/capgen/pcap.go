package capgen

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	pcapMagicMicro  = 0xa1b2c3d4
	linkTypeEther   = 1
	defaultSnapLen  = 262144
	recordHeaderLen = 16
	maxFrameLen     = 1600 // largest frame built (1518 plus slack)
	pcapBufSize     = 1 << 20
)

// pcapWriter writes a classic little-endian microsecond pcap file through
// its own buffer. Frames are built in place in the buffer: [pcapWriter.frame]
// returns room for one and [pcapWriter.commit] adds its record header.
type pcapWriter struct {
	w    io.Writer
	buf  []byte
	n    int // bytes of buf in use
	snap int // 0: no truncation
	err  error
}

func newPcapWriter(w io.Writer, snap int) *pcapWriter {
	pw := &pcapWriter{w: w, buf: make([]byte, pcapBufSize), snap: snap}
	h := pw.buf[:24]
	le := binary.LittleEndian
	le.PutUint32(h[0:], pcapMagicMicro)
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[8:], 0)  // thiszone
	le.PutUint32(h[12:], 0) // sigfigs
	fileSnap := defaultSnapLen
	if snap > 0 {
		fileSnap = snap
	}
	le.PutUint32(h[16:], uint32(fileSnap))
	le.PutUint32(h[20:], linkTypeEther)
	pw.n = 24
	return pw
}

// frame returns maxFrameLen bytes of buffer for the next frame, flushing
// first if needed. The bytes hold stale data.
func (pw *pcapWriter) frame() []byte {
	if len(pw.buf)-pw.n < recordHeaderLen+maxFrameLen {
		pw.flush()
	}
	start := pw.n + recordHeaderLen
	return pw.buf[start : start+maxFrameLen : start+maxFrameLen]
}

// commit records the frame of length n built in the last frame() slice,
// with timestamp us (microseconds since the epoch).
func (pw *pcapWriter) commit(us int64, n int) {
	capLen := n
	if pw.snap > 0 && capLen > pw.snap {
		capLen = pw.snap
	}
	h := pw.buf[pw.n : pw.n+recordHeaderLen]
	le := binary.LittleEndian
	le.PutUint32(h[0:], uint32(us/1e6))
	le.PutUint32(h[4:], uint32(us%1e6))
	le.PutUint32(h[8:], uint32(capLen))
	le.PutUint32(h[12:], uint32(n))
	pw.n += recordHeaderLen + capLen
}

// flush writes the buffered bytes. The first error sticks and stops
// further writes.
func (pw *pcapWriter) flush() {
	if pw.n == 0 {
		return
	}
	if pw.err == nil {
		if _, err := pw.w.Write(pw.buf[:pw.n]); err != nil {
			pw.err = fmt.Errorf("write capture: %w", err)
		}
	}
	pw.n = 0
}
