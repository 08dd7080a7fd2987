package flows_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// The BPF filter is compiled by the injected NewFilter, once per link type
// and decoding goroutine, and rejected frames are counted, not metered.
func TestInjectedFilter(t *testing.T) {
	for _, meters := range []int{1, 3} {
		// GIVEN a filter keeping UDP frames only, and two TCP and one UDP
		// frames
		var src flowstest.Source
		src.Push(1000, flowstest.TCP(hostA, hostB, 0x02, 0))
		src.Push(1001, flowstest.UDP(hostC, hostD, 10))
		src.Push(1002, flowstest.TCP(hostB, hostA, 0x12, 0))
		var compiled atomic.Int32
		o := flows.DefaultOptions()
		o.NMeters = meters
		o.BPFFilter = "udp"
		o.NewFilter = func(expr string, linkType int) (flows.Filter, error) {
			if expr != "udp" || linkType != flows.DLTEthernet {
				t.Errorf("NewFilter(%q, %d)", expr, linkType)
			}
			compiled.Add(1)
			return udpOnly{}, nil
		}
		o.NDissections = 0
		st, err := flows.NewStreamer(&src, o)
		if err != nil {
			t.Fatal(err)
		}
		// WHEN it is metered
		var got []*flows.Flow
		for f, err := range st.Flows(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, f)
		}
		// THEN only the UDP flow is there and the TCP frames were filtered
		c := st.Counters()
		if len(got) != 1 || got[0].Protocol() != 17 || c.PacketsFiltered.Load() != 2 || c.PacketsRead.Load() != 3 {
			t.Errorf("meters %d: %d flows, %d filtered of %d", meters, len(got), c.PacketsFiltered.Load(), c.PacketsRead.Load())
		}
		if compiled.Load() == 0 {
			t.Errorf("meters %d: NewFilter not called", meters)
		}
	}
}

type udpOnly struct{}

func (udpOnly) Match(data []byte, _ uint32) bool { return len(data) > 23 && data[23] == 17 }

func TestFilterErrors(t *testing.T) {
	// GIVEN a filter expression and no compiler: a parameter error
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.BPFFilter = "udp"
	var pe *flows.ParamError
	if _, err := flows.NewStreamer(new(flowstest.Source), o); !errors.As(err, &pe) || pe.Param != "bpf_filter" {
		t.Errorf("NewStreamer without NewFilter: %v, want a bpf_filter ParamError", err)
	}
	// GIVEN a compiler that fails: the stream ends with its error
	o.NewFilter = func(string, int) (flows.Filter, error) { return nil, errors.New("syntax error") }
	var src flowstest.Source
	src.Push(1000, flowstest.UDP(hostC, hostD, 10))
	_, err := meterAll(t, &src, o)
	if err == nil || !strings.HasPrefix(err.Error(), "bpf_filter: syntax error") {
		t.Errorf("error %v, want bpf_filter: syntax error", err)
	}
}
