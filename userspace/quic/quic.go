// Package quic recovers the TLS ClientHello that a QUIC client sends in its
// Initial packets: it removes header protection, decrypts the payload with
// the Initial keys derived from the destination connection id (RFC 9001
// §5), and reassembles CRYPTO frames that arrive split over packets or out
// of order. nDPI 4.2 cannot do the reassembly; nDPI 4.7 (NFStream's) can,
// so nfmeter does it here to fill the same columns.
package quic

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// Initial salts by version (RFC 9001 §5.2 and the drafts).
var (
	saltV1      = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltDraft29 = []byte{0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}
	saltDraft23 = []byte{0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02}
)

func saltFor(version uint32) []byte {
	switch {
	case version == 1:
		return saltV1
	case version >= 0xff00001d && version <= 0xff000020:
		return saltDraft29
	case version >= 0xff000017 && version <= 0xff00001c:
		return saltDraft23
	}
	return nil
}

// maxCrypto bounds the reassembled CRYPTO stream (a ClientHello is a few KB).
const maxCrypto = 64 << 10

// Assembler collects the client's Initial CRYPTO data of one connection.
// The zero value is ready to use. It is not safe for concurrent use.
type Assembler struct {
	seen    bool   // a decryptable client Initial was seen
	buf     []byte // CRYPTO stream, offsets [0, len(buf))
	have    []bool // which bytes of buf were received
	hello   []byte
	dcid    []byte
	key, iv []byte
	hp      cipher.Block
	aead    cipher.AEAD
	version uint32
}

// Pending reports that a client Initial was seen but the ClientHello is
// not complete yet.
func (a *Assembler) Pending() bool { return a.seen && a.hello == nil }

// ClientHello returns the complete handshake message (type, length, body),
// or nil.
func (a *Assembler) ClientHello() []byte { return a.hello }

// AddDatagram processes one UDP payload, which may hold several coalesced
// QUIC packets. Anything that is not a decryptable client Initial is
// ignored.
func (a *Assembler) AddDatagram(p []byte) {
	for len(p) > 0 && a.hello == nil {
		n := a.addPacket(p)
		if n <= 0 || n > len(p) {
			return
		}
		p = p[n:]
	}
}

func readVarint(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	l := 1 << (b[0] >> 6)
	if len(b) < l {
		return 0, 0
	}
	v := uint64(b[0] & 0x3f)
	for i := 1; i < l; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, l
}

// addPacket handles one long-header packet and returns its length.
func (a *Assembler) addPacket(p []byte) int {
	if len(p) < 7 || p[0]&0x80 == 0 {
		return 0
	}
	version := binary.BigEndian.Uint32(p[1:5])
	salt := saltFor(version)
	if salt == nil {
		return 0
	}
	// Initial is long-header type 0.
	isInitial := (p[0]>>4)&3 == 0
	off := 5
	dl := int(p[off])
	off++
	if off+dl > len(p) {
		return 0
	}
	dcid := p[off : off+dl]
	off += dl
	if off >= len(p) {
		return 0
	}
	sl := int(p[off])
	off += 1 + sl
	if off > len(p) {
		return 0
	}
	if isInitial {
		tl, n := readVarint(p[off:])
		if n == 0 || uint64(len(p)-off-n) < tl {
			return 0
		}
		off += n + int(tl)
	}
	length, n := readVarint(p[off:])
	if n == 0 {
		return 0
	}
	off += n
	if uint64(len(p)-off) < length {
		return 0
	}
	end := off + int(length)
	if !isInitial {
		return end
	}
	if err := a.setKeys(version, salt, dcid); err != nil {
		return end
	}
	a.decrypt(p[:end], off)
	return end
}

func expandLabel(secret []byte, label string, n int) []byte {
	info := make([]byte, 0, 4+6+len(label))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(6+len(label)))
	info = append(info, "tls13 "...)
	info = append(info, label...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		return nil
	}
	return out
}

func (a *Assembler) setKeys(version uint32, salt, dcid []byte) error {
	if a.aead != nil && a.version == version && string(a.dcid) == string(dcid) {
		return nil
	}
	if a.aead != nil {
		// Keys come from the client's first DCID; later Initials reuse it.
		return nil
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		return err
	}
	client := expandLabel(initial, "client in", 32)
	a.key = expandLabel(client, "quic key", 16)
	a.iv = expandLabel(client, "quic iv", 12)
	hpKey := expandLabel(client, "quic hp", 16)
	if a.key == nil || a.iv == nil || hpKey == nil {
		return errors.New("quic: key derivation")
	}
	blk, err := aes.NewCipher(a.key)
	if err != nil {
		return err
	}
	a.aead, err = cipher.NewGCM(blk)
	if err != nil {
		return err
	}
	a.hp, err = aes.NewCipher(hpKey)
	if err != nil {
		return err
	}
	a.version, a.dcid = version, append([]byte(nil), dcid...)
	return nil
}

// decrypt removes header protection from pkt (whose packet number starts
// at pnOff) and adds the CRYPTO frames of its payload.
func (a *Assembler) decrypt(pkt []byte, pnOff int) {
	if pnOff+4+16 > len(pkt) {
		return
	}
	var mask [16]byte
	a.hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+4+16])
	hdr := append([]byte(nil), pkt[:pnOff+4]...)
	hdr[0] ^= mask[0] & 0x0f
	pnLen := int(hdr[0]&3) + 1
	var pn uint64
	for i := range pnLen {
		hdr[pnOff+i] ^= mask[1+i]
		pn = pn<<8 | uint64(hdr[pnOff+i])
	}
	hdr = hdr[:pnOff+pnLen]
	nonce := append([]byte(nil), a.iv...)
	for i := range 8 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	plain, err := a.aead.Open(nil, nonce, pkt[pnOff+pnLen:], hdr)
	if err != nil {
		return
	}
	a.seen = true
	a.frames(plain)
}

// frames walks the decrypted payload, keeping CRYPTO data.
func (a *Assembler) frames(b []byte) {
	for len(b) > 0 {
		typ, n := readVarint(b)
		if n == 0 {
			return
		}
		b = b[n:]
		switch {
		case typ == 0x00 || typ == 0x01: // PADDING, PING
		case typ == 0x02 || typ == 0x03: // ACK
			var ok bool
			if b, ok = skipAck(b, typ == 0x03); !ok {
				return
			}
		case typ == 0x06: // CRYPTO
			off, n1 := readVarint(b)
			l, n2 := readVarint(b[min(n1, len(b)):])
			if n1 == 0 || n2 == 0 || uint64(len(b)-n1-n2) < l {
				return
			}
			data := b[n1+n2 : n1+n2+int(l)]
			a.addCrypto(off, data)
			b = b[n1+n2+int(l):]
		case typ == 0x1c || typ == 0x1d: // CONNECTION_CLOSE
			return
		default:
			return
		}
	}
}

func skipAck(b []byte, ecn bool) ([]byte, bool) {
	count := 4
	var ranges uint64
	for i := range count {
		v, n := readVarint(b)
		if n == 0 {
			return nil, false
		}
		b = b[n:]
		if i == 2 {
			ranges = v
		}
	}
	if ranges > 1024 {
		return nil, false
	}
	for range 2 * ranges {
		_, n := readVarint(b)
		if n == 0 {
			return nil, false
		}
		b = b[n:]
	}
	if ecn {
		for range 3 {
			_, n := readVarint(b)
			if n == 0 {
				return nil, false
			}
			b = b[n:]
		}
	}
	return b, true
}

func (a *Assembler) addCrypto(off uint64, data []byte) {
	end := off + uint64(len(data))
	if end > maxCrypto {
		return
	}
	if int(end) > len(a.buf) {
		nb := make([]byte, end)
		copy(nb, a.buf)
		a.buf = nb
		nh := make([]bool, end)
		copy(nh, a.have)
		a.have = nh
	}
	copy(a.buf[off:end], data)
	for i := off; i < end; i++ {
		a.have[i] = true
	}
	// Complete once the handshake message header and body are all there.
	if len(a.buf) < 4 || !a.have[0] || !a.have[1] || !a.have[2] || !a.have[3] {
		return
	}
	total := 4 + (int(a.buf[1])<<16 | int(a.buf[2])<<8 | int(a.buf[3]))
	if a.buf[0] != 1 || total > len(a.buf) {
		return
	}
	for i := range total {
		if !a.have[i] {
			return
		}
	}
	a.hello = a.buf[:total]
}
