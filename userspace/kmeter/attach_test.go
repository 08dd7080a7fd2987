//go:build linux

package kmeter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

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
			res := collectFlows(t, m.Flows(ctx))
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

// Clsact filters outlive their process, so a start removes nfmeter's stale
// ones (a killed run's: their process no longer holds their program) and
// nothing else: not another tool's filter, even at nfmeter's priority, and
// not the filters of a meter still running on the same interface.
func TestClsactRemovesOnlyStaleFilters(t *testing.T) {
	requireKernelPath(t)
	testutil.RequirePrivilege(t, "tc")
	ns := testutil.NetNS(t, 3500)
	testutil.MustCmd(t, "tc", "-n", ns, "qdisc", "add", "dev", "vb", "clsact")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	o := Options{Flow: liveOptions(false)}
	testutil.InNetNS(t, ns, func() {
		other, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			t.Fatal(err)
		}
		defer nl.Close()
		vb, err := nl.LinkByName("vb")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			name   string
			handle uint32
		}{
			{"other_tool", 7}, // another tool's, at nfmeter's priority
			{fmt.Sprintf("nfm_tc:%d", dead.Process.Pid), 8}, // a killed nfmeter's
		} {
			err := nl.FilterAdd(&netlink.BpfFilter{
				FilterAttrs: netlink.FilterAttrs{LinkIndex: vb.Attrs().Index, Parent: netlink.HANDLE_MIN_INGRESS,
					Handle: f.handle, Protocol: unix.ETH_P_ALL, Priority: clsactPrio},
				Fd: other.objs.NfmTc.FD(), Name: f.name, DirectAction: true,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		names := func() []string {
			var out []string
			for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
				fs, err := nl.FilterList(vb, parent)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fs {
					if bf, ok := f.(*netlink.BpfFilter); ok {
						out = append(out, bf.Name)
					}
				}
			}
			slices.Sort(out)
			return out
		}
		self := fmt.Sprintf("nfm_tc:%d", os.Getpid())
		var ms [2]*Meter
		for i := range ms {
			if ms[i], err = New(o); err != nil {
				t.Fatal(err)
			}
			defer ms[i].Close()
			if _, err := ms[i].Attach("vb", HookTC, AttachOptions{Clsact: true}); err != nil {
				t.Fatalf("meter %d: %v", i, err)
			}
		}
		if got, want := names(), []string{self, self, self, self, "other_tool"}; !slices.Equal(got, want) {
			t.Fatalf("two meters attached: filters %q, want %q", got, want)
		}
		for i, want := range [][]string{{self, self, "other_tool"}, {"other_tool"}} {
			if err := ms[i].Detach(); err != nil {
				t.Fatal(err)
			}
			if got := names(); !slices.Equal(got, want) {
				t.Fatalf("meter %d detached: filters %q, want %q", i, got, want)
			}
		}
	})
	if q, _ := exec.Command("tc", "-n", ns, "qdisc", "show", "dev", "vb").Output(); !strings.Contains(string(q), "clsact") {
		t.Errorf("the clsact qdisc, which holds another tool's filter, was removed: %s", q)
	}
}
