//go:build linux

package kmeter

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// The fallbacks this kernel allows are exercised too: generic XDP (for
// drivers without native XDP) and clsact filters (for kernels without
// TCX). Each meters the demo capture replayed onto the veth pair like the
// offline run, and leaves nothing on the interface once closed.
func TestAttachFallbacks(t *testing.T) {
	demo := filepath.Join("..", "..", "testdata", "demo.pcap")
	frames := ethernetFrames(t, demo)
	o := liveOptions(false)
	want := flowsCSV(t, o, testutil.MeterSource(t, &frameSource{frames: frames}, o))
	for _, c := range []struct {
		hook Hook
		ao   AttachOptions
		want string
	}{
		{HookXDP, AttachOptions{GenericXDP: true}, "xdp (generic) ingress + tcx egress on vb"},
		{HookTC, AttachOptions{Clsact: true}, "clsact ingress + egress on vb"},
		{HookXDP, AttachOptions{GenericXDP: true, Clsact: true}, "xdp (generic) ingress + clsact egress on vb"},
	} {
		var got []*flows.Flow
		var att Attachment
		var cnt Counters
		requireKernelPath(t)
		ns := testutil.NetNS(t, 3500)
		testutil.InNetNS(t, ns, func() {
			m, err := New(Options{Flow: o})
			if err != nil {
				t.Error(err)
				return
			}
			defer m.Close()
			if att, err = m.Attach("vb", c.hook, c.ao); err != nil {
				t.Error(err)
				return
			}
			inj, err := pcapreplay.OpenInjector("va")
			if err != nil {
				t.Error(err)
				return
			}
			defer inj.Close()
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan []*flows.Flow, 1)
			go func() {
				var fs []*flows.Flow
				for f, err := range m.Flows(ctx) {
					if err != nil {
						t.Error(err)
						break
					}
					fs = append(fs, f)
				}
				res <- fs
			}()
			for i := range frames {
				if err := inj.Write(frames[i].Data); err != nil {
					t.Errorf("frame %d: %v", i, err)
				}
			}
			time.Sleep(100 * time.Millisecond)
			cancel()
			got = <-res
			cnt, _ = m.Counters()
		})
		if t.Failed() {
			return
		}
		if att.String() != c.want {
			t.Errorf("attached %q, want %q", att, c.want)
		}
		d, err := testutil.CompareFlowCSV(want, flowsCSV(t, o, got), testutil.TimeColumn, 1e-9)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Exact() || cnt.Seen != uint64(len(frames)) {
			t.Errorf("%s: %d of %d frames seen; %s", c.want, cnt.Seen, len(frames), d)
		}
		out, _ := exec.Command("ip", "netns", "exec", ns, "tc", "filter", "show", "dev", "vb", "ingress").CombinedOutput()
		link, _ := exec.Command("ip", "-n", ns, "link", "show", "vb").CombinedOutput()
		if strings.Contains(string(out), "nfm_tc") || strings.Contains(string(link), "xdp") {
			t.Errorf("%s: still attached after Close: %s %s", c.want, out, link)
		}
		t.Logf("%s: %d frames, flows equal to the offline run, detached", c.want, cnt.Seen)
	}
}
