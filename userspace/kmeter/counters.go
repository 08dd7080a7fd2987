//go:build linux

package kmeter

import (
	"fmt"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
)

// Counters are the kernel path's totals. Every frame the programs saw is in
// exactly one of Metered, Ignored and Punted; every loss has its counter.
type Counters struct {
	Seen         uint64 // frames the programs ran on
	Metered      uint64 // counted in the kernel flow table
	Ignored      uint64 // not metered by NFStream's rules (not IP, truncated, fragment)
	Punted       uint64 // handed to the userspace decoder (unusual encapsulation, table full)
	Applied      uint64 // punted packets decoded in userspace and counted in the kernel table
	MapFull      uint64 // packets whose new flow did not fit in the table (metered in userspace)
	PacketLost   uint64 // first-packet copies the ring buffer had no room for
	PuntLost     uint64 // punted frames the ring buffer had no room for: not metered
	FlowEndLost  uint64 // flows ended in the kernel the ring buffer had no room for: lost
	PacketCopied uint64 // first-packet copies sent
	FlowsCreated uint64 // kernel flow entries created
	Expired      uint64 // flows the sweeper expired (idle, or all at stop)
	Busy         uint64 // packets punted because their flow's entry was being expired (applied again)

	Records     uint64 // ring buffer records read
	Flows       uint64 // flows yielded
	KernelFlows uint64 // of which counted in the kernel
	PuntFlows   uint64 // of which metered in userspace
	SPLTGaps    uint64 // SPLT entries missing because their copy was lost
	Orphans     uint64 // flows with copied packets that never reached the table
	PuntIgnored uint64 // punted frames the userspace decoder ignores (NFStream's rules)
	ApplyFailed uint64 // punted frames nfm_apply refused (then metered in userspace)
}

// Lost is the number of frames that were not metered at all.
func (c *Counters) Lost() uint64 { return c.PuntLost }

// Counters reads the kernel counters (summed over CPUs) and the userspace
// ones.
func (m *Meter) Counters() (Counters, error) {
	var c Counters
	var per []uint64
	for _, k := range kernelCounters(&c) {
		if err := m.objs.Counters.Lookup(k.index, &per); err != nil {
			return c, fmt.Errorf("read counter %d: %w", k.index, err)
		}
		for _, v := range per {
			*k.total += v
		}
	}
	// The programs do not count frames seen (one increment less per
	// packet): every frame is metered, ignored or punted.
	c.Seen = c.Metered + c.Ignored + c.Punted
	c.Records = m.user.records.Load()
	c.Flows = m.user.flows.Load()
	c.KernelFlows = m.user.kernelFlows.Load()
	c.PuntFlows = m.user.puntFlows.Load()
	c.SPLTGaps = m.user.spltGaps.Load()
	c.Orphans = m.user.orphans.Load()
	c.PuntIgnored = m.user.puntIgnored.Load()
	c.ApplyFailed = m.user.applyFailed.Load()
	return c, nil
}

// kernelCounter is one slot of the programs' counters array (enum counter
// of bpf/types.h) and the field of [Counters] that sums it.
type kernelCounter struct {
	index bpfobj.MeterCounter
	total *uint64
}

// kernelCounters lists every slot of enum counter with its field of c, by
// the generated constants: a slot added, removed or moved in C cannot be
// read into the wrong field (a test checks that none is missing).
func kernelCounters(c *Counters) []kernelCounter {
	return []kernelCounter{
		{bpfobj.MeterCounterCOUNTER_METERED, &c.Metered},
		{bpfobj.MeterCounterCOUNTER_IGNORED, &c.Ignored},
		{bpfobj.MeterCounterCOUNTER_PUNTED, &c.Punted},
		{bpfobj.MeterCounterCOUNTER_MAP_FULL, &c.MapFull},
		{bpfobj.MeterCounterCOUNTER_PACKET_LOST, &c.PacketLost},
		{bpfobj.MeterCounterCOUNTER_PUNT_LOST, &c.PuntLost},
		{bpfobj.MeterCounterCOUNTER_FLOW_END_LOST, &c.FlowEndLost},
		{bpfobj.MeterCounterCOUNTER_PACKET_COPIED, &c.PacketCopied},
		{bpfobj.MeterCounterCOUNTER_FLOWS_CREATED, &c.FlowsCreated},
		{bpfobj.MeterCounterCOUNTER_APPLIED, &c.Applied},
		{bpfobj.MeterCounterCOUNTER_BUSY, &c.Busy},
		{bpfobj.MeterCounterCOUNTER_EXPIRED, &c.Expired},
	}
}
