package flows_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// Meter a packet source and range over the flows. With a capture file the
// source is pcapreplay.Open("capture.pcap").
func ExampleStreamer_Flows() {
	var src flowstest.Source
	client := netip.MustParseAddrPort("192.0.2.1:40000")
	server := netip.MustParseAddrPort("198.51.100.7:443")
	src.Push(1000, flowstest.TCP(client, server, 0x02, 0))
	src.Push(1012, flowstest.TCP(server, client, 0x12, 0))
	src.Push(1020, flowstest.TCP(client, server, 0x10, 0))

	opts := flows.DefaultOptions()
	opts.NDissections = 0
	opts.StatisticalAnalysis = true
	st, err := flows.NewStreamer(&src, opts)
	if err != nil {
		panic(err)
	}
	for flow, err := range st.Flows(context.Background()) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d %v:%d -> %v:%d packets=%d syn=%d duration=%dms\n", flow.ID,
			flow.SrcAddr(), flow.SrcPort(), flow.DstAddr(), flow.DstPort(),
			flow.Bidirectional.Packets, flow.Stats.Bi.Syn, flow.Bidirectional.DurationMs())
	}
	// Output:
	// 0 192.0.2.1:40000 -> 198.51.100.7:443 packets=3 syn=2 duration=20ms
}

// countingPlugin adds a column with the number of packets sent by the
// flow's destination.
type countingPlugin struct{}

func (countingPlugin) OnInit(*flows.Packet, *flows.Flow) {}
func (countingPlugin) OnUpdate(p *flows.Packet, f *flows.Flow) {
	if p.Direction == 1 {
		n, _ := f.UDPS.Get("replies")
		c, _ := n.(int)
		f.UDPS.Set("replies", c+1)
	}
}
func (countingPlugin) OnExpire(f *flows.Flow) {
	if _, ok := f.UDPS.Get("replies"); !ok {
		f.UDPS.Set("replies", 0)
	}
}

// Plugins add user-defined columns (udps.*) and may cut flows.
func ExamplePlugin() {
	var src flowstest.Source
	a := netip.MustParseAddrPort("192.0.2.1:5353")
	b := netip.MustParseAddrPort("192.0.2.2:53")
	src.Push(0, flowstest.UDP(a, b, 30))
	src.Push(3, flowstest.UDP(b, a, 80))
	src.Push(9, flowstest.UDP(b, a, 80))

	opts := flows.DefaultOptions()
	opts.NDissections = 0
	opts.Plugins = []flows.Plugin{countingPlugin{}}
	st, _ := flows.NewStreamer(&src, opts)
	for flow, err := range st.Flows(context.Background()) {
		if err != nil {
			panic(err)
		}
		replies, _ := flow.UDPS.Get("replies")
		fmt.Println(flows.NewSchema(&opts, flow).Names[len(flows.NewSchema(&opts, flow).Names)-1], replies)
	}
	// Output:
	// udps.replies 2
}
