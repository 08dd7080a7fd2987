//go:build linux

package afpacket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// untilIdle ends a live capture for a streamer: it passes ErrTimeout over
// until done is closed, then ends with io.EOF at the next timeout, once no
// frame came for a whole poll timeout after the sender finished.
type untilIdle struct {
	s    *Socket
	done <-chan struct{}
}

func (u *untilIdle) Next(p *flows.Frame) error {
	for {
		err := u.s.Next(p)
		if !errors.Is(err, ErrTimeout) {
			return err
		}
		select {
		case <-u.done:
			return io.EOF
		default:
		}
	}
}

// flowSummary is what a flow's record holds that does not depend on when
// its packets arrived.
func flowSummary(f *flows.Flow) string {
	s := fmt.Sprintf("%v:%d > %v:%d proto %d vlan %d tunnel %d | %d pkts %d bytes > | %d pkts %d bytes <",
		f.SrcAddr(), f.SrcPort(), f.DstAddr(), f.DstPort(), f.Protocol(), f.VLANID(), f.TunnelID(),
		f.Src2Dst.Packets, f.Src2Dst.Bytes, f.Dst2Src.Packets, f.Dst2Src.Bytes)
	if st := f.Stats; st != nil {
		s += fmt.Sprintf(" | ps %d-%d mean %.3f / %d-%d / %d-%d | syn %d ack %d psh %d fin %d rst %d",
			st.Bi.MinPS, st.Bi.MaxPS, st.Bi.MeanPS, st.S2D.MinPS, st.S2D.MaxPS, st.D2S.MinPS, st.D2S.MaxPS,
			st.Bi.Syn, st.Bi.Ack, st.Bi.Psh, st.Bi.Fin, st.Bi.Rst)
	}
	return s
}

func summaries(fs []*flows.Flow) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = flowSummary(f)
	}
	slices.Sort(out)
	return out
}

// meter runs a streamer over src (testutil.MeterSource, for goroutines
// other than the test's).
func meter(src flows.Source, opts flows.Options) ([]*flows.Flow, error) {
	st, err := flows.NewStreamer(src, opts)
	if err != nil {
		return nil, err
	}
	var out []*flows.Flow
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// offlineDemo returns the engine options of the live tests and the
// summaries of the flows they find in the demo capture offline.
func offlineDemo(t *testing.T) (flows.Options, []string) {
	t.Helper()
	opts := flows.DefaultOptions()
	opts.NDissections = 0
	opts.StatisticalAnalysis = true
	opts.NMeters = 1
	want := summaries(testutil.MeterFile(t, demoPcap, opts))
	if len(want) < 10 {
		t.Fatalf("%d flows offline", len(want))
	}
	return opts, want
}

// replay sends the demo capture onto va at its own pace and closes done.
func replay(t *testing.T, in *pcapreplay.Injector, done chan<- struct{}) {
	defer close(done)
	r, err := pcapreplay.Open(demoPcap)
	if err != nil {
		t.Error(err)
		return
	}
	defer r.Close()
	if _, err := pcapreplay.Replay(context.Background(), r, in, pcapreplay.ReplayOptions{}); err != nil {
		t.Error(err)
	}
}

// The userspace engine metering a socket while the demo capture is
// replayed into the veth pair finds the flows of the offline run, with the
// same keys, directions, packets, bytes, sizes and TCP flags; with a
// fanout group, one streamer per socket (as NFStream's meters) together
// find them too.
func TestMeterLive(t *testing.T) {
	ns := mustNetNS(t)
	opts, want := offlineDemo(t)
	for _, tc := range []struct {
		name           string
		sockets, meter int
	}{
		{"one socket", 1, 1},
		{"one socket, parallel engine", 1, 3},
		{"fanout of 3", 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sopts := Options{Snaplen: opts.SnapshotLength, PollTimeout: 50 * time.Millisecond}
			var socks []*Socket
			if tc.sockets == 1 {
				socks = []*Socket{mustOpen(t, ns, "vb", sopts)}
			} else {
				socks = mustOpenFanout(t, ns, "vb", tc.sockets, sopts).Sockets()
			}
			in := mustInjector(t, ns, "va")
			mopts := opts
			mopts.NMeters = tc.meter
			done := make(chan struct{})
			var (
				mu  sync.Mutex
				got []*flows.Flow
				wg  sync.WaitGroup
			)
			for _, s := range socks {
				wg.Go(func() {
					fs, err := meter(&untilIdle{s: s, done: done}, mopts)
					if err != nil {
						t.Errorf("meter %s: %v", s.Interface(), err)
					}
					mu.Lock()
					got = append(got, fs...)
					mu.Unlock()
				})
			}
			replay(t, in, done)
			wg.Wait()
			if g := summaries(got); !slices.Equal(g, want) {
				t.Errorf("live flows differ from the offline run:\n got\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// A Meter (a fanout group, one streamer per socket, merged) finds the
// flows of the offline run, numbered 0, 1, 2, ...; cancelling its context
// ends it without error once what was captured is metered.
func TestMeterType(t *testing.T) {
	ns := mustNetNS(t)
	opts, want := offlineDemo(t)
	// GIVEN a meter of two sockets on vb
	opts.NMeters = 2
	m := mustMeter(t, ns, "vb", opts)
	if s := m.String(); s != "AF_PACKET (TPACKET_V3, fanout of 2) on vb" {
		t.Errorf("String() = %q", s)
	}
	in := mustInjector(t, ns, "va")
	// WHEN the demo capture is replayed into va, and the meter is then
	// stopped
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		replay(t, in, done)
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	var got []*flows.Flow
	for f, err := range m.Flows(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if f.ID != uint64(len(got)) {
			t.Errorf("flow %d has id %d", len(got), f.ID)
		}
		got = append(got, f)
	}
	<-done
	// THEN the flows are those of the offline run, counted
	if g := summaries(got); !slices.Equal(g, want) {
		t.Errorf("live flows differ from the offline run:\n got\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
	c, err := m.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.PerMeter) != 2 || c.PerMeter[0]+c.PerMeter[1] != c.Processed || c.Processed == 0 || c.Flows != uint64(len(got)) {
		t.Errorf("counters %+v, %d flows", c, len(got))
	}
}
