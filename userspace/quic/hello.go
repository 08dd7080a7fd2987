package quic

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Hello is what nfmeter reads from a QUIC ClientHello.
type Hello struct {
	ServerName string // SNI
	JA3        string // MD5 of the JA3 string, lowercase hex
	UserAgent  string // Google's user-agent transport parameter (0x3129)
}

var errShort = errors.New("quic: truncated ClientHello")

func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// ParseClientHello parses a handshake message (type 1, 24-bit length,
// body) as JA3 sees it: version, ciphers, extensions, groups and point
// formats, GREASE values left out.
func ParseClientHello(msg []byte) (*Hello, error) {
	if len(msg) < 4 || msg[0] != 1 {
		return nil, errShort
	}
	b := msg[4:]
	if len(b) < 2+32+1 {
		return nil, errShort
	}
	version := binary.BigEndian.Uint16(b)
	b = b[34:]
	sl := int(b[0])
	if len(b) < 1+sl+2 {
		return nil, errShort
	}
	b = b[1+sl:]
	cl := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+cl+1 {
		return nil, errShort
	}
	var ciphers, exts, groups, formats []string
	for i := 0; i+1 < cl; i += 2 {
		if v := binary.BigEndian.Uint16(b[2+i:]); !isGREASE(v) {
			ciphers = append(ciphers, strconv.Itoa(int(v)))
		}
	}
	b = b[2+cl:]
	ml := int(b[0])
	if len(b) < 1+ml {
		return nil, errShort
	}
	b = b[1+ml:]
	h := &Hello{}
	if len(b) >= 2 {
		el := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < el {
			return nil, errShort
		}
		b = b[:el]
		for len(b) >= 4 {
			typ, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
			if len(b) < 4+l {
				return nil, errShort
			}
			data := b[4 : 4+l]
			b = b[4+l:]
			if !isGREASE(typ) {
				exts = append(exts, strconv.Itoa(int(typ)))
			}
			switch typ {
			case 0: // server_name
				if len(data) >= 5 && data[2] == 0 {
					n := int(binary.BigEndian.Uint16(data[3:]))
					if len(data) >= 5+n {
						h.ServerName = string(data[5 : 5+n])
					}
				}
			case 10: // supported_groups
				if len(data) >= 2 {
					n := int(binary.BigEndian.Uint16(data))
					for i := 0; i+1 < n && 2+i+1 < len(data); i += 2 {
						if v := binary.BigEndian.Uint16(data[2+i:]); !isGREASE(v) {
							groups = append(groups, strconv.Itoa(int(v)))
						}
					}
				}
			case 11: // ec_point_formats
				if len(data) >= 1 {
					for i := 0; i < int(data[0]) && 1+i < len(data); i++ {
						formats = append(formats, strconv.Itoa(int(data[1+i])))
					}
				}
			case 0x39, 0xffa5: // QUIC transport parameters (v1, drafts)
				h.UserAgent = transportUA(data)
			}
		}
	}
	s := strconv.Itoa(int(version)) + "," + strings.Join(ciphers, "-") + "," + strings.Join(exts, "-") + "," +
		strings.Join(groups, "-") + "," + strings.Join(formats, "-")
	sum := md5.Sum([]byte(s))
	h.JA3 = hex.EncodeToString(sum[:])
	return h, nil
}

// transportUA returns the google_user_agent transport parameter (0x3129).
func transportUA(b []byte) string {
	for len(b) > 0 {
		id, n1 := readVarint(b)
		if n1 == 0 {
			return ""
		}
		l, n2 := readVarint(b[n1:])
		if n2 == 0 || uint64(len(b)-n1-n2) < l {
			return ""
		}
		v := b[n1+n2 : n1+n2+int(l)]
		if id == 0x3129 {
			return string(v)
		}
		b = b[n1+n2+int(l):]
	}
	return ""
}
