package flows

import "sync/atomic"

// dissectors runs the flows' classifiers (nDPI) on a fixed number of
// shards, each with its own Dissector (nDPI module). A flow always goes to
// shard hash mod S, and each shard sees its flows' packets in capture
// order, so the labels depend on S but never on the number of meters.
//
// Synchronously (one meter, or plugins that read the labels while the flow
// is live) the metering goroutine calls the shards itself. Asynchronously
// each shard has a goroutine fed with batches of packet copies; emitted
// flows wait in a queue until their shard has classified them, and leave
// it in emission order.
type dissectors struct {
	shards  []*dissectShard
	async   bool
	nDiss   uint64
	pending []pendingFlow
}

type pendingFlow struct {
	f     *Flow
	shard *dissectShard
	seq   uint64
}

type dissectShard struct {
	d    Dissector
	in   chan *dissectBatch
	free chan *dissectBatch
	cur  *dissectBatch
	sent uint64        // items appended (metering goroutine only)
	done atomic.Uint64 // items processed by the worker
	kick chan struct{} // worker progress signal
	exit chan struct{}
}

type itemKind uint8

const (
	itemPacket itemKind = iota
	itemFinish
	itemFree
)

type dissectItem struct {
	kind   itemKind
	df     DissectorFlow
	f      *Flow
	off, n int
	t      uint64
}

type dissectBatch struct {
	items []dissectItem
	arena []byte
}

const (
	dissectBatchItems = 256
	dissectBatches    = 4
)

func newDissectors(ds []Dissector, nDiss int, async bool) *dissectors {
	x := &dissectors{async: async, nDiss: uint64(nDiss)}
	for _, d := range ds {
		sh := &dissectShard{d: d}
		if async {
			sh.in = make(chan *dissectBatch, dissectBatches)
			sh.free = make(chan *dissectBatch, dissectBatches+1)
			for range dissectBatches + 1 {
				sh.free <- &dissectBatch{}
			}
			sh.kick = make(chan struct{}, 1)
			sh.exit = make(chan struct{})
			go sh.work()
		}
		x.shards = append(x.shards, sh)
	}
	return x
}

// shard picks f's shard with the fixed [Key.Hash], not the table's seeded
// hash, so that a flow meets the same module in every run.
func (x *dissectors) shard(f *Flow) *dissectShard {
	return x.shards[f.key.Hash()%uint64(len(x.shards))]
}

// run applies one item; it is the only code that touches a classifier.
// f.App is written here only, and read by others once the item is done.
func run(it *dissectItem, l3 []byte) {
	switch it.kind {
	case itemPacket:
		if it.f.App == nil {
			it.df.Packet(l3, it.t)
			if it.df.Done() {
				info := it.df.Finish()
				it.f.App = &info
			}
		}
	case itemFinish:
		if it.f.App == nil {
			info := it.df.Finish()
			it.f.App = &info
		}
	case itemFree:
		if it.f.App == nil {
			it.df.Free()
		}
	}
}

func (sh *dissectShard) work() {
	defer close(sh.exit)
	for b := range sh.in {
		for i := range b.items {
			it := &b.items[i]
			run(it, b.arena[it.off:it.off+it.n])
		}
		n := uint64(len(b.items))
		clear(b.items)
		b.items, b.arena = b.items[:0], b.arena[:0]
		sh.done.Add(n)
		sh.free <- b
		select {
		case sh.kick <- struct{}{}:
		default:
		}
	}
}

// add queues an item (async) and returns its sequence number.
func (sh *dissectShard) add(it dissectItem, l3 []byte) uint64 {
	if sh.cur == nil {
		sh.cur = <-sh.free
	}
	b := sh.cur
	it.off, it.n = len(b.arena), len(l3)
	b.arena = append(b.arena, l3...)
	b.items = append(b.items, it)
	sh.sent++
	if len(b.items) >= dissectBatchItems {
		sh.flush()
	}
	return sh.sent
}

func (sh *dissectShard) flush() {
	if sh.cur != nil && len(sh.cur.items) > 0 {
		sh.in <- sh.cur
		sh.cur = nil
	}
}

func (x *dissectors) newFlow(f *Flow) {
	f.dpi = x.shard(f).d.NewFlow()
}

// packet hands the k-th packet of f to its classifier (k ≤ n_dissections).
func (x *dissectors) packet(f *Flow, d *Decoded, t uint64, frame []byte) {
	if f.dpi == nil || f.Bidirectional.Packets > x.nDiss {
		return
	}
	var l3 []byte
	if end := int(d.L3Off) + int(d.L3Len); d.L3Off >= 0 && end <= len(frame) {
		l3 = frame[d.L3Off:end]
	}
	it := dissectItem{kind: itemPacket, df: f.dpi, f: f, t: t}
	sh := x.shard(f)
	if !x.async {
		run(&it, l3)
		if f.App != nil {
			f.dpi = nil
		}
		return
	}
	sh.add(it, l3)
}

// finish classifies f for emission. Synchronously it is done on return;
// asynchronously f joins the queue of flows waiting for their label.
func (x *dissectors) finish(f *Flow) {
	if f.dpi == nil {
		if x.async {
			x.pending = append(x.pending, pendingFlow{f: f})
		}
		return
	}
	it := dissectItem{kind: itemFinish, df: f.dpi, f: f}
	f.dpi = nil
	if !x.async {
		run(&it, nil)
		return
	}
	sh := x.shard(f)
	x.pending = append(x.pending, pendingFlow{f: f, shard: sh, seq: sh.add(it, nil)})
}

// free drops f's classifier state without classifying it.
func (x *dissectors) free(f *Flow) {
	if f.dpi == nil {
		return
	}
	it := dissectItem{kind: itemFree, df: f.dpi, f: f}
	f.dpi = nil
	if !x.async {
		run(&it, nil)
		return
	}
	x.shard(f).add(it, nil)
}

// ready calls emit for the queued flows whose label is known, in order.
// With wait set it first hands every partial batch over and waits for the
// whole queue.
func (x *dissectors) ready(wait bool, emit func(*Flow)) {
	if wait {
		x.handOver()
	}
	i := 0
	for ; i < len(x.pending); i++ {
		p := x.pending[i]
		if p.shard != nil {
			for p.shard.done.Load() < p.seq {
				if !wait {
					goto out
				}
				<-p.shard.kick
			}
		}
		emit(p.f)
	}
out:
	n := copy(x.pending, x.pending[i:])
	clear(x.pending[n:])
	x.pending = x.pending[:n]
}

// handOver sends partial batches so that workers never wait for a batch to
// fill while the meter waits for them.
func (x *dissectors) handOver() {
	for _, sh := range x.shards {
		sh.flush()
	}
}

// close stops the workers (after they drained their queues) and closes
// the dissectors.
func (x *dissectors) close() error {
	var err error
	for _, sh := range x.shards {
		if x.async {
			sh.flush()
			close(sh.in)
			<-sh.exit
		}
		if cerr := sh.d.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
