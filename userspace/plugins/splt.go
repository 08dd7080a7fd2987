package plugins

import "github.com/nfmeter/nfmeter/userspace/flows"

// SPLT records the direction, size and inter-arrival time of the first
// SequenceLength packets of each flow in the plugin columns
// udps.splt_direction, udps.splt_ps and udps.splt_piat_ms (lists padded with
// -1), like NFStream's SPLT(sequence_length, accounting_mode). It gives the
// same arrays as the native --splt-analysis.
type SPLT struct {
	SequenceLength int
	AccountingMode flows.AccountingMode
}

func (s *SPLT) size(p *flows.Packet) int64 {
	switch s.AccountingMode {
	case flows.AccountIP:
		return int64(p.IPSize)
	case flows.AccountTransport:
		return int64(p.TransportSize)
	case flows.AccountPayload:
		return int64(p.PayloadSize)
	default:
		return int64(p.RawSize)
	}
}

// OnInit implements flows.Plugin.
func (s *SPLT) OnInit(p *flows.Packet, f *flows.Flow) {
	dir, ps, piat := make([]int64, s.SequenceLength), make([]int64, s.SequenceLength), make([]int64, s.SequenceLength)
	for i := range dir {
		dir[i], ps[i], piat[i] = -1, -1, -1
	}
	if s.SequenceLength > 0 {
		dir[0], ps[0], piat[0] = 0, s.size(p), int64(p.DeltaTimeMs)
	}
	f.UDPS.Set("splt_direction", dir)
	f.UDPS.Set("splt_ps", ps)
	f.UDPS.Set("splt_piat_ms", piat)
}

// OnUpdate implements flows.Plugin.
func (s *SPLT) OnUpdate(p *flows.Packet, f *flows.Flow) {
	i := int(f.Bidirectional.Packets) - 1
	if i >= s.SequenceLength {
		return
	}
	get := func(name string) []int64 {
		v, _ := f.UDPS.Get(name)
		x, _ := v.([]int64)
		return x
	}
	dir, ps, piat := get("splt_direction"), get("splt_ps"), get("splt_piat_ms")
	if len(dir) <= i || len(ps) <= i || len(piat) <= i {
		return
	}
	dir[i], ps[i], piat[i] = int64(p.Direction), s.size(p), int64(p.DeltaTimeMs)
}

// OnExpire implements flows.Plugin.
func (s *SPLT) OnExpire(*flows.Flow) {}
