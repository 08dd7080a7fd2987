package flows

// table is the flow cache: an open-addressing hash table (linear probing,
// backward-shift deletion, no tombstones) for lookups, plus a doubly linked
// list through the flows in creation order, which is the order NFStream's
// idle scan walks and flushes. A lookup does not move a flow in that order.
//
// Slots are chosen by [Key.tableHash], which is seeded per process: with an
// unkeyed hash, linear probing lets chosen keys pile up in one run of slots
// and every operation becomes linear in the number of flows.
//
// It is not safe for concurrent use.
type table struct {
	slots      []slot
	mask       uint64
	n          int
	head, tail *Flow
}

type slot struct {
	hash uint64
	f    *Flow
}

func newTable(capacity int) *table {
	size := 1024
	for size < capacity*2 {
		size <<= 1
	}
	return &table{slots: make([]slot, size), mask: uint64(size - 1)}
}

func (t *table) len() int { return t.n }

func (t *table) get(h uint64, k *Key) *Flow {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		if s.f == nil {
			return nil
		}
		if s.hash == h && s.f.key == *k {
			return s.f
		}
	}
}

// insert adds f (which must not be present) at the end of the creation order.
func (t *table) insert(f *Flow) {
	if (t.n+1)*2 > len(t.slots) {
		t.grow()
	}
	t.place(f)
	t.n++
	f.prev, f.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = f
	} else {
		t.head = f
	}
	t.tail = f
}

func (t *table) place(f *Flow) {
	for i := f.hash & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].f == nil {
			t.slots[i] = slot{f.hash, f}
			return
		}
	}
}

func (t *table) grow() {
	old := t.slots
	t.slots = make([]slot, len(old)*2)
	t.mask = uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.f != nil {
			t.place(s.f)
		}
	}
}

// remove deletes f from the table and from the creation order.
func (t *table) remove(f *Flow) {
	i := f.hash & t.mask
	for t.slots[i].f != f {
		i = (i + 1) & t.mask
	}
	// Backward-shift deletion keeps every probe sequence unbroken.
	for {
		t.slots[i] = slot{}
		j := i
		for {
			j = (j + 1) & t.mask
			s := t.slots[j]
			if s.f == nil {
				goto unlinked
			}
			home := s.hash & t.mask
			// Move s into the hole at i unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				t.slots[i] = s
				i = j
				break
			}
		}
	}
unlinked:
	t.n--
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		t.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		t.tail = f.prev
	}
	f.prev, f.next = nil, nil
}
