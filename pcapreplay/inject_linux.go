//go:build linux

package pcapreplay

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Injector sends raw Ethernet frames out of one interface through an
// AF_PACKET socket (needs CAP_NET_RAW). It is not safe for concurrent use.
type Injector struct {
	fd      int
	ifindex int
	name    string
}

// OpenInjector opens a raw socket bound to the interface ifname.
func OpenInjector(ifname string) (*Injector, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", ifname, err)
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("open packet socket on %s: %w", ifname, err)
	}
	sa := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to %s: %w", ifname, err)
	}
	return &Injector{fd: fd, ifindex: ifi.Index, name: ifname}, nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// Write sends one frame (Ethernet header included).
func (in *Injector) Write(frame []byte) error {
	for {
		_, err := unix.Write(in.fd, frame)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("send on %s: %w", in.name, err)
	}
}

// Close closes the socket.
func (in *Injector) Close() error { return unix.Close(in.fd) }
