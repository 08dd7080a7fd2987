package afpacket

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrTimeout is returned by [Socket.Next] when no frame arrived within
	// [Options.PollTimeout]. Nothing was lost: call Next again. It is
	// [os.ErrDeadlineExceeded], so errors.Is(err, os.ErrDeadlineExceeded)
	// also matches it.
	ErrTimeout = os.ErrDeadlineExceeded

	// ErrNoInterface reports an interface name that the network namespace
	// does not have.
	ErrNoInterface = errors.New("no such interface")

	// ErrInterfaceDown reports an interface that is down when the socket is
	// opened, or that went down (or was deleted) while capturing.
	ErrInterfaceDown = errors.New("interface is down")

	// ErrCorruptRing reports a ring block or frame header whose offsets or
	// lengths point outside the block. It ends the capture.
	ErrCorruptRing = errors.New("corrupt ring block")

	// ErrNotSupported is returned by [Open] on systems without AF_PACKET.
	ErrNotSupported = errors.New("af_packet capture needs linux")
)

// LinkTypeError reports an interface whose hardware type (ARPHRD_*) has no
// link-layer header that the capture can deliver: only Ethernet, loopback
// (reported as Ethernet, as libpcap does) and interfaces without a
// link-layer header (ARPHRD_NONE, ARPHRD_RAWIP: raw IP) are supported.
type LinkTypeError struct {
	Interface string
	ARPHRD    uint16
}

func (e *LinkTypeError) Error() string {
	return fmt.Sprintf("interface %s has hardware type %d (ARPHRD), not ethernet, loopback or raw ip", e.Interface, e.ARPHRD)
}
