package kmeter

import (
	"errors"
	"os"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Validate is the one range check of the kernel path's options, and names
// the parameter it refuses.
func TestOptionsValidate(t *testing.T) {
	page := os.Getpagesize()
	tests := []struct {
		name  string
		mod   func(*Options)
		param string // "" when valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"flow option", func(o *Options) { o.Flow.SPLTAnalysis = -1 }, "splt_analysis"},
		{"one flow", func(o *Options) { o.MaxFlows = 1 }, ""},
		{"largest table", func(o *Options) { o.MaxFlows = MaxMaxFlows }, ""},
		{"no table", func(o *Options) { o.MaxFlows = 0 }, "kernel_max_flows"},
		{"table too large", func(o *Options) { o.MaxFlows = MaxMaxFlows + 1 }, "kernel_max_flows"},
		{"one page", func(o *Options) { o.RingBytes = page }, ""},
		{"largest ring", func(o *Options) { o.RingBytes = MaxRingBytes }, ""},
		{"no ring", func(o *Options) { o.RingBytes = 0 }, "ring_buffer_size"},
		{"ring not a power of two", func(o *Options) { o.RingBytes = 100000 }, "ring_buffer_size"},
		{"ring below a page", func(o *Options) { o.RingBytes = page / 2 }, "ring_buffer_size"},
		{"ring too large", func(o *Options) { o.RingBytes = MaxRingBytes * 2 }, "ring_buffer_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
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
	// New reads zero sizes as the defaults.
	if o := (Options{Flow: flows.DefaultOptions()}).withDefaults(); o.Validate() != nil || o.MaxFlows != DefaultMaxFlows || o.RingBytes != DefaultRingBytes {
		t.Errorf("zero sizes became %d flows, %d ring bytes", o.MaxFlows, o.RingBytes)
	}
}

// Supports refuses what needs every packet or a libpcap filter, with an
// error that is ErrUnsupported and carries no command-line advice.
func TestSupports(t *testing.T) {
	o := flows.DefaultOptions()
	if err := Supports(&o); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		param string
		mod   func(*flows.Options)
	}{
		{"udps", func(o *flows.Options) { o.Plugins = []flows.Plugin{nil} }},
		{"bpf_filter", func(o *flows.Options) { o.BPFFilter = "udp" }},
	} {
		o := flows.DefaultOptions()
		tc.mod(&o)
		err := Supports(&o)
		var ue *UnsupportedError
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &ue) || ue.Param != tc.param {
			t.Errorf("%s: Supports = %v, want an UnsupportedError for it", tc.param, err)
		}
	}
}
