package pcapreplay

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// appendOrder is a byte order that can also append.
type appendOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pcapBuilder writes classic pcap files for tests.
type pcapBuilder struct {
	order appendOrder
	buf   []byte
}

// newPcap starts a classic pcap file with the given header fields.
func newPcap(order appendOrder, magic uint32, major, minor uint16, snap, linkType uint32) *pcapBuilder {
	b := &pcapBuilder{order: order}
	b.buf = order.AppendUint32(b.buf, magic)
	b.buf = order.AppendUint16(b.buf, major)
	b.buf = order.AppendUint16(b.buf, minor)
	b.buf = order.AppendUint32(b.buf, 0) // thiszone
	b.buf = order.AppendUint32(b.buf, 0) // sigfigs
	b.buf = order.AppendUint32(b.buf, snap)
	b.buf = order.AppendUint32(b.buf, linkType)
	return b
}

// newLEPcap starts a little-endian microsecond pcap 2.4 file.
func newLEPcap(snap, linkType uint32) *pcapBuilder {
	return newPcap(binary.LittleEndian, magicMicro, 2, 4, snap, linkType)
}

// record appends a record whose data is len(data) bytes.
func (b *pcapBuilder) record(sec, frac uint32, wireLen uint32, data []byte) *pcapBuilder {
	return b.recordLens(sec, frac, uint32(len(data)), wireLen, data)
}

// recordLens appends a record with explicit length fields.
func (b *pcapBuilder) recordLens(sec, frac, capLen, wireLen uint32, data []byte) *pcapBuilder {
	b.buf = b.order.AppendUint32(b.buf, sec)
	b.buf = b.order.AppendUint32(b.buf, frac)
	b.buf = b.order.AppendUint32(b.buf, capLen)
	b.buf = b.order.AppendUint32(b.buf, wireLen)
	b.buf = append(b.buf, data...)
	return b
}

// raw appends arbitrary bytes.
func (b *pcapBuilder) raw(p []byte) *pcapBuilder {
	b.buf = append(b.buf, p...)
	return b
}

func (b *pcapBuilder) bytes() []byte { return b.buf }

// ngBuilder writes pcapng files for tests.
type ngBuilder struct {
	order appendOrder
	buf   []byte
}

// newNg starts a pcapng file with a version 1.0 section header.
func newNg(order appendOrder) *ngBuilder {
	b := &ngBuilder{order: order}
	return b.shb(1, 0)
}

// block appends a block with the given body, padded to 4 bytes.
func (b *ngBuilder) block(typ uint32, body []byte) *ngBuilder {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	b.buf = b.order.AppendUint32(b.buf, typ)
	b.buf = b.order.AppendUint32(b.buf, total)
	b.buf = append(b.buf, body...)
	b.buf = b.order.AppendUint32(b.buf, total)
	return b
}

// shb appends a section header block.
func (b *ngBuilder) shb(major, minor uint16) *ngBuilder {
	var body []byte
	body = b.order.AppendUint32(body, byteOrderMagic)
	body = b.order.AppendUint16(body, major)
	body = b.order.AppendUint16(body, minor)
	body = b.order.AppendUint64(body, ^uint64(0))
	return b.block(blockSHB, body)
}

// ngOption is one IDB option.
type ngOption struct {
	code uint16
	val  []byte
}

// tsresol returns an if_tsresol option.
func tsresol(v byte) ngOption { return ngOption{code: optTSResol, val: []byte{v}} }

// idb appends an interface description block.
func (b *ngBuilder) idb(linkType uint16, snap uint32, opts ...ngOption) *ngBuilder {
	var body []byte
	body = b.order.AppendUint16(body, linkType)
	body = b.order.AppendUint16(body, 0)
	body = b.order.AppendUint32(body, snap)
	for _, o := range opts {
		body = b.order.AppendUint16(body, o.code)
		body = b.order.AppendUint16(body, uint16(len(o.val)))
		body = append(body, o.val...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0) // opt_endofopt
	}
	return b.block(blockIDB, body)
}

// tsoffset returns an if_tsoffset option in the builder's byte order.
func (b *ngBuilder) tsoffset(sec int64) ngOption {
	return ngOption{code: optTSOffset, val: b.order.AppendUint64(nil, uint64(sec))}
}

// epb appends an enhanced packet block.
func (b *ngBuilder) epb(ifID uint32, ts uint64, wireLen uint32, data []byte) *ngBuilder {
	return b.epbLens(ifID, ts, uint32(len(data)), wireLen, data)
}

// epbLens appends an enhanced packet block with an explicit caplen.
func (b *ngBuilder) epbLens(ifID uint32, ts uint64, capLen, wireLen uint32, data []byte) *ngBuilder {
	var body []byte
	body = b.order.AppendUint32(body, ifID)
	body = b.order.AppendUint32(body, uint32(ts>>32))
	body = b.order.AppendUint32(body, uint32(ts))
	body = b.order.AppendUint32(body, capLen)
	body = b.order.AppendUint32(body, wireLen)
	body = append(body, data...)
	return b.block(blockEPB, body)
}

// spb appends a simple packet block.
func (b *ngBuilder) spb(wireLen uint32, data []byte) *ngBuilder {
	body := b.order.AppendUint32(nil, wireLen)
	return b.block(blockSPB, append(body, data...))
}

// pb appends an obsolete packet block.
func (b *ngBuilder) pb(ifID uint16, ts uint64, wireLen uint32, data []byte) *ngBuilder {
	var body []byte
	body = b.order.AppendUint16(body, ifID)
	body = b.order.AppendUint16(body, 0)
	body = b.order.AppendUint32(body, uint32(ts>>32))
	body = b.order.AppendUint32(body, uint32(ts))
	body = b.order.AppendUint32(body, uint32(len(data)))
	body = b.order.AppendUint32(body, wireLen)
	body = append(body, data...)
	return b.block(blockPB, body)
}

// raw appends arbitrary bytes.
func (b *ngBuilder) raw(p []byte) *ngBuilder {
	b.buf = append(b.buf, p...)
	return b
}

func (b *ngBuilder) bytes() []byte { return b.buf }

// payload returns n deterministic bytes.
func payload(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return p
}

// mustWriteFile writes data to name in a fresh temporary directory and
// returns its path.
func mustWriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustOpen opens paths with Open and closes the reader at cleanup.
func mustOpen(tb testing.TB, paths ...string) *Reader {
	tb.Helper()
	r, err := Open(paths...)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}
