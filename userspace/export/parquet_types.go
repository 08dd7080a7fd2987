package export

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// pqType is the Parquet type of one output column.
type pqType uint8

const (
	pqInt64      pqType = iota // INT64
	pqDouble                   // DOUBLE
	pqString                   // BYTE_ARRAY, STRING (UTF-8)
	pqBool                     // BOOLEAN
	pqInt64List                // LIST of INT64
	pqDoubleList               // LIST of DOUBLE
	pqStringList               // LIST of STRING
)

var pqTypeNames = [...]string{"INT64", "DOUBLE", "STRING", "BOOLEAN", "LIST<INT64>", "LIST<DOUBLE>", "LIST<STRING>"}

func (t pqType) String() string { return pqTypeNames[t] }

// node returns the Parquet schema node of a column of type t. Strings and
// integers use dictionary and delta encodings: addresses, MACs, labels and
// ports repeat, timestamps and ids grow slowly.
func (t pqType) node(optional bool) parquet.Node {
	var n parquet.Node
	switch t {
	case pqInt64:
		n = parquet.Encoded(parquet.Leaf(parquet.Int64Type), &parquet.DeltaBinaryPacked)
	case pqDouble:
		n = parquet.Leaf(parquet.DoubleType)
	case pqString:
		n = parquet.String()
	case pqBool:
		n = parquet.Leaf(parquet.BooleanType)
	case pqInt64List:
		n = parquet.List(parquet.Encoded(parquet.Leaf(parquet.Int64Type), &parquet.DeltaBinaryPacked))
	case pqDoubleList:
		n = parquet.List(parquet.Leaf(parquet.DoubleType))
	case pqStringList:
		n = parquet.List(parquet.String())
	}
	if optional {
		return parquet.Optional(n)
	}
	return n
}

// kindType is the Parquet type of a column whose values have kind k
// (KindNone and KindAny are plugin values, typed by inferType).
func kindType(k flows.Kind) (pqType, bool) {
	switch k {
	case flows.KindUint, flows.KindInt:
		return pqInt64, true
	case flows.KindFloat:
		return pqDouble, true
	case flows.KindString:
		return pqString, true
	case flows.KindBool:
		return pqBool, true
	case flows.KindInts:
		return pqInt64List, true
	}
	return 0, false
}

var stringerType = reflect.TypeFor[fmt.Stringer]()

// inferType is the Parquet type of a plugin column whose first non-None
// value is v: Go integers are INT64, floats DOUBLE, bools BOOLEAN, strings
// STRING, slices of those lists; anything else (a fmt.Stringer, *big.Int,
// a struct...) is a STRING holding what the CSV prints.
func inferType(v any) pqType {
	if _, ok := v.(fmt.Stringer); ok {
		return pqString
	}
	if _, ok := v.(error); ok {
		return pqString
	}
	t := reflect.TypeOf(v)
	switch k := t.Kind(); {
	case k == reflect.Bool:
		return pqBool
	case isIntKind(k):
		return pqInt64
	case k == reflect.Float32 || k == reflect.Float64:
		return pqDouble
	case k == reflect.String:
		return pqString
	case k == reflect.Slice || k == reflect.Array:
		e := t.Elem()
		if e.Implements(stringerType) || (k == reflect.Slice && e.Kind() == reflect.Uint8) {
			return pqString // printed by the CSV as a whole, not as a list
		}
		switch ek := e.Kind(); {
		case isIntKind(ek):
			return pqInt64List
		case ek == reflect.Float32 || ek == reflect.Float64:
			return pqDoubleList
		case ek == reflect.String:
			return pqStringList
		}
	}
	return pqString
}

func isIntKind(k reflect.Kind) bool {
	return (k >= reflect.Int && k <= reflect.Int64) || (k >= reflect.Uint && k <= reflect.Uintptr)
}

// anyInt64 converts an integer plugin value.
func anyInt64(v any) (int64, bool) {
	if b, ok := v.(*big.Int); ok {
		return b.Int64(), b.IsInt64()
	}
	rv := reflect.ValueOf(v)
	switch k := rv.Kind(); {
	case k >= reflect.Int && k <= reflect.Int64:
		return rv.Int(), true
	case k >= reflect.Uint && k <= reflect.Uintptr:
		u := rv.Uint()
		return int64(u), u <= math.MaxInt64
	}
	return 0, false
}

// anyFloat converts a float (or integer) plugin value.
func anyFloat(v any) (float64, bool) {
	rv := reflect.ValueOf(v)
	switch k := rv.Kind(); {
	case k == reflect.Float32 || k == reflect.Float64:
		return rv.Float(), true
	case k >= reflect.Int && k <= reflect.Int64:
		return float64(rv.Int()), true
	case k >= reflect.Uint && k <= reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// mismatchError describes a plugin value that does not fit its column.
func mismatchError(col string, t pqType, id uint64, v any) error {
	return fmt.Errorf("column %s is %s (typed from the first flows' values) but flow %d holds %T %s",
		col, t, id, v, strings.TrimSpace(fmt.Sprint(v)))
}
