package capgen

import (
	"errors"
	"fmt"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultConcurrent  = 1000
	DefaultPPS         = 1e6
	DefaultMeanPackets = 20
)

// minSnapLen is the smallest SnapLen accepted: enough for the Ethernet,
// VLAN and IP headers.
const minSnapLen = 64

// defaultStart returns the timestamp of the first packet when
// Config.StartTime is zero.
func defaultStart() time.Time { return time.Date(2024, time.May, 1, 12, 0, 0, 0, time.UTC) }

// Config describes a synthetic capture. The zero value of every field but
// Packets selects a documented default.
type Config struct {
	// Packets is the number of frames written; Write stops exactly there,
	// cutting the flows still open.
	Packets int
	// Concurrent is the number of flows open at the same time (default
	// 1000).
	Concurrent int
	// Seed selects the pseudo-random sequence; the output is a pure
	// function of the Config.
	Seed int64
	// StartTime is the timestamp of the first packet (default
	// 2024-05-01 12:00:00 UTC). It must fall in 1970..2105.
	StartTime time.Time
	// PPS is the packet rate of the timeline: timestamps advance by 1/PPS
	// seconds per packet (default 1e6, so 5 M packets span 5 s).
	PPS float64
	// MeanPackets is the approximate mean planned flow size in packets
	// (default 20). Raising it lengthens the heavy-tailed TCP and UDP
	// streams only: DNS, ICMP and refused connections stay short. With
	// MeanPackets near Packets/Concurrent the capture is a fixed set of
	// about Concurrent long flows.
	MeanPackets float64
	// SnapLen, when positive, truncates every frame to that many captured
	// bytes (the wire length is kept) and is written as the file's
	// snapshot length. NFStream ignores IPv6 packets whose payload is
	// truncated, so a small SnapLen drops the IPv6 flows from metering.
	SnapLen int
}

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Packets < 0 {
		return c, fmt.Errorf("packets %d: must be >= 0", c.Packets)
	}
	if c.Concurrent < 0 {
		return c, fmt.Errorf("concurrent %d: must be >= 0", c.Concurrent)
	}
	if c.Concurrent == 0 {
		c.Concurrent = DefaultConcurrent
	}
	if c.PPS < 0 || c.PPS != c.PPS {
		return c, fmt.Errorf("pps %v: must be > 0", c.PPS)
	}
	if c.PPS == 0 {
		c.PPS = DefaultPPS
	}
	if c.MeanPackets < 0 || c.MeanPackets != c.MeanPackets {
		return c, fmt.Errorf("mean packets %v: must be > 0", c.MeanPackets)
	}
	if c.MeanPackets == 0 {
		c.MeanPackets = DefaultMeanPackets
	}
	if c.SnapLen < 0 {
		return c, fmt.Errorf("snaplen %d: must be >= 0", c.SnapLen)
	}
	if c.SnapLen > 0 && c.SnapLen < minSnapLen {
		return c, fmt.Errorf("snaplen %d: must be 0 or at least %d", c.SnapLen, minSnapLen)
	}
	if c.StartTime.IsZero() {
		c.StartTime = defaultStart()
	}
	end := c.StartTime.Add(time.Duration(float64(c.Packets) / c.PPS * float64(time.Second)))
	if c.StartTime.Unix() < 0 || end.Unix() >= 1<<32-1 {
		return c, errors.New("timestamps must fall between 1970 and 2105")
	}
	return c, nil
}
