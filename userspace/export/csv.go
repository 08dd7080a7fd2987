package export

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/blake2b"

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
	anonAt []bool
	vals   []flows.Value
	line   []byte
	err    error
}

// NewCSV returns a writer to w. The header is written with the first flow.
// anon may be nil.
func NewCSV(w io.Writer, anon *Anonymizer) *CSV {
	return &CSV{w: bufio.NewWriterSize(w, 1<<16), anon: anon}
}

// SetSchema fixes the columns instead of taking them from the first flow.
func (c *CSV) SetSchema(s *flows.Schema) { c.schema = s }

// Schema returns the columns in use (nil before the first Write).
func (c *CSV) Schema() *flows.Schema { return c.schema }

// WriteHeader writes the header line for s and uses s for later rows.
func (c *CSV) WriteHeader(s *flows.Schema) error {
	if c.err != nil {
		return c.err
	}
	c.setSchema(s)
	_, c.err = c.w.WriteString(strings.Join(s.Names, ",") + "\n")
	return c.err
}

func (c *CSV) setSchema(s *flows.Schema) {
	c.schema = s
	c.anonAt = make([]bool, len(s.Names))
	if c.anon != nil {
		for i, n := range s.Names {
			c.anonAt[i] = slices.Contains(c.anon.Columns, n)
		}
	}
}

// writeRow writes a row formatted by AppendFlow (header already written).
func (c *CSV) writeRow(row []byte) error {
	if c.err != nil {
		return c.err
	}
	_, c.err = c.w.Write(row)
	return c.err
}

// Write formats one flow. The first call writes the header from schema s.
func (c *CSV) Write(f *flows.Flow, s *flows.Schema) error {
	if c.err != nil {
		return c.err
	}
	if c.anonAt == nil {
		if err := c.WriteHeader(s); err != nil {
			return err
		}
	}
	c.line = c.AppendFlow(c.line[:0], f)
	_, c.err = c.w.Write(c.line)
	return c.err
}

// AppendFlow appends f's CSV line to b, using the schema fixed by the first
// Write or WriteHeader.
func (c *CSV) AppendFlow(b []byte, f *flows.Flow) []byte {
	if c.anon == nil && len(c.schema.UDPS) == 0 {
		return appendFlowRow(b, f, c.schema)
	}
	c.vals = f.Values(c.schema, c.vals[:0])
	return c.AppendRow(b, c.vals)
}

// formatter returns a writer-less copy of c that formats rows with the same
// schema and anonymizer, for use on another goroutine.
func (c *CSV) formatter() *CSV {
	return &CSV{schema: c.schema, anon: c.anon, anonAt: c.anonAt}
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
	switch v.Kind {
	case flows.KindNone:
		return b
	case flows.KindUint:
		return strconv.AppendUint(b, v.U, 10)
	case flows.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case flows.KindFloat:
		return AppendPyFloat(b, v.F)
	case flows.KindBool:
		return appendPyBool(b, v.B)
	case flows.KindString:
		return appendQuoted(b, v.S)
	case flows.KindAny:
		switch x := v.A.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, bool:
			return appendPyAny(b, x, false)
		case float64:
			return AppendPyFloat(b, x)
		case float32:
			return AppendPyFloat(b, float64(x))
		}
	}
	return appendQuoted(b, string(appendPyStr(nil, v)))
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

// Anonymizer replaces column values by their keyed BLAKE2b-512 (NFStream
// §9.4): a new random 64-byte key per export, so values are consistent
// within one export and unlinkable across exports.
type Anonymizer struct {
	Columns []string
	key     [64]byte
}

// NewAnonymizer draws a fresh key for the listed columns.
func NewAnonymizer(columns []string) (*Anonymizer, error) {
	a := &Anonymizer{Columns: columns}
	if _, err := rand.Read(a.key[:]); err != nil {
		return nil, fmt.Errorf("anonymizer key: %w", err)
	}
	return a, nil
}

// NewAnonymizerWithKey is NewAnonymizer with a given key (tests).
func NewAnonymizerWithKey(columns []string, key [64]byte) *Anonymizer {
	return &Anonymizer{Columns: columns, key: key}
}

func (a *Anonymizer) hash(v []byte) string {
	h, err := blake2b.New512(a.key[:])
	if err != nil {
		panic(err) // unreachable: a 64-byte key is valid
	}
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))
}

// Hash returns the anonymized form of a value's text.
func (a *Anonymizer) Hash(text string) string { return a.hash([]byte(text)) }

// FileOptions configures [CSVFiles].
type FileOptions struct {
	Path               string   // output path; "-" is stdout
	FlowsPerFile       uint64   // 0 writes one file; K > 0 writes K flows per file (flows_per_file)
	RotateFiles        uint64   // with chunking, reuse file names modulo R (rotate_files)
	ColumnsToAnonymize []string // columns_to_anonymize
	// Workers > 0 formats rows on that many goroutines while the caller
	// goes on metering; the output is identical. Write then returns write
	// errors late (by a later Write or by Close), and flows passed to Write
	// must not be modified afterwards.
	Workers int
}

// ChunkPath is NFStream's chunk naming: every "csv" in path becomes "<i>.csv".
func ChunkPath(path string, i uint64) string {
	return strings.ReplaceAll(path, "csv", strconv.FormatUint(i, 10)+".csv")
}
