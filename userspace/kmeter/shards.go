//go:build linux

package kmeter

import (
	"github.com/cilium/ebpf"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// shard returns the assembler of key.
func (k *kernelSide) shard(key flows.Key) *asmShard {
	if len(k.shards) == 1 {
		return k.shards[0]
	}
	return k.shards[key.Hash()%uint64(len(k.shards))]
}

// dispatch runs it on its shard: here with one shard, else on the shard's
// goroutine (with its own copy of the packet bytes, which the ring reader
// reuses).
func (k *kernelSide) dispatch(it *asmItem) {
	sh := k.shard(it.cp.Key)
	if sh.in == nil {
		sh.handle(it)
		return
	}
	if it.end == nil {
		it.cp.L3 = append([]byte(nil), it.cp.L3...)
	}
	sh.in <- *it
}

// asmItem is a copied packet (end nil) or a flow to complete.
type asmItem struct {
	kkey bpfobj.MeterFlowKey
	cp   flows.CopiedPacket
	end  *flows.Flow
	gen  uint64
}

// asmShard completes the flows of one nDPI shard.
type asmShard struct {
	m    *Meter
	asm  *flows.Assembler
	out  chan<- *flows.Flow
	in   chan asmItem         // nil: run on the reader's goroutine
	done map[flows.Key]uint64 // flows marked done in the kernel, by gen
}

func (sh *asmShard) handle(it *asmItem) {
	m := sh.m
	if it.end == nil {
		if !sh.asm.Packet(&it.cp) {
			if g, ok := sh.done[it.cp.Key]; !ok || g != it.cp.Gen {
				if err := m.objs.DoneFlows.Update(&it.kkey, it.cp.Gen, ebpf.UpdateAny); err == nil {
					sh.done[it.cp.Key] = it.cp.Gen
				}
			}
		}
		return
	}
	f := it.end
	if g, ok := sh.done[f.Key()]; ok && g == it.gen {
		delete(sh.done, f.Key())
		_ = m.objs.DoneFlows.Delete(&it.kkey)
	}
	before := sh.asm.Lost
	sh.asm.Complete(f, it.gen)
	m.user.spltGaps.Add(sh.asm.Lost - before)
	m.user.kernelFlows.Add(1)
	sh.out <- f
}
