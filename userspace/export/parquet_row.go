package export

import (
	"fmt"

	"github.com/parquet-go/parquet-go"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// pqRow is the [flows.ColumnWriter] of the Parquet exporter: it appends
// each value of a flow to its column of the batch being built, typed as
// the layout says. A value that does not fit its column (a plugin value
// of another type, a None in a column that is not nullable) fails the row.
type pqRow struct {
	p      *Parquet
	cols   [][]parquet.Value // p.cols
	layout *pqLayout
	i      int     // column
	id     uint64  // the flow's, for errors
	err    error   // the row's first error
	ints   []int64 // scratch for lists
}

// start starts the row of flow id.
func (r *pqRow) start(id uint64) { r.i, r.id, r.err = 0, id, nil }

// put appends a value of a required column.
func (r *pqRow) put(v parquet.Value) {
	r.cols[r.i] = append(r.cols[r.i], v)
	r.i++
}

// def is the definition level of a value of the current column.
func (r *pqRow) def() int {
	if r.layout.cols[r.i].optional {
		return 1
	}
	return 0
}

func (r *pqRow) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.i++
}

func (r *pqRow) Uint(v uint64)   { r.put(parquet.Int64Value(int64(v))) }
func (r *pqRow) Int(v int64)     { r.put(parquet.Int64Value(v)) }
func (r *pqRow) Float(v float64) { r.put(parquet.DoubleValue(v)) }

func (r *pqRow) String(t flows.Text) {
	p := r.p
	start := len(p.arena)
	p.arena = t.AppendTo(p.arena)
	v := parquet.ByteArrayValue(p.arena[start:len(p.arena):len(p.arena)])
	v.SetDefinitionLevel(r.def())
	r.put(v)
}

func (r *pqRow) Ints(l flows.IntList) {
	def := r.def()
	col := r.cols[r.i]
	if l.Len() == 0 {
		col = append(col, lv(parquet.Value{}, 0, def))
	}
	r.ints = l.AppendTo(r.ints[:0])
	for k, x := range r.ints {
		v := parquet.Int64Value(x)
		v.SetRepetitionLevel(min(k, 1))
		v.SetDefinitionLevel(def + 1)
		col = append(col, v)
	}
	r.cols[r.i] = col
	r.i++
}

func (r *pqRow) Any(v any) {
	c := &r.layout.cols[r.i]
	col, ok := r.p.appendAny(r.cols[r.i], c, r.def(), v)
	if !ok {
		r.fail(mismatchError(c.name, c.typ, r.id, v))
		return
	}
	r.cols[r.i] = col
	r.i++
}

func (r *pqRow) None() {
	if c := &r.layout.cols[r.i]; !c.optional {
		r.fail(fmt.Errorf("column %s: flow %d has no value", c.name, r.id))
		return
	}
	r.put(parquet.Value{})
}
