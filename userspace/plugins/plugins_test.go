package plugins_test

import (
	"slices"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/internal/testutil"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/plugins"
)

func mustFlows(tb testing.TB, path string, opts flows.Options) []*flows.Flow {
	tb.Helper()
	return testutil.MeterFile(tb, path, opts)
}

// 443-curl.pcap is one TCP connection of 109 packets.
func TestFlowSlicer(t *testing.T) {
	path := corpus.Pcap(t, "443-curl.pcap")
	tests := []struct {
		name      string
		limit     uint64
		wantFlows int
		lastSize  uint64
		lastExpID int64
	}{
		{"limit 1", 1, 109, 1, -1},
		{"limit 4", 4, 28, 1, 0},
		{"limit 109", 109, 1, 109, -1},
		{"limit 200", 200, 1, 109, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := flows.DefaultOptions()
			o.NDissections = 0
			o.Plugins = []flows.Plugin{&plugins.FlowSlicer{Limit: tt.limit}}
			got := mustFlows(t, path, o)
			if len(got) != tt.wantFlows {
				t.Fatalf("%d flows, want %d", len(got), tt.wantFlows)
			}
			var total uint64
			for i, f := range got {
				if f.ID != uint64(i) {
					t.Fatalf("flow %d has id %d", i, f.ID)
				}
				total += f.Bidirectional.Packets
				if i < len(got)-1 && (f.Bidirectional.Packets != tt.limit || f.ExpirationID != -1) {
					t.Errorf("flow %d: %d packets, expiration_id %d; want %d, -1", i, f.Bidirectional.Packets, f.ExpirationID, tt.limit)
				}
			}
			last := got[len(got)-1]
			if last.Bidirectional.Packets != tt.lastSize || last.ExpirationID != tt.lastExpID {
				t.Errorf("last flow: %d packets, expiration_id %d; want %d, %d", last.Bidirectional.Packets, last.ExpirationID, tt.lastSize, tt.lastExpID)
			}
			if total != 109 {
				t.Errorf("%d packets in flows, want 109", total)
			}
		})
	}
}

// The SPLT plugin and the native splt_analysis give the same arrays.
func TestSPLTPluginMatchesNative(t *testing.T) {
	for _, name := range []string{"443-curl.pcap", "dns_fragmented.pcap", "KakaoTalk_chat.pcap", "ipv6_in_gtp.pcap"} {
		for _, mode := range []flows.AccountingMode{flows.AccountRaw, flows.AccountPayload} {
			t.Run(name, func(t *testing.T) {
				path := corpus.Pcap(t, name)
				o := flows.DefaultOptions()
				o.NDissections = 0
				o.SPLTAnalysis = 7
				o.AccountingMode = mode
				o.Plugins = []flows.Plugin{&plugins.SPLT{SequenceLength: 7, AccountingMode: mode}}
				got := mustFlows(t, path, o)
				if len(got) == 0 {
					t.Fatal("no flows")
				}
				for _, f := range got {
					get := func(n string) []int64 { v, _ := f.UDPS.Get(n); return v.([]int64) }
					var dir, ps, piat []int64
					for i := range f.SPLT.Direction {
						dir = append(dir, int64(f.SPLT.Direction[i]))
						ps = append(ps, int64(f.SPLT.PS[i]))
						piat = append(piat, f.SPLT.PIATms[i])
					}
					if !slices.Equal(get("splt_direction"), dir) || !slices.Equal(get("splt_ps"), ps) || !slices.Equal(get("splt_piat_ms"), piat) {
						t.Fatalf("flow %d: plugin %v %v %v, native %v %v %v", f.ID,
							get("splt_direction"), get("splt_ps"), get("splt_piat_ms"), dir, ps, piat)
					}
				}
			})
		}
	}
}
