package export

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/brotli"
	"github.com/parquet-go/parquet-go/compress/gzip"
	"github.com/parquet-go/parquet-go/compress/lz4"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ParquetOptions configures [Parquet] and [ParquetFiles]. The zero value
// is the default: zstd, 65,536 flows per row group, no extra metadata.
type ParquetOptions struct {
	// Compression is one of [ParquetCompressions]; "" is "zstd".
	Compression string
	// RowGroupFlows is the number of flows buffered before they are
	// written out as a row group; memory is bounded by it. 0 means
	// [DefaultRowGroupFlows].
	RowGroupFlows int
	// Metadata is stored in the file's key-value metadata (how the
	// dataset was made: version, options).
	Metadata map[string]string
	// CreatedBy is the file's created_by field ("" for parquet-go's).
	CreatedBy string
}

// DefaultRowGroupFlows is the default row group size in flows. With
// statistics and SPLT 10 a flow takes about 900 bytes in the column
// buffers before compression, so a row group holds about 60 MB there at
// most; flushing it keeps the writer's memory flat however many flows
// follow.
const DefaultRowGroupFlows = 65536

// inferFlows is how many flows may be held back while the types of plugin
// columns are not known (a column None in the first flow takes the type of
// its first non-None value).
const inferFlows = 1024

// ParquetCompressions returns the accepted compression names.
func ParquetCompressions() []string {
	return []string{"zstd", "snappy", "gzip", "lz4", "brotli", "none"}
}

// ErrCompression is returned for a compression name that is not one of
// [ParquetCompressions].
var ErrCompression = errors.New("unknown Parquet compression")

// parquetCodec returns the codec named name.
func parquetCodec(name string) (compress.Codec, error) {
	switch name {
	case "", "zstd":
		return &zstd.Codec{Level: zstd.SpeedFastest}, nil
	case "snappy":
		return &snappy.Codec{}, nil
	case "gzip":
		return &gzip.Codec{Level: gzip.DefaultCompression}, nil
	case "lz4":
		return &lz4.Codec{Level: lz4.Fastest}, nil
	case "brotli":
		return &brotli.Codec{}, nil
	case "none":
		return &uncompressed.Codec{}, nil
	}
	return nil, fmt.Errorf("%w %q: accepted values are %s", ErrCompression, name, strings.Join(ParquetCompressions(), ", "))
}

// ValidateParquetCompression reports whether name is an accepted
// compression ([ErrCompression] otherwise).
func ValidateParquetCompression(name string) error {
	_, err := parquetCodec(name)
	return err
}

// pqColumn is one output column.
type pqColumn struct {
	name     string
	typ      pqType
	optional bool // plugin columns: None is a null
	anon     bool // replaced by its keyed hash (a STRING)
}

// pqLayout is the typed column list of a flow stream, fixed by the first
// flows and shared by every chunk file.
type pqLayout struct {
	cols   []pqColumn
	schema *parquet.Schema
}

// Parquet writes flows to one Parquet file: NFStream's columns in
// NFStream's order, typed (INT64 counters and times, DOUBLE statistics,
// STRING text, LIST<INT64> for the SPLT arrays, plugin columns typed from
// their first values and nullable), with the same values as the CSV
// export: printing a Parquet value the way [CSV] prints it gives the CSV
// field. Rows are flushed as row groups of [ParquetOptions.RowGroupFlows]
// flows; [Parquet.Close] writes the footer, without which the file cannot
// be read. It is not safe for concurrent use.
type Parquet struct {
	out    io.Writer
	opts   ParquetOptions
	codec  compress.Codec
	anon   *Anonymizer
	schema *flows.Schema
	layout *pqLayout
	w      *parquet.GenericWriter[any]

	pending [][]flows.Value // held back until the plugin columns' types are known
	vals    []flows.Value
	generic bool // tests: go through flows.Values instead of walking the flow

	// The row writer of the walk: row, through anonCols when columns are
	// anonymized.
	row      pqRow
	walker   flows.ColumnWriter
	anonCols *anonColumns

	// The batch being built, column by column.
	cols        [][]parquet.Value
	colRowStart []int  // where the current row starts in each column, if rows can fail
	arena       []byte // bytes of the batch's strings
	batchRows   int
	groupRows   int // rows handed to the current row group

	n      uint64 // flows written
	err    error  // first error; later writes return it
	broken bool   // the Parquet writer itself failed (output error)
	closed bool
}

// NewParquet returns a writer to w. anon may be nil. The schema is taken
// from the first Write.
func NewParquet(w io.Writer, anon *Anonymizer, opts ParquetOptions) (*Parquet, error) {
	codec, err := parquetCodec(opts.Compression)
	if err != nil {
		return nil, err
	}
	if opts.RowGroupFlows <= 0 {
		opts.RowGroupFlows = DefaultRowGroupFlows
	}
	return &Parquet{out: w, opts: opts, codec: codec, anon: anon}, nil
}

// Write adds one flow. The first call fixes the columns from schema s.
// Write errors may come late: rows reach w a row group at a time.
func (p *Parquet) Write(f *flows.Flow, s *flows.Schema) error {
	if p.err != nil {
		return p.err
	}
	if p.closed {
		return errors.New("parquet: write after close")
	}
	if p.schema == nil {
		p.schema = s
	}
	if p.layout == nil {
		vals := f.Values(p.schema, nil)
		p.pending = append(p.pending, vals)
		if !p.typesKnown() && len(p.pending) < inferFlows {
			return nil
		}
		return p.flushPending()
	}
	if p.generic {
		p.vals = f.Values(p.schema, p.vals[:0])
		return p.add(p.vals)
	}
	p.row.start(f.ID)
	p.anonCols.reset()
	f.Walk(p.schema, p.walker)
	return p.endRow()
}

// typesKnown reports whether every plugin column has had a non-None value
// in the flows held back.
func (p *Parquet) typesKnown() bool {
	first := p.schema.UDPSStart()
	for i := first; i < first+len(p.schema.UDPS); i++ {
		seen := false
		for _, row := range p.pending {
			if row[i].Kind != flows.KindNone {
				seen = true
				break
			}
		}
		if !seen {
			return false
		}
	}
	return true
}

// flushPending fixes the layout from the flows held back and writes them.
func (p *Parquet) flushPending() error {
	if p.layout == nil {
		if p.err = p.setLayout(newLayout(p.schema, p.pending, p.anon)); p.err != nil {
			return p.err
		}
	}
	for _, row := range p.pending {
		if err := p.add(row); err != nil {
			return err
		}
	}
	p.pending = nil
	return nil
}

// setLayout fixes the columns and opens the Parquet writer.
func (p *Parquet) setLayout(l *pqLayout) error {
	p.layout = l
	opts := []parquet.WriterOption{
		l.schema,
		parquet.Compression(p.codec),
		parquet.PageBufferSize(64 << 10),
		parquet.WriteBufferSize(1 << 20),
	}
	if p.opts.CreatedBy != "" {
		opts = append(opts, &parquet.WriterConfig{CreatedBy: p.opts.CreatedBy})
	}
	keys := make([]string, 0, len(p.opts.Metadata))
	for k := range p.opts.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		opts = append(opts, parquet.KeyValueMetadata(k, p.opts.Metadata[k]))
	}
	cfg, err := parquet.NewWriterConfig(opts...)
	if err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	p.w = parquet.NewGenericWriter[any](p.out, cfg)
	p.cols = make([][]parquet.Value, len(l.cols))
	if len(p.schema.UDPS) > 0 {
		// Only plugin values can fail a row (a value of another type, a
		// None in a column typed from values that were not None).
		p.colRowStart = make([]int, len(l.cols))
	}
	p.row = pqRow{p: p, cols: p.cols, layout: l}
	p.walker, p.anonCols = newAnonColumns(&p.row, p.anon, p.schema.Names)
	return nil
}

// newLayout types the columns of schema s from the first flows' values:
// the built-in columns by their kind, plugin columns by their first
// non-None value (STRING when there is none), anonymized columns as
// STRING.
func newLayout(s *flows.Schema, first [][]flows.Value, anon *Anonymizer) *pqLayout {
	l := &pqLayout{cols: make([]pqColumn, len(s.Names))}
	firstUDPS := s.UDPSStart()
	fields := make([]parquet.Field, len(s.Names))
	for i, name := range s.Names {
		c := pqColumn{name: name, typ: pqString, optional: i >= firstUDPS && i < firstUDPS+len(s.UDPS)}
		c.anon = anon != nil && slices.Contains(anon.Columns, name)
		for _, row := range first {
			if v := &row[i]; v.Kind == flows.KindAny {
				c.typ = inferType(v.A)
				break
			} else if t, ok := kindType(v.Kind); ok {
				c.typ = t
				break
			}
		}
		if c.anon {
			c.typ = pqString
		}
		l.cols[i] = c
		fields[i] = &pqField{Node: c.typ.node(c.optional), name: name}
	}
	l.schema = parquet.NewSchema("flows", &pqGroup{fields: fields})
	return l
}

// lv returns v with the levels of a value at depth rep/def.
func lv(v parquet.Value, rep, def int) parquet.Value {
	v.SetRepetitionLevel(rep)
	v.SetDefinitionLevel(def)
	return v
}

// add appends one row given as values in schema order.
func (p *Parquet) add(vals []flows.Value) error {
	if p.err != nil {
		return p.err
	}
	id := uint64(0)
	if len(vals) > 0 && vals[0].Kind == flows.KindUint {
		id = vals[0].U
	}
	p.row.start(id)
	p.anonCols.reset()
	flows.WalkValues(vals, p.walker)
	return p.endRow()
}

// endRow ends the row just appended: it drops it when a value did not
// fit its column, else counts it and writes the batch when full.
func (p *Parquet) endRow() error {
	if err := p.row.err; err != nil {
		// Drop the partial row: every column gets back to the same length.
		for i := range p.cols {
			p.cols[i] = p.cols[i][:p.colRowStart[i]]
		}
		p.err = err
		return err
	}
	p.n++
	p.batchRows++
	for i := range p.colRowStart {
		p.colRowStart[i] = len(p.cols[i])
	}
	if p.batchRows == pqRowBatch || p.groupRows+p.batchRows >= p.opts.RowGroupFlows {
		return p.writeBatch()
	}
	return nil
}

// pqRowBatch is how many rows are handed to the column writers at once.
const pqRowBatch = 256

// writeBatch hands the batch's values to the column writers, and ends the
// row group when it is full.
func (p *Parquet) writeBatch() error {
	if p.batchRows == 0 {
		return nil
	}
	for i, cw := range p.w.ColumnWriters() {
		if _, err := cw.WriteRowValues(p.cols[i]); err != nil {
			return p.fail(err)
		}
		clear(p.cols[i])
		p.cols[i] = p.cols[i][:0]
	}
	clear(p.colRowStart)
	p.arena = p.arena[:0]
	p.groupRows += p.batchRows
	p.batchRows = 0
	if p.groupRows >= p.opts.RowGroupFlows {
		p.groupRows = 0
		if err := p.w.Flush(); err != nil {
			return p.fail(err)
		}
	}
	return nil
}

// fail records an error of the Parquet writer (the output's, usually):
// nothing more can be written.
func (p *Parquet) fail(err error) error {
	if p.err == nil {
		p.err = err
	}
	p.broken = true
	return err
}

// appendAny appends a plugin value converted to the column's type.
func (p *Parquet) appendAny(col []parquet.Value, c *pqColumn, def int, a any) ([]parquet.Value, bool) {
	switch c.typ {
	case pqString:
		start := len(p.arena)
		p.arena = appendPyAny(p.arena, a, false)
		return append(col, lv(parquet.ByteArrayValue(p.arena[start:len(p.arena):len(p.arena)]), 0, def)), true
	case pqInt64:
		if n, ok := anyInt64(a); ok {
			return append(col, lv(parquet.Int64Value(n), 0, def)), true
		}
	case pqDouble:
		if f, ok := anyFloat(a); ok {
			return append(col, lv(parquet.DoubleValue(f), 0, def)), true
		}
	case pqBool:
		if b, ok := a.(bool); ok {
			return append(col, lv(parquet.BooleanValue(b), 0, def)), true
		}
	default:
		rv := reflect.ValueOf(a)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			break
		}
		if rv.Len() == 0 {
			return append(col, lv(parquet.Value{}, 0, def)), true
		}
		for j := range rv.Len() {
			e := rv.Index(j).Interface()
			var pv parquet.Value
			switch c.typ {
			case pqInt64List:
				n, ok := anyInt64(e)
				if !ok {
					return col, false
				}
				pv = parquet.Int64Value(n)
			case pqDoubleList:
				f, ok := anyFloat(e)
				if !ok {
					return col, false
				}
				pv = parquet.DoubleValue(f)
			case pqStringList:
				ev := reflect.ValueOf(e)
				if ev.Kind() != reflect.String {
					return col, false
				}
				pv = p.str(ev.String())
			}
			col = append(col, lv(pv, min(j, 1), def+1))
		}
		return col, true
	}
	return col, false
}

// str returns a STRING value whose bytes live in the arena until the row
// batch is written.
func (p *Parquet) str(s string) parquet.Value {
	start := len(p.arena)
	p.arena = append(p.arena, s...)
	return parquet.ByteArrayValue(p.arena[start:len(p.arena):len(p.arena)])
}

// Written returns the number of flows accepted so far.
func (p *Parquet) Written() uint64 { return p.n + uint64(len(p.pending)) }

// Close writes the buffered rows, the last row group and the footer. It
// does not close the underlying writer. After a write error it still
// tries to end the file, so that the row groups already written stay
// readable when the error was not the output's.
func (p *Parquet) Close() error {
	if p.closed {
		return p.err
	}
	p.closed = true
	if p.schema == nil {
		return p.err // no flow: nothing was written
	}
	if p.layout == nil && p.err == nil {
		p.flushPending()
	}
	if p.w == nil {
		return p.err
	}
	if !p.broken {
		p.writeBatch() // the rows before a bad value are kept
	}
	if err := p.w.Close(); p.err == nil && err != nil {
		p.err = err
	}
	return p.err
}

// pqGroup is a Parquet group whose fields keep their order (parquet.Group
// sorts them by name).
type pqGroup struct {
	parquet.Group
	fields []parquet.Field
}

func (g *pqGroup) Fields() []parquet.Field { return g.fields }

func (g *pqGroup) String() string {
	var b strings.Builder
	b.WriteString("message flows {")
	for _, f := range g.fields {
		fmt.Fprintf(&b, " %s %v;", f.Name(), f)
	}
	b.WriteString(" }")
	return b.String()
}

// pqField is a named column of a pqGroup.
type pqField struct {
	parquet.Node
	name string
}

func (f *pqField) Name() string { return f.name }

// Value is only used to write Go structs, which this package does not do.
func (f *pqField) Value(reflect.Value) reflect.Value { return reflect.Value{} }
