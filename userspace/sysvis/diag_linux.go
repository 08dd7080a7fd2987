package sysvis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// diagSocket is one socket of a sock_diag dump.
type diagSocket struct {
	protocol uint8
	state    uint8
	local    netip.AddrPort
	remote   netip.AddrPort // zero for a socket without peer
	cookie   uint64         // the socket cookie, as bpf_get_socket_cookie returns it
	inode    uint32         // 0 once no file refers to it (TIME_WAIT, orphans)
}

// diag dumps the kernel's socket tables through NETLINK_SOCK_DIAG
// (inet_diag), in the caller's network namespace.
type diag struct {
	fd  int
	seq uint32
	req [16 + 56]byte
	buf []byte
}

func openDiag() (*diag, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	return &diag{fd: fd, buf: make([]byte, 64<<10)}, nil
}

func (d *diag) close() error { return unix.Close(d.fd) }

const (
	sizeofNlmsghdr    = 16
	sizeofInetDiagMsg = 72
)

// dump calls fn for every socket of family (AF_INET, AF_INET6) and
// protocol (IPPROTO_TCP, IPPROTO_UDP) that a process may hold.
func (d *diag) dump(family, protocol uint8, fn func(*diagSocket)) error {
	d.seq++
	r := d.req[:]
	clear(r)
	ne := binary.NativeEndian
	ne.PutUint32(r[0:], uint32(len(r)))
	ne.PutUint16(r[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(r[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(r[8:], d.seq)
	// struct inet_diag_req_v2: family, protocol, ext, pad, states, id.
	r[16], r[17] = family, protocol
	// Every state but those of sockets no file refers to any more:
	// TIME_WAIT (6) and NEW_SYN_RECV request sockets (12), which can
	// outnumber the others by far on a busy host.
	ne.PutUint32(r[20:], 0xffffffff&^(1<<6|1<<12))
	if err := unix.Sendto(d.fd, r, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	var s diagSocket
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("sock_diag read: %w", err)
		}
		b := d.buf[:n]
		for len(b) >= sizeofNlmsghdr {
			l := int(ne.Uint32(b[0:]))
			typ, seq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
			if l < sizeofNlmsghdr || l > len(b) {
				return fmt.Errorf("sock_diag: bad message length %d", l)
			}
			msg := b[sizeofNlmsghdr:l]
			b = b[min(nlmAlign(l), len(b)):]
			if seq != d.seq {
				continue // reply to an earlier, abandoned dump
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if e := int32(ne.Uint32(msg)); e != 0 {
						return fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return nil
			case unix.SOCK_DIAG_BY_FAMILY:
				if len(msg) < sizeofInetDiagMsg {
					continue
				}
				parseDiagMsg(msg, protocol, &s)
				fn(&s)
			}
		}
	}
}

func nlmAlign(l int) int { return (l + 3) &^ 3 }

// parseDiagMsg decodes a struct inet_diag_msg.
func parseDiagMsg(m []byte, protocol uint8, s *diagSocket) {
	family := m[0]
	s.protocol, s.state = protocol, m[1]
	sport := binary.BigEndian.Uint16(m[4:])
	dport := binary.BigEndian.Uint16(m[6:])
	addr := func(b []byte) netip.Addr {
		if family == unix.AF_INET {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16([16]byte(b[:16])).Unmap()
	}
	s.local = netip.AddrPortFrom(addr(m[8:24]), sport)
	s.remote = netip.AddrPort{}
	if dst := addr(m[24:40]); dport != 0 || !dst.IsUnspecified() {
		s.remote = netip.AddrPortFrom(dst, dport)
	}
	ne := binary.NativeEndian
	s.cookie = uint64(ne.Uint32(m[44:])) | uint64(ne.Uint32(m[48:]))<<32
	s.inode = ne.Uint32(m[68:])
}
