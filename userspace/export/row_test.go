package export

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// The direct row writer and the generic Values path agree on every flow of
// the conformance captures, under several schemas.
func TestAppendFlowRowMatchesValues(t *testing.T) {
	dir := corpus.Dir(t)
	pcaps := append(corpus.Captures(dir), corpus.Synthetic(dir)...)
	if len(pcaps) == 0 {
		t.Skipf("conformance corpus at %s has no captures", dir)
	}
	configs := []flows.Options{flows.DefaultOptions(), flows.DefaultOptions(), flows.DefaultOptions(), flows.DefaultOptions()}
	configs[1].StatisticalAnalysis, configs[1].SPLTAnalysis = true, 3
	configs[2].DecodeTunnels, configs[2].StatisticalAnalysis = false, true
	configs[3].SystemVisibilityMode = 1
	n := 0
	for _, o := range configs {
		o.NDissections = 0
		for _, p := range pcaps {
			r, err := pcapreplay.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			st, err := flows.NewStreamer(r, o)
			if err != nil {
				t.Fatal(err)
			}
			c := &CSV{}
			for f, err := range st.Flows(context.Background()) {
				if err != nil {
					break
				}
				if o.SystemVisibilityMode == 1 && f.ID%2 == 0 {
					f.SetProcess(flows.Process{PID: int(f.ID), Name: "proc \"x\""})
				}
				s := flows.NewSchema(&o, f)
				if c.anonAt == nil {
					c.anonAt = make([]bool, len(s.Names))
				}
				want := string(c.AppendRow(nil, f.Values(s, nil)))
				if got := string(appendFlowRow(nil, f, s)); got != want {
					t.Fatalf("%s flow %d:\n got %s\nwant %s", filepath.Base(p), f.ID, got, want)
				}
				n++
			}
			r.Close()
		}
	}
	t.Logf("%d flows compared", n)
}
