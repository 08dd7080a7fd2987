package plugins

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// JA4 fingerprints TLS hellos like NFStream's JA4(throw_warns) plugin. It
// adds two columns, in this order:
//
//   - udps.ja4: the JA4 fingerprint of the client's ClientHello, e.g.
//     "t13d1814h2_29a2cd9e9f10_d267a5f792d4", or nil (None);
//   - udps.ja4s: the JA4S fingerprint of the server's ServerHello, e.g.
//     "t1206h2_cca8_17136cd5846b", or nil.
//
// Only flows whose first packet is a TCP SYN without ACK are eligible, and
// only IPv4 TCP payloads are parsed. Each packet's payload is parsed on its
// own (no reassembly) and must start with a TLS record header 0x16 0x03.
// Once the handshake (SYN, SYN+ACK, then a packet with ACK and without SYN,
// in either direction) is complete, the next packet that does not carry a
// ClientHello ends eligibility, payload or not. After the ClientHello, every
// packet is tried as a ServerHello until one is found.
//
// The fingerprint follows FoxIO's JA4/JA4S with NFStream's deviations,
// which are reproduced on purpose:
//
//   - the protocol character is always "t"; the version digits are
//     (major-2) and (minor-1) of the wire version, so SSL 3.0 gives "1-1";
//   - the ALPN characters are the first and last characters (code points,
//     lowercased) of the first ALPN value, "00" when there is none, never
//     hex-encoded;
//   - extensions are counted by distinct type; signature algorithms have
//     their GREASE values removed;
//   - GREASE removal skips the entry that follows a removed one, so the
//     second of two adjacent GREASE values stays in the list;
//   - a ClientHello without a signature_algorithms extension, without
//     extensions or ciphers, or truncated in a way the parser notices, gives
//     nil; a hello truncated inside an extension may give a value computed
//     from the bytes present;
//   - any parsing failure while looking for the ServerHello resets ja4 to
//     nil (e.g. a ServerHello without extensions), after which the flow
//     usually loses eligibility.
//
// Per-flow state lives in a temporary plugin value deleted in OnExpire, so
// one JA4 value serves every flow of a streamer.
type JA4 struct{}

const ja4StateName = "_ja4_state"

type ja4State struct {
	eligible             bool
	syn, synAck, synAck2 bool // handshake steps seen: SYN, SYN+ACK, ACK
}

// OnInit implements flows.Plugin.
func (*JA4) OnInit(p *flows.Packet, f *flows.Flow) {
	f.UDPS.Set("ja4", nil)
	f.UDPS.Set("ja4s", nil)
	if p.Syn() && !p.Ack() {
		f.UDPS.Set(ja4StateName, &ja4State{eligible: true, syn: true})
	}
}

// OnUpdate implements flows.Plugin.
func (*JA4) OnUpdate(p *flows.Packet, f *flows.Flow) {
	v, _ := f.UDPS.Get(ja4StateName)
	st, _ := v.(*ja4State)
	if st == nil || !st.eligible {
		return
	}
	client, _ := f.UDPS.Get("ja4")
	if client == nil {
		fp, err := ja4Packet(p, 1)
		if err != nil || fp == "" {
			f.UDPS.Set("ja4", nil)
		} else {
			f.UDPS.Set("ja4", fp)
			client = fp
		}
	} else {
		fp, err := ja4Packet(p, 2)
		switch {
		case err != nil:
			f.UDPS.Set("ja4", nil)
			client = nil
		case fp == "":
			f.UDPS.Set("ja4s", nil)
		default:
			f.UDPS.Set("ja4s", fp)
			st.eligible = false
		}
	}
	if st.synAck2 && st.eligible && client == nil {
		st.eligible = false
	}
	if !st.eligible {
		return
	}
	switch {
	case !st.syn:
		st.syn = p.Syn() && !p.Ack()
	case !st.synAck:
		st.synAck = p.Syn() && p.Ack()
	case !st.synAck2:
		st.synAck2 = p.Ack() && !p.Syn()
	}
}

// OnExpire implements flows.Plugin.
func (*JA4) OnExpire(f *flows.Flow) { f.UDPS.Delete(ja4StateName) }

// errJA4 stands for an exception raised by NFStream's parser.
var errJA4 = errors.New("ja4: malformed packet")

// ja4Packet fingerprints the packet's TCP payload if it is a hello of the
// wanted handshake type (1 client, 2 server). It returns "" when the packet
// is not such a hello and errJA4 when parsing fails.
func ja4Packet(p *flows.Packet, want byte) (string, error) {
	if p.IPVersion != 4 {
		return "", nil
	}
	payload, tcp, err := ja4TCPPayload(p.IPPacket)
	if err != nil || !tcp {
		return "", err
	}
	return ja4Hello(payload, want)
}

// ja4TCPPayload locates the TCP payload of an IPv4 packet the way dpkt does:
// the IP total length bounds it (unless zero), fragments and short headers
// are errors, a protocol other than TCP is no payload.
func ja4TCPPayload(ip []byte) (payload []byte, tcp bool, err error) {
	if len(ip) < 20 {
		return nil, false, errJA4
	}
	hl := int(ip[0]&0x0f) * 4
	if hl < 20 {
		return nil, false, errJA4
	}
	if ip[9] != 6 {
		return nil, false, nil
	}
	if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
		return nil, false, errJA4
	}
	end := len(ip)
	if total := int(binary.BigEndian.Uint16(ip[2:4])); total != 0 {
		end = min(end, total)
	}
	if hl >= end {
		return nil, false, errJA4
	}
	seg := ip[hl:end]
	if len(seg) < 20 {
		return nil, false, errJA4
	}
	off := int(seg[12]>>4) * 4
	if off < 20 {
		return nil, false, errJA4
	}
	return seg[min(off, len(seg)):], true, nil
}

// ja4Reader consumes bytes with Python slice semantics: a read past the end
// returns what is left.
type ja4Reader struct{ b []byte }

func (r *ja4Reader) take(n int) []byte {
	n = min(n, len(r.b))
	x := r.b[:n:n]
	r.b = r.b[n:]
	return x
}

// ja4Field is a length-prefixed field; none marks a zero length prefix.
type ja4Field struct {
	b    []byte
	none bool
}

// ja4Int reads a big-endian length of one or two bytes; a missing length is
// an error (int("", 16) in Python).
func ja4Int(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, errJA4
	}
	v := 0
	for _, c := range b {
		v = v<<8 | int(c)
	}
	return v, nil
}

// field reads a length prefix of size bytes and the field it announces.
func (r *ja4Reader) field(size int) (ja4Field, error) {
	n, err := ja4Int(r.take(size))
	if err != nil {
		return ja4Field{}, err
	}
	if n == 0 {
		return ja4Field{none: true}, nil
	}
	return ja4Field{b: r.take(n)}, nil
}

// ja4Exts holds extensions by lowercase hex type in first-seen order; a
// repeated type keeps its place and takes the last data.
type ja4Exts struct {
	keys []string
	data map[string]ja4Field
}

func (e *ja4Exts) get(k string) (ja4Field, bool) {
	v, ok := e.data[k]
	return v, ok
}

func ja4Extensions(f ja4Field) (*ja4Exts, error) {
	if f.none {
		return nil, errJA4
	}
	e := &ja4Exts{data: make(map[string]ja4Field)}
	r := ja4Reader{f.b}
	for len(r.b) > 0 {
		k := hex.EncodeToString(r.take(2))
		l := r.take(2)
		var d ja4Field
		if len(l) == 2 && l[0] == 0 && l[1] == 0 {
			d.none = true
		} else {
			n, err := ja4Int(l)
			if err != nil {
				return nil, err
			}
			d.b = r.take(n)
		}
		if _, ok := e.data[k]; !ok {
			e.keys = append(e.keys, k)
		}
		e.data[k] = d
	}
	return e, nil
}

// ja4Pairs splits b into hex strings of two bytes (the last may be one).
func ja4Pairs(b []byte) []string {
	out := make([]string, 0, (len(b)+1)/2)
	for len(b) > 0 {
		n := min(2, len(b))
		out = append(out, hex.EncodeToString(b[:n]))
		b = b[n:]
	}
	return out
}

// ja4Grease reports whether a 4-digit hex value is GREASE (0x?a?a with both
// bytes equal); other lengths are an error.
func ja4Grease(s string) (bool, error) {
	if len(s) != 4 {
		return false, errJA4
	}
	return s[0] == s[2] && s[1] == s[3] && s[1] == 'a', nil
}

// ja4RemoveGrease removes GREASE values in place, skipping the value that
// follows each removed one (NFStream deletes while enumerating).
func ja4RemoveGrease(l []string) ([]string, error) {
	for i := 0; i < len(l); i++ {
		g, err := ja4Grease(l[i])
		if err != nil {
			return nil, err
		}
		if g {
			l = slices.Delete(l, i, i+1)
		}
	}
	return l, nil
}

// ja4Count counts non-GREASE values as two digits, stopping at 99.
func ja4Count(l []string) (string, error) {
	n := 0
	for _, s := range l {
		g, err := ja4Grease(s)
		if err != nil {
			return "", err
		}
		if !g {
			n++
		}
		if n == 99 {
			break
		}
	}
	if n < 10 {
		return "0" + strconv.Itoa(n), nil
	}
	return strconv.Itoa(n), nil
}

func ja4SortHex(l []string) {
	slices.SortStableFunc(l, func(a, b string) int {
		x, _ := strconv.ParseUint(a, 16, 64)
		y, _ := strconv.ParseUint(b, 16, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
}

func ja4Hash(s string) string {
	if s == "" {
		return "000000000000"
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// ja4List reads a list extension: a length prefix of size bytes that must
// match the rest exactly, then two-byte values.
func ja4List(f ja4Field, size int) ([]string, error) {
	if f.none {
		return nil, errJA4
	}
	r := ja4Reader{f.b}
	n, err := ja4Int(r.take(size))
	if err != nil || n != len(r.b) {
		return nil, errJA4
	}
	return ja4Pairs(r.b), nil
}

// ja4Version turns a version's hex digits into JA4's two digits: first byte
// minus 2, remaining bytes minus 1, in decimal.
func ja4Version(h string) (string, error) {
	if len(h) < 4 {
		return "", errJA4
	}
	major, _ := strconv.ParseUint(h[:2], 16, 8)
	minor, ok := new(big.Int).SetString(h[2:], 16)
	if !ok {
		return "", errJA4
	}
	return strconv.Itoa(int(major)-2) + minor.Sub(minor, big.NewInt(1)).String(), nil
}

// ja4ALPN returns the first and last characters of the first ALPN value,
// "00" without one.
func ja4ALPN(e *ja4Exts) (string, error) {
	f, ok := e.get("0010")
	if !ok {
		return "00", nil
	}
	if f.none {
		return "", errJA4
	}
	r := ja4Reader{f.b}
	n, err := ja4Int(r.take(2))
	if err != nil || n != len(r.b) {
		return "", errJA4
	}
	if len(r.b) == 0 {
		return "00", nil
	}
	first := r.take(int(r.take(1)[0]))
	if len(first) == 0 || !utf8.Valid(first) {
		return "", errJA4
	}
	a, _ := utf8.DecodeRune(first)
	z, _ := utf8.DecodeLastRune(first)
	return ja4Lower(a, z), nil
}

// ja4Lower lowercases the two ALPN characters as Python's str.lower does
// inside the fingerprint: U+0130 becomes "i̇", and a capital sigma is final
// when the first character is cased and not case-ignorable (a digit comes
// before it and "_" after the sigma).
func ja4Lower(a, z rune) string {
	low := func(r rune) string {
		if r == 'İ' {
			return "i\u0307"
		}
		return string(unicode.ToLower(r))
	}
	cased := func(r rune) bool {
		return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) ||
			unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
	}
	last := low(z)
	if z == 'Σ' && cased(a) && !unicode.In(a, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) {
		last = "ς"
	}
	return low(a) + last
}

// ja4Hello fingerprints a TCP payload holding a TLS record with a hello of
// handshake type want; see ja4Packet.
func ja4Hello(payload []byte, want byte) (string, error) {
	r := ja4Reader{payload}
	rec, hs, ver := r.take(5), r.take(4), r.take(2)
	if len(rec) < 2 || rec[0] != 0x16 || rec[1] != 0x03 {
		return "", nil
	}
	if len(hs) == 0 {
		return "", errJA4
	}
	if hs[0] != 1 && hs[0] != 2 {
		return "", nil
	}
	if len(ver) == 0 {
		return "", errJA4
	}
	if ver[0] != 3 || hs[0] != want {
		return "", nil
	}
	client := want == 1

	r.take(32) // random
	if _, err := r.field(1); err != nil {
		return "", err // session id
	}
	var ciphers ja4Field
	var err error
	if client {
		if ciphers, err = r.field(2); err != nil {
			return "", err
		}
		if _, err = r.field(1); err != nil {
			return "", err // compression methods
		}
	} else {
		ciphers.b = r.take(2)
		r.take(1) // compression method
	}
	extField, err := r.field(2)
	if err != nil {
		return "", err
	}
	exts, err := ja4Extensions(extField)
	if err != nil {
		return "", err
	}

	// Part a.
	var a strings.Builder
	a.WriteByte('t')
	verHex := hex.EncodeToString(ver)
	if sv, ok := exts.get("002b"); ok {
		if client {
			l, err := ja4List(sv, 1)
			if err != nil {
				return "", err
			}
			if l, err = ja4RemoveGrease(l); err != nil {
				return "", err
			}
			if len(l) == 0 {
				return "", errJA4
			}
			ja4SortHex(l)
			verHex = l[len(l)-1]
		} else {
			if sv.none {
				return "", errJA4
			}
			verHex = hex.EncodeToString(sv.b)
		}
	}
	v, err := ja4Version(verHex)
	if err != nil {
		return "", err
	}
	a.WriteString(v)
	var cipherList []string
	if client {
		if _, ok := exts.get("0000"); ok {
			a.WriteByte('d')
		} else {
			a.WriteByte('i')
		}
		if ciphers.none {
			return "", errJA4
		}
		cipherList = ja4Pairs(ciphers.b)
		n, err := ja4Count(cipherList)
		if err != nil {
			return "", err
		}
		a.WriteString(n)
	}
	n, err := ja4Count(exts.keys)
	if err != nil {
		return "", err
	}
	a.WriteString(n)
	alpn, err := ja4ALPN(exts)
	if err != nil {
		return "", err
	}
	a.WriteString(alpn)

	// Part b.
	var b string
	if client {
		if cipherList, err = ja4RemoveGrease(cipherList); err != nil {
			return "", err
		}
		ja4SortHex(cipherList)
		b = ja4Hash(strings.Join(cipherList, ","))
	} else {
		b = hex.EncodeToString(ciphers.b)
	}

	// Part c.
	keys := slices.Clone(exts.keys)
	if client {
		if keys, err = ja4RemoveGrease(keys); err != nil {
			return "", err
		}
		for _, k := range []string{"0000", "0010"} {
			if i := slices.Index(keys, k); i >= 0 {
				keys = slices.Delete(keys, i, i+1)
			}
		}
		ja4SortHex(keys)
	}
	c := strings.Join(keys, ",")
	if client {
		sa, ok := exts.get("000d")
		if !ok {
			return "", errJA4
		}
		algs, err := ja4List(sa, 2)
		if err != nil {
			return "", err
		}
		if len(algs) > 0 {
			if algs, err = ja4RemoveGrease(algs); err != nil {
				return "", err
			}
			c += "_" + strings.Join(algs, ",")
		}
	}
	return a.String() + "_" + b + "_" + ja4Hash(c), nil
}
