package plugins

import "github.com/nfmeter/nfmeter/userspace/flows"

// FlowSlicer forces a flow out every Limit packets (NFStream's
// FlowSlicer(limit)): the next packet of the same 5-tuple starts a new flow.
// A Limit of 1 makes every packet its own flow.
type FlowSlicer struct {
	Limit uint64
}

// OnInit implements flows.Plugin.
func (s *FlowSlicer) OnInit(_ *flows.Packet, f *flows.Flow) {
	if s.Limit == 1 {
		f.ExpirationID = -1
	}
}

// OnUpdate implements flows.Plugin.
func (s *FlowSlicer) OnUpdate(_ *flows.Packet, f *flows.Flow) {
	if f.Bidirectional.Packets == s.Limit {
		f.ExpirationID = -1
	}
}

// OnExpire implements flows.Plugin.
func (s *FlowSlicer) OnExpire(*flows.Flow) {}
