//go:build linux

package kmeter

import (
	"testing"

	"github.com/cilium/ebpf/btf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
)

// Counters reads every slot of the C enum counter, each into its own
// field: the generated constants, the compiled object's BTF and the
// counters map agree on the count.
func TestKernelCountersMatchEnum(t *testing.T) {
	var c Counters
	ks := kernelCounters(&c)
	if len(ks) != int(bpfobj.MeterCounterCOUNTER_MAX) {
		t.Errorf("%d counters read, enum counter has %d", len(ks), bpfobj.MeterCounterCOUNTER_MAX)
	}
	slots := map[bpfobj.MeterCounter]bool{}
	fields := map[*uint64]bool{}
	for _, k := range ks {
		if k.index >= bpfobj.MeterCounterCOUNTER_MAX || slots[k.index] || fields[k.total] {
			t.Errorf("counter %d: out of range or read twice", k.index)
		}
		slots[k.index], fields[k.total] = true, true
	}

	spec, err := bpfobj.LoadMeter()
	if err != nil {
		t.Fatal(err)
	}
	var enum *btf.Enum
	if err := spec.Types.TypeByName("counter", &enum); err != nil {
		t.Fatalf("enum counter in the object's BTF: %v", err)
	}
	// Every value but the COUNTER_MAX terminator is a slot.
	if n := len(enum.Values) - 1; n != len(ks) {
		t.Errorf("C enum counter has %d slots, %d are read", n, len(ks))
	}
	for _, v := range enum.Values {
		if v.Name == "COUNTER_MAX" && v.Value != uint64(bpfobj.MeterCounterCOUNTER_MAX) {
			t.Errorf("COUNTER_MAX is %d in the object, %d in the Go bindings: run make generate", v.Value, bpfobj.MeterCounterCOUNTER_MAX)
		}
	}
	if got := spec.Maps[bpfobj.MeterMapCounters].MaxEntries; got != uint32(bpfobj.MeterCounterCOUNTER_MAX) {
		t.Errorf("counters map has %d slots, enum counter %d", got, bpfobj.MeterCounterCOUNTER_MAX)
	}
}
