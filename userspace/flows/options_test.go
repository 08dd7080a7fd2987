package flows_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// The bounds nfmeter adds to NFStream's: a snap length a C int holds, at
// most MaxDissectorShards nDPI modules, a poll interval in an int32.
func TestOptionsValidateBounds(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*flows.Options)
		param string // "" when valid
	}{
		{"largest snapshot", func(o *flows.Options) { o.SnapshotLength = flows.MaxSnapshotLength }, ""},
		{"snapshot too long", func(o *flows.Options) { o.SnapshotLength = flows.MaxSnapshotLength + 1 }, "snapshot_length"},
		{"one shard", func(o *flows.Options) { o.DissectorShards = 1 }, ""},
		{"most shards", func(o *flows.Options) { o.DissectorShards = flows.MaxDissectorShards }, ""},
		{"no shard", func(o *flows.Options) { o.DissectorShards = 0 }, "dissector_shards"},
		{"too many shards", func(o *flows.Options) { o.DissectorShards = flows.MaxDissectorShards + 1 }, "dissector_shards"},
		{"most meters", func(o *flows.Options) { o.NMeters = flows.MaxNMeters }, ""},
		{"too many meters", func(o *flows.Options) { o.NMeters = flows.MaxNMeters + 1 }, "n_meters"},
		{"poll too long", func(o *flows.Options) { o.SystemVisibilityPollMs = 1 << 31 }, "system_visibility_poll_ms"},
		{"idle timeout too long", func(o *flows.Options) { o.IdleTimeout = 1 << 63 }, "idle_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := flows.DefaultOptions()
			tt.mod(&o)
			err := o.Validate()
			var pe *flows.ParamError
			switch {
			case tt.param == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.param != "" && (!errors.As(err, &pe) || pe.Param != tt.param):
				t.Errorf("Validate() = %v, want a ParamError for %s", err, tt.param)
			}
		})
	}
}

// Meters is the one auto policy: NMeters when set, else one per CPU up
// to MaxAutoMeters.
func TestOptionsMeters(t *testing.T) {
	o := flows.DefaultOptions()
	if got, want := o.Meters(), min(runtime.GOMAXPROCS(0), flows.MaxAutoMeters); got != want {
		t.Errorf("auto: %d meters, want %d", got, want)
	}
	for _, n := range []int{1, 3, flows.MaxAutoMeters + 5} {
		o.NMeters = n
		if got := o.Meters(); got != n {
			t.Errorf("NMeters %d: %d meters", n, got)
		}
	}
}
