package export

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// csvRow is the [flows.ColumnWriter] of the CSV exporter: it appends each
// value as NFStream's to_csv prints it, followed by a comma (the row's
// last comma becomes the line end).
type csvRow struct{ b []byte }

// Uint and Int write single digits (most flag counters, versions,
// VLANs) without strconv.
func (r *csvRow) Uint(v uint64) {
	if v < 10 {
		r.b = append(r.b, byte('0'+v), ',')
		return
	}
	r.b = append(strconv.AppendUint(r.b, v, 10), ',')
}

func (r *csvRow) Int(v int64) {
	if uint64(v) < 10 {
		r.b = append(r.b, byte('0'+v), ',')
		return
	}
	r.b = append(strconv.AppendInt(r.b, v, 10), ',')
}

func (r *csvRow) Float(v float64) { r.b = append(AppendPyFloat(r.b, v), ',') }
func (r *csvRow) None()           { r.b = append(r.b, ',') }

// String appends the text quoted, with embedded quotes escaped as \".
func (r *csvRow) String(t flows.Text) {
	b := append(r.b, '"')
	start := len(b)
	b = t.AppendTo(b)
	if bytes.IndexByte(b[start:], '"') >= 0 {
		b = escapeQuotes(b, start)
	}
	r.b = append(b, '"', ',')
}

// Ints appends the list as Python prints it, quoted: "[1, -1]".
func (r *csvRow) Ints(l flows.IntList) { r.b = append(l.AppendPy(append(r.b, '"')), '"', ',') }

// Any appends a plugin value: numbers and bools bare, anything else as
// its quoted Python str().
func (r *csvRow) Any(a any) {
	b := r.b
	switch x := a.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, bool:
		b = appendPyAny(b, x, false)
	case float64:
		b = AppendPyFloat(b, x)
	case float32:
		b = AppendPyFloat(b, float64(x))
	default:
		b = appendQuoted(b, string(appendPyAny(nil, a, false)))
	}
	r.b = append(b, ',')
}

// escapeQuotes escapes the quotes of b[start:] as \" in place.
func escapeQuotes(b []byte, start int) []byte {
	n := len(b)
	k := bytes.Count(b[start:], []byte{'"'})
	b = slices.Grow(b, k)[:n+k]
	for i, j := n-1, n+k-1; i >= start; i-- {
		c := b[i]
		b[j] = c
		j--
		if c == '"' {
			b[j] = '\\'
			j--
		}
	}
	return b
}

// appendFlowRow appends f's CSV line for schema s (no anonymization).
func appendFlowRow(b []byte, f *flows.Flow, s *flows.Schema) []byte {
	r := csvRow{b: b}
	f.Walk(s, &r)
	return endRow(r.b)
}

// endRow turns the row's last comma into the line end.
func endRow(b []byte) []byte {
	b[len(b)-1] = '\n'
	return b
}
