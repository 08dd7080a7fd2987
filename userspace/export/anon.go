package export

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	"golang.org/x/crypto/blake2b"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

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

// checkColumns reports a column to anonymize that names has not (a is
// nil when nothing is anonymized).
func (a *Anonymizer) checkColumns(names []string) error {
	if a == nil {
		return nil
	}
	for _, col := range a.Columns {
		if !slices.Contains(names, col) {
			return fmt.Errorf("columns_to_anonymize: no column %q in the output", col)
		}
	}
	return nil
}

// at returns, for each of names, whether its values are anonymized.
func (a *Anonymizer) at(names []string) []bool {
	at := make([]bool, len(names))
	if a != nil {
		for i, n := range names {
			at[i] = slices.Contains(a.Columns, n)
		}
	}
	return at
}

// anonColumns is a [flows.ColumnWriter] that passes a row on to next with
// the values of the anonymized columns replaced by the hash of their
// Python str() (a string column; None stays None). It serves every
// format; reset it before each row.
type anonColumns struct {
	next flows.ColumnWriter
	a    *Anonymizer
	at   []bool
	i    int
}

// newAnonColumns returns next itself when no column of names is
// anonymized, else next wrapped in an [anonColumns] (returned too, to
// reset).
func newAnonColumns(next flows.ColumnWriter, a *Anonymizer, names []string) (flows.ColumnWriter, *anonColumns) {
	at := a.at(names)
	if !slices.Contains(at, true) {
		return next, nil
	}
	w := &anonColumns{next: next, a: a, at: at}
	return w, w
}

// reset starts a row.
func (w *anonColumns) reset() {
	if w != nil {
		w.i = 0
	}
}

// hashed reports whether the current column is anonymized, and moves on.
func (w *anonColumns) hashed() bool {
	i := w.i
	w.i++
	return w.at[i]
}

// value passes v on, hashed when its column is anonymized.
func (w *anonColumns) value(v flows.Value) {
	if w.hashed() {
		w.hash(appendPyStr(nil, &v))
		return
	}
	flows.WalkValues([]flows.Value{v}, w.next)
}

// hash passes on the hash of a value's Python str().
func (w *anonColumns) hash(pyStr []byte) { w.next.String(flows.StringText(w.a.hash(pyStr))) }

func (w *anonColumns) Uint(x uint64)   { w.value(flows.Value{Kind: flows.KindUint, U: x}) }
func (w *anonColumns) Int(x int64)     { w.value(flows.Value{Kind: flows.KindInt, I: x}) }
func (w *anonColumns) Float(x float64) { w.value(flows.Value{Kind: flows.KindFloat, F: x}) }
func (w *anonColumns) Any(x any)       { w.value(flows.Value{Kind: flows.KindAny, A: x}) }

// String and Ints hash the text and the list as they print: no Value
// (and no allocation) for the columns that are not anonymized.
func (w *anonColumns) String(t flows.Text) {
	if w.hashed() {
		w.hash(t.AppendTo(nil))
		return
	}
	w.next.String(t)
}

func (w *anonColumns) Ints(l flows.IntList) {
	if !w.hashed() {
		w.next.Ints(l)
		return
	}
	w.hash(l.AppendPy(nil))
}

func (w *anonColumns) None() {
	w.i++
	w.next.None()
}
