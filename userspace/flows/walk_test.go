package flows_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// callLog is a ColumnWriter that records which method each column got.
type callLog struct{ calls []string }

func (c *callLog) Uint(uint64)        { c.calls = append(c.calls, "uint") }
func (c *callLog) Int(int64)          { c.calls = append(c.calls, "int") }
func (c *callLog) Float(float64)      { c.calls = append(c.calls, "float") }
func (c *callLog) String(flows.Text)  { c.calls = append(c.calls, "string") }
func (c *callLog) Ints(flows.IntList) { c.calls = append(c.calls, "ints") }
func (c *callLog) Any(any)            { c.calls = append(c.calls, "plugin") }
func (c *callLog) None()              { c.calls = append(c.calls, "plugin") }

// walkFlow is a flow with every optional part, and plugin values a and b
// (b nil, so None).
func walkFlow(withParts bool) *flows.Flow {
	f := &flows.Flow{ID: 7}
	f.UDPS.Set("a", 3)
	f.UDPS.Set("b", nil)
	if withParts {
		f.Stats = &flows.Stats{}
		f.SPLT = &flows.SPLT{Direction: []int8{0, 1}, PS: []int32{60, 1500}, PIATms: []int64{0, 4}}
		f.App = &flows.AppInfo{Name: "TLS", CategoryName: "Web"}
		f.SetProcess(flows.Process{PID: 42, Name: "curl"})
	}
	return f
}

// The walk visits exactly the columns of Schema.Names, in their order,
// for every shape of schema: one value per name, the plugin values at the
// udps.* names, lists at the splt_* names, floats at the means and
// deviations.
func TestWalkMatchesNames(t *testing.T) {
	for shape := range 1 << 6 {
		o := flows.DefaultOptions()
		o.DecodeTunnels = shape&1 != 0
		o.StatisticalAnalysis = shape&2 != 0
		if shape&4 != 0 {
			o.SPLTAnalysis = 3
		}
		if shape&8 == 0 {
			o.NDissections = 0
		}
		if shape&16 != 0 {
			o.SystemVisibilityMode = 1
		}
		withPlugins := shape&32 != 0
		name := fmt.Sprintf("tunnels=%v,stats=%v,splt=%d,app=%v,process=%v,plugins=%v",
			o.DecodeTunnels, o.StatisticalAnalysis, o.SPLTAnalysis, o.NDissections > 0, o.SystemVisibilityMode == 1, withPlugins)
		t.Run(name, func(t *testing.T) {
			for _, parts := range []bool{false, true} {
				f := walkFlow(parts)
				var first *flows.Flow
				if withPlugins {
					first = f
				}
				s := flows.NewSchema(&o, first)
				var log callLog
				f.Walk(s, &log)
				if len(log.calls) != len(s.Names) {
					t.Fatalf("parts=%v: %d values for %d names", parts, len(log.calls), len(s.Names))
				}
				for i, n := range s.Names {
					want := ""
					switch {
					case strings.HasPrefix(n, "udps."):
						want = "plugin"
					case strings.HasPrefix(n, "splt_"):
						want = "ints"
					case strings.Contains(n, "mean_") || strings.Contains(n, "stddev_"):
						want = "float"
					}
					if got := log.calls[i]; want != "" && got != want || want == "" && (got == "plugin" || got == "ints" || got == "float") {
						t.Errorf("parts=%v: column %d %s gets a %s value", parts, i, n, got)
					}
				}
				if vals := f.Values(s, nil); len(vals) != len(s.Names) {
					t.Errorf("parts=%v: Values gives %d values for %d names", parts, len(vals), len(s.Names))
				}
				if withPlugins && s.Names[s.UDPSStart()] != "udps.a" {
					t.Errorf("UDPSStart() = %d (%s)", s.UDPSStart(), s.Names[s.UDPSStart()])
				}
			}
		})
	}
}

// discard is a ColumnWriter that drops everything but reads the values.
type discard struct{ n int64 }

func (d *discard) Uint(v uint64) { d.n += int64(v) }
func (d *discard) Int(v int64)   { d.n += v }
func (d *discard) Float(float64) { d.n++ }
func (d *discard) String(t flows.Text) {
	var tmp [64]byte
	d.n += int64(len(t.AppendTo(tmp[:0])))
}
func (d *discard) Ints(l flows.IntList) {
	for i := range l.Len() {
		d.n += l.At(i)
	}
}
func (d *discard) Any(any) { d.n++ }
func (d *discard) None()   { d.n++ }

// Walking a flow allocates nothing, whatever parts it has.
func TestWalkAllocs(t *testing.T) {
	o := flows.DefaultOptions()
	o.StatisticalAnalysis, o.SPLTAnalysis, o.SystemVisibilityMode = true, 4, 1
	for _, parts := range []bool{false, true} {
		f := walkFlow(parts)
		s := flows.NewSchema(&o, f)
		d := &discard{}
		if n := testing.AllocsPerRun(100, func() { f.Walk(s, d) }); n != 0 {
			t.Errorf("parts=%v: %v allocations per walk, want 0", parts, n)
		}
	}
}

// Text prints addresses, MACs and OUIs like FormatAddr and FormatMAC, and
// IntList pads the SPLT with -1; Values carries both.
func TestWalkValues(t *testing.T) {
	o := flows.DefaultOptions()
	o.SPLTAnalysis, o.NDissections = 3, 0
	f := walkFlow(true)
	f.SrcMAC = [6]byte{0xde, 0xad, 0xbe, 0xef, 0, 1}
	s := flows.NewSchema(&o, nil)
	vals := f.Values(s, nil)
	got := map[string]string{}
	for i, n := range s.Names {
		v := vals[i]
		switch v.Kind {
		case flows.KindString:
			got[n] = v.S
		case flows.KindInts:
			got[n] = fmt.Sprint(v.Ints)
		}
	}
	want := map[string]string{
		"src_mac":        "de:ad:be:ef:00:01",
		"src_oui":        "de:ad:be",
		"dst_oui":        "00:00:00",
		"src_ip":         flows.FormatAddr(f.SrcAddr()),
		"splt_direction": "[0 1 -1]",
		"splt_ps":        "[60 1500 -1]",
		"splt_piat_ms":   "[0 4 -1]",
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, want %q", n, got[n], w)
		}
	}
}
