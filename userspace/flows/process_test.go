package flows_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// system_visibility_mode and system_visibility_poll_ms are validated as
// NFStream validates them: mode 0 or 1, poll >= 0.
func TestOptionsValidateSystemVisibility(t *testing.T) {
	tests := []struct {
		name  string
		mode  int
		poll  int
		param string // "" when valid
	}{
		{"off", 0, 100, ""},
		{"on", 1, 100, ""},
		{"busy poll", 1, 0, ""},
		{"mode 2 (browser extension, rejected by NFStream 6.5.4)", 2, 100, "system_visibility_mode"},
		{"negative mode", -1, 100, "system_visibility_mode"},
		{"negative poll", 1, -1, "system_visibility_poll_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := flows.DefaultOptions()
			o.SystemVisibilityMode, o.SystemVisibilityPollMs = tt.mode, tt.poll
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
	if o := flows.DefaultOptions(); o.SystemVisibilityMode != 0 || o.SystemVisibilityPollMs != 100 {
		t.Errorf("defaults: mode %d, poll %d ms; NFStream's are 0 and 100", o.SystemVisibilityMode, o.SystemVisibilityPollMs)
	}
}

// With mode 1 the two columns come last (after plugin columns), with
// NFStream's defaults until a process is set; the plugin columns keep
// their place.
func TestSchemaProcessColumns(t *testing.T) {
	var src flowstest.Source
	src.Push(1, flowstest.TCP(hostA, hostB, 0x02, 0))
	o := flows.DefaultOptions()
	o.SystemVisibilityMode = 1
	o.Plugins = []flows.Plugin{tagPlugin{}}
	fl, err := meterAll(t, &src, o)
	if err != nil || len(fl) != 1 {
		t.Fatalf("%d flows, %v", len(fl), err)
	}
	f := fl[0]
	s := flows.NewSchema(&o, f)
	n := len(s.Names)
	if !slices.Equal(s.Names[n-3:], []string{"udps.tag", "system_process_pid", "system_process_name"}) {
		t.Fatalf("last columns %v", s.Names[n-3:])
	}
	if got := s.UDPSStart(); s.Names[got] != "udps.tag" {
		t.Errorf("UDPSStart() = %d (%s), want the index of udps.tag", got, s.Names[got])
	}
	vals := f.Values(s, nil)
	if v := vals[n-2]; v.Kind != flows.KindInt || v.I != -1 {
		t.Errorf("pid default %+v, want int -1", v)
	}
	if v := vals[n-1]; v.Kind != flows.KindString || v.S != "" {
		t.Errorf("name default %+v, want \"\"", v)
	}
	if _, ok := f.Process(); ok {
		t.Error("Process() reports a process before SetProcess")
	}
	f.SetProcess(flows.Process{PID: 4242, Name: "curl"})
	vals = f.Values(s, vals[:0])
	if vals[n-2].I != 4242 || vals[n-1].S != "curl" {
		t.Errorf("after SetProcess: %+v %+v", vals[n-2], vals[n-1])
	}
	if v, ok := f.UDPS.Get("tag"); !ok || v != "x" || f.UDPS.Len() != 1 {
		t.Errorf("plugin value lost next to the process: %v %v", v, ok)
	}

	o.SystemVisibilityMode = 0
	if s := flows.NewSchema(&o, f); slices.Contains(s.Names, "system_process_pid") || s.Process {
		t.Errorf("mode 0 has process columns: %v", s.Names)
	}
}

// A process set before any plugin value does not hide plugin values set
// afterwards.
func TestSetProcessThenUDPS(t *testing.T) {
	var f flows.Flow
	f.SetProcess(flows.Process{PID: 1, Name: "init"})
	f.UDPS.Set("a", 1)
	if p, ok := f.Process(); !ok || p.PID != 1 || p.Name != "init" {
		t.Errorf("Process() = %+v, %v", p, ok)
	}
	if v, ok := f.UDPS.Get("a"); !ok || v != 1 || !slices.Equal(f.UDPS.Names(), []string{"a"}) {
		t.Errorf("UDPS after SetProcess: %v %v %v", v, ok, f.UDPS.Names())
	}
}

type tagPlugin struct{}

func (tagPlugin) OnInit(p *flows.Packet, f *flows.Flow)   { f.UDPS.Set("tag", "x") }
func (tagPlugin) OnUpdate(p *flows.Packet, f *flows.Flow) {}
func (tagPlugin) OnExpire(f *flows.Flow)                  {}
