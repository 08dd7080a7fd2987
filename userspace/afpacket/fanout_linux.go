//go:build linux

package afpacket

import (
	"errors"
	"fmt"
)

// Group is a set of sockets on one interface sharing a PACKET_FANOUT group:
// the kernel hashes each frame's flow to one of them, symmetrically over
// what its flow dissector reads (not nfmeter's key: see [Meter]). Each
// socket is read by its own goroutine.
type Group struct {
	socks []*Socket
	id    uint16
}

// OpenFanout opens n sockets on ifname in a new fanout group in hash mode,
// with PACKET_FANOUT_FLAG_DEFRAG unless opts.FanoutKeepFragments, as
// NFStream's meters do. opts.Fanout and opts.FanoutGroup are ignored: the
// kernel picks an id no other group of the network namespace uses
// (PACKET_FANOUT_FLAG_UNIQUEID, Linux 4.5 or later). NFStream derives the
// id from its process id instead, which can collide with another group,
// and a socket joining someone else's group silently splits their
// traffic. Each socket has its own ring of opts.SocketBufferSize bytes.
//
// The sockets take no frame until all of them have joined (the kernel
// hashes over the sockets present), so that no flow is split between
// sockets by the group's growth.
func OpenFanout(ifname string, n int, opts Options) (*Group, error) {
	if n < 1 {
		return nil, fmt.Errorf("open af_packet fanout group on %s: %d sockets, want at least 1", ifname, n)
	}
	opts.Fanout = true
	g := &Group{socks: make([]*Socket, 0, n)}
	for i := range n {
		group := fanoutUnique
		if i > 0 {
			group = int(g.id)
		}
		s, err := open(ifname, opts, group)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("open af_packet socket %d of %d on %s: %w", i+1, n, ifname, err)
		}
		if i == 0 {
			g.id = s.fanoutID
		}
		g.socks = append(g.socks, s)
	}
	for i, s := range g.socks {
		if err := s.start(); err != nil {
			g.Close()
			return nil, fmt.Errorf("start af_packet socket %d of %d on %s: %w", i+1, n, ifname, err)
		}
	}
	return g, nil
}

// Sockets returns the group's sockets; the slice must not be changed.
func (g *Group) Sockets() []*Socket { return g.socks }

// ID returns the fanout group id.
func (g *Group) ID() uint16 { return g.id }

// Stats returns the sum of the sockets' counters.
func (g *Group) Stats() (Stats, error) {
	var sum Stats
	for _, s := range g.socks {
		st, err := s.Stats()
		if err != nil {
			return sum, err
		}
		sum.add(st)
	}
	return sum, nil
}

// Close closes every socket (see [Socket.Close]).
func (g *Group) Close() error {
	var errs []error
	for _, s := range g.socks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
