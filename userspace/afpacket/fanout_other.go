//go:build !linux

package afpacket

import "fmt"

// Group is only available on Linux.
type Group struct{}

// OpenFanout reports [ErrNotSupported].
func OpenFanout(ifname string, _ int, _ Options) (*Group, error) {
	return nil, fmt.Errorf("open af_packet fanout group on %s: %w", ifname, ErrNotSupported)
}

// ID returns 0.
func (*Group) ID() uint16 { return 0 }

// Sockets returns nothing.
func (*Group) Sockets() []*Socket { return nil }

// Stats reports [ErrNotSupported].
func (*Group) Stats() (Stats, error) { return Stats{}, ErrNotSupported }

// Close does nothing.
func (*Group) Close() error { return nil }
