//go:build !linux

package afpacket

import (
	"fmt"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Socket is only available on Linux.
type Socket struct{}

// Open reports [ErrNotSupported].
func Open(ifname string, _ Options) (*Socket, error) {
	return nil, fmt.Errorf("open af_packet socket on %s: %w", ifname, ErrNotSupported)
}

// Interface returns "".
func (*Socket) Interface() string { return "" }

// LinkType returns 0.
func (*Socket) LinkType() int { return 0 }

// FanoutGroup reports no group.
func (*Socket) FanoutGroup() (uint16, bool) { return 0, false }

// Next reports [ErrNotSupported].
func (*Socket) Next(*flows.Frame) error { return ErrNotSupported }

// Stats reports [ErrNotSupported].
func (*Socket) Stats() (Stats, error) { return Stats{}, ErrNotSupported }

// Close does nothing.
func (*Socket) Close() error { return nil }

func (*Socket) pending() (ready, empty bool) { return true, false }

func (*Socket) lastTime() int64 { return 0 }
