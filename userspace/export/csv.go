package export

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// CSV writes flows byte-identical to NFStream's to_csv: a header taken from
// the first flow's columns, ints and Python float reprs unquoted, strings
// and lists quoted with embedded quotes escaped as \", None as an empty
// field, '\n' line ends. It is not safe for concurrent use.
type CSV struct {
	w      *bufio.Writer
	schema *flows.Schema
	anon   *Anonymizer
	anonAt []bool // for AppendRow

	// The row writer of AppendFlow: row, through anonCols when columns
	// are anonymized.
	row      csvRow
	cols     flows.ColumnWriter
	anonCols *anonColumns

	header bool // written
	line   []byte
	err    error
}

// NewCSV returns a writer to w. The header is written with the first flow.
// anon may be nil.
func NewCSV(w io.Writer, anon *Anonymizer) *CSV {
	return &CSV{w: bufio.NewWriterSize(w, 1<<16), anon: anon}
}

// SetSchema fixes the columns instead of taking them from the first flow.
func (c *CSV) SetSchema(s *flows.Schema) {
	c.schema = s
	c.anonAt = c.anon.at(s.Names)
	c.cols, c.anonCols = newAnonColumns(&c.row, c.anon, s.Names)
}

// Schema returns the columns in use (nil before the first Write).
func (c *CSV) Schema() *flows.Schema { return c.schema }

// WriteHeader writes the header line for s and uses s for later rows.
func (c *CSV) WriteHeader(s *flows.Schema) error {
	if c.err != nil {
		return c.err
	}
	c.SetSchema(s)
	c.header = true
	_, c.err = c.w.WriteString(strings.Join(s.Names, ",") + "\n")
	return c.err
}

// Write formats one flow. The first call writes the header from schema s.
func (c *CSV) Write(f *flows.Flow, s *flows.Schema) error {
	if c.err != nil {
		return c.err
	}
	if !c.header {
		if err := c.WriteHeader(s); err != nil {
			return err
		}
	}
	c.line = c.AppendFlow(c.line[:0], f)
	_, c.err = c.w.Write(c.line)
	return c.err
}

// AppendFlow appends f's CSV line to b, using the schema fixed by the first
// Write, WriteHeader or SetSchema. It allocates nothing unless columns are
// anonymized.
func (c *CSV) AppendFlow(b []byte, f *flows.Flow) []byte {
	c.row.b = b
	c.anonCols.reset()
	f.Walk(c.schema, c.cols)
	b = endRow(c.row.b)
	c.row.b = nil
	return b
}

// AppendRow appends one CSV line for vals (already in schema order).
func (c *CSV) AppendRow(b []byte, vals []flows.Value) []byte {
	for i := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		v := &vals[i]
		if i < len(c.anonAt) && c.anonAt[i] && v.Kind != flows.KindNone {
			b = appendQuoted(b, c.anon.hash(appendPyStr(nil, v)))
			continue
		}
		b = AppendCSVField(b, v)
	}
	return append(b, '\n')
}

// AppendCSVField appends one value formatted as NFStream's to_csv does.
func AppendCSVField(b []byte, v *flows.Value) []byte {
	r := csvRow{b: b}
	switch v.Kind {
	case flows.KindNone:
		return b
	case flows.KindBool:
		return appendPyBool(b, v.B)
	case flows.KindUint:
		r.Uint(v.U)
	case flows.KindInt:
		r.Int(v.I)
	case flows.KindFloat:
		r.Float(v.F)
	case flows.KindString:
		r.String(flows.StringText(v.S))
	case flows.KindAny:
		r.Any(v.A)
	default:
		return appendQuoted(b, string(appendPyStr(nil, v)))
	}
	return r.b[:len(r.b)-1] // without the separator
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '\\', '"')
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, '"')
}

// Flush writes buffered data.
func (c *CSV) Flush() error {
	if c.err != nil {
		return c.err
	}
	c.err = c.w.Flush()
	return c.err
}

// ChunkPath is NFStream's chunk naming: every "csv" in path becomes "<i>.csv".
func ChunkPath(path string, i uint64) string {
	return strings.ReplaceAll(path, "csv", strconv.FormatUint(i, 10)+".csv")
}

// NewCSVFiles returns the [Files] of CSV, chunks named by [ChunkPath].
// schema derives the columns from the first flow; stdout is used when
// opts.Path is "-".
func NewCSVFiles(opts FileOptions, schema func(first *flows.Flow) *flows.Schema, stdout io.Writer) (*CSVFiles, error) {
	return newFiles(opts, csvFormat{}, schema, stdout)
}

// CSVFiles is the [Files] of [NewCSVFiles].
type CSVFiles = Files

// csvFormat is the CSV [format] of [Files]: rows are self-contained, so
// workers format them.
type csvFormat struct{}

func (csvFormat) chunkPath(path string, i uint64) string { return ChunkPath(path, i) }

func (csvFormat) open(w io.Writer, s *flows.Schema, anon *Anonymizer) (encoder, error) {
	c := NewCSV(w, anon)
	c.SetSchema(s)
	return csvEncoder{c}, nil
}

func (csvFormat) rowFormatter(s *flows.Schema, anon *Anonymizer) func(b []byte, f *flows.Flow) []byte {
	c := &CSV{anon: anon}
	c.SetSchema(s)
	return c.AppendFlow
}

// csvEncoder is the [encoder] of a CSV file.
type csvEncoder struct{ c *CSV }

func (e csvEncoder) encode(f *flows.Flow) error { return e.c.Write(f, e.c.schema) }
func (e csvEncoder) flush() error               { return e.c.Flush() }
func (e csvEncoder) close() error               { return e.c.Flush() }

// writeRow writes a row formatted by AppendFlow, after the header.
func (e csvEncoder) writeRow(row []byte) error {
	c := e.c
	if !c.header {
		if err := c.WriteHeader(c.schema); err != nil {
			return err
		}
	}
	if c.err == nil {
		_, c.err = c.w.Write(row)
	}
	return c.err
}
