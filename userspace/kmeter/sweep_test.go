//go:build linux

package kmeter

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Issue 11, item 1: the sweeper must not split a flow whose packets arrive
// while it expires the flow's idle predecessor. Each of n keys gets one
// packet, then, after a gap longer than the idle timeout, three more sent
// while the sweeper removes the idle entries: every key must come out as
// two flows, of 1 and 3 packets, as offline. Expiry used to be a batch
// lookup followed by a delete of whatever the entry held by then: a packet
// in between ended the idle flow and started the next one, which the
// sweeper then deleted as idle after its first packet, and the next
// packets started a third flow.
func TestSweepKeepsFlowsWhole(t *testing.T) {
	requireKernelPath(t)
	const n, workers = 20000, 4
	frames, _ := udpFlows(n, 1)
	o := liveOptions(false)
	o.IdleTimeout = 1
	// The sweeper runs at 2 s from the start: 1 s after every key of the
	// first round went idle, while the second round is being sent.
	m, err := New(Options{Flow: o, MaxFlows: 4 * n, SweepInterval: 2 * time.Second})
	if err != nil {
		t.Fatalf("load kernel path: %v", err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	res := collectFlows(t, m.Flows(ctx))
	send := func(rounds int) {
		for range rounds {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(frames); i += workers {
						if _, err := m.objs.NfmXdp.Run(&ebpf.RunOptions{Data: frames[i].Data}); err != nil {
							t.Errorf("frame %d: %v", i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
		}
	}
	send(1)
	time.Sleep(time.Until(start.Add(2*time.Second - 20*time.Millisecond)))
	send(3)
	cancel()
	fs := <-res
	if t.Failed() {
		return
	}
	perKey := map[uint16][]*flows.Flow{}
	for _, f := range fs {
		perKey[f.SrcPort()] = append(perKey[f.SrcPort()], f)
	}
	split := 0
	var example string
	for port, kfs := range perKey {
		slices.SortFunc(kfs, func(a, b *flows.Flow) int { return int(a.Bidirectional.FirstSeenMs) - int(b.Bidirectional.FirstSeenMs) })
		var pk []uint64
		for _, f := range kfs {
			pk = append(pk, f.Bidirectional.Packets)
		}
		if !slices.Equal(pk, []uint64{1, 3}) {
			split++
			if example == "" {
				example = fmt.Sprintf("port %d: flows of %v packets", port, pk)
			}
		}
	}
	c, _ := m.Counters()
	t.Logf("%d flows for %d keys; %d keys not (1, 3); counters %+v", len(fs), len(perKey), split, c)
	if len(perKey) != n || split > 0 {
		t.Errorf("%d of %d keys split (want every key as flows of 1 and 3 packets), e.g. %s", split, n, example)
	}
}

// A packet never counts itself in an entry that is dead (being expired) or
// that holds another key (a deleted element reused): it looks again, and
// while the entry stays so, it is punted (Busy) for userspace to apply
// again, the entry untouched.
func TestPacketSkipsDeadOrReusedEntry(t *testing.T) {
	requireKernelPath(t)
	frames, _ := udpFlows(1, 1)
	m, err := New(Options{Flow: liveOptions(false)})
	if err != nil {
		t.Fatalf("load kernel path: %v", err)
	}
	defer m.Close()
	run := func() {
		t.Helper()
		if ret, err := m.objs.NfmXdp.Run(&ebpf.RunOptions{Data: frames[0].Data}); err != nil || ret != xdpPass {
			t.Fatalf("run: verdict %d, %v", ret, err)
		}
	}
	run()
	var keys [1]bpfobj.MeterFlowKey
	var vals [1]bpfobj.MeterFlowState
	if n, _ := m.objs.Flows.BatchLookup(new(ebpf.MapBatchCursor), keys[:], vals[:], nil); n != 1 {
		t.Fatalf("%d entries after one packet", n)
	}
	key, orig := keys[0], vals[0]
	other := key
	other.HiPort++
	for _, c := range []struct {
		name string
		set  func(*bpfobj.MeterFlowState)
	}{
		{"dead", func(st *bpfobj.MeterFlowState) { st.Dead = 1 }},
		{"reused", func(st *bpfobj.MeterFlowState) { st.Key = other }},
	} {
		st := orig
		c.set(&st)
		if err := m.objs.Flows.Update(&key, &st, ebpf.UpdateExist); err != nil {
			t.Fatal(err)
		}
		before, _ := m.Counters()
		run()
		after, _ := m.Counters()
		var got bpfobj.MeterFlowState
		if err := m.objs.Flows.Lookup(&key, &got); err != nil {
			t.Fatal(err)
		}
		if got.D != st.D || after.Busy-before.Busy != 1 || after.Punted-before.Punted != 1 || after.Metered != before.Metered {
			t.Errorf("%s entry: packets %d (want 1), busy +%d, punted +%d, metered +%d (want 1, 1, 0)", c.name,
				got.D.Dir[0].Packets, after.Busy-before.Busy, after.Punted-before.Punted, after.Metered-before.Metered)
		}
	}
	// Once the dead entry is deleted, the packet starts a new flow.
	if err := m.objs.Flows.Delete(&key); err != nil {
		t.Fatal(err)
	}
	run()
	var got bpfobj.MeterFlowState
	if err := m.objs.Flows.Lookup(&key, &got); err != nil || got.D.Dir[0].Packets != 1 || got.Key != key || got.Dead != 0 {
		t.Errorf("after the delete: %v, %+v", err, got)
	}
}
