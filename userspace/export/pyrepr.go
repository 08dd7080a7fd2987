package export

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// AppendPyFloat appends Python's repr() of f: the shortest round-trip
// digits, positional when the decimal exponent is in [-4, 16) (always with
// a fractional part, "632.0"), otherwise d.ddde±XX.
func AppendPyFloat(b []byte, f float64) []byte {
	// The positional range directly: integers (common in the statistics)
	// without the float formatting, others with strconv's shortest
	// digits laid out positionally. Comparing magnitudes is comparing
	// decimal exponents, as the shortest digits keep the order of the
	// values.
	switch a := math.Abs(f); {
	case a < 1e16 && a == math.Trunc(a) && a != 0:
		return append(strconv.AppendInt(b, int64(f), 10), '.', '0')
	case a >= 1e-4 && a < 1e16:
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return appendPyFloatRepr(b, f)
}

// appendPyFloatRepr is AppendPyFloat for any value, from the digits and
// exponent of strconv's shortest 'e' format.
func appendPyFloatRepr(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "nan"...)
	case math.IsInf(f, 1):
		return append(b, "inf"...)
	case math.IsInf(f, -1):
		return append(b, "-inf"...)
	case f == 0:
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	// e is d[.ddd]e±XX
	var digits [24]byte
	nd := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[nd] = e[i]
			nd++
		}
	}
	exp, esign := 0, 1
	for _, c := range e[i+1:] {
		switch {
		case c == '-':
			esign = -1
		case c >= '0' && c <= '9':
			exp = exp*10 + int(c-'0')
		}
	}
	exp *= esign
	if neg {
		b = append(b, '-')
	}
	ds := digits[:nd]
	if exp >= -4 && exp < 16 {
		if exp >= 0 {
			if nd <= exp+1 {
				b = append(b, ds...)
				for range exp + 1 - nd {
					b = append(b, '0')
				}
				return append(b, '.', '0')
			}
			b = append(b, ds[:exp+1]...)
			b = append(b, '.')
			return append(b, ds[exp+1:]...)
		}
		b = append(b, '0', '.')
		for range -exp - 1 {
			b = append(b, '0')
		}
		return append(b, ds...)
	}
	b = append(b, ds[0])
	if nd > 1 {
		b = append(b, '.')
		b = append(b, ds[1:]...)
	}
	b = append(b, 'e')
	if exp < 0 {
		b = append(b, '-')
		exp = -exp
	} else {
		b = append(b, '+')
	}
	if exp < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(exp), 10)
}

// appendPyStr appends Python's str() of a value.
func appendPyStr(b []byte, v *flows.Value) []byte {
	switch v.Kind {
	case flows.KindNone:
		return append(b, "None"...)
	case flows.KindUint:
		return strconv.AppendUint(b, v.U, 10)
	case flows.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case flows.KindFloat:
		return AppendPyFloat(b, v.F)
	case flows.KindString:
		return append(b, v.S...)
	case flows.KindBool:
		return appendPyBool(b, v.B)
	case flows.KindInts:
		b = append(b, '[')
		for i, x := range v.Ints {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = strconv.AppendInt(b, x, 10)
		}
		return append(b, ']')
	default:
		return appendPyAny(b, v.A, false)
	}
}

func appendPyBool(b []byte, x bool) []byte {
	if x {
		return append(b, "True"...)
	}
	return append(b, "False"...)
}

// appendPyAny formats a plugin value like Python's str() (nested is true
// inside containers, where strings get repr quotes).
func appendPyAny(b []byte, a any, nested bool) []byte {
	switch x := a.(type) {
	case nil:
		return append(b, "None"...)
	case string:
		if nested {
			return appendPyStrRepr(b, x)
		}
		return append(b, x...)
	case bool:
		return appendPyBool(b, x)
	case float64:
		return AppendPyFloat(b, x)
	case float32:
		return AppendPyFloat(b, float64(x))
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case fmt.Stringer:
		return append(b, x.String()...)
	case error:
		return append(b, x.Error()...)
	}
	rv := reflect.ValueOf(a)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			return append(b, fmt.Sprint(a)...)
		}
		b = append(b, '[')
		for i := range rv.Len() {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = appendPyAny(b, rv.Index(i).Interface(), true)
		}
		return append(b, ']')
	}
	return append(b, fmt.Sprint(a)...)
}

// appendPyStrRepr appends Python's repr() of a string (single quotes unless
// the string holds a single quote and no double quote).
func appendPyStrRepr(b []byte, s string) []byte {
	q := byte('\'')
	hasSingle, hasDouble := false, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			hasSingle = true
		case '"':
			hasDouble = true
		}
	}
	if hasSingle && !hasDouble {
		q = '"'
	}
	b = append(b, q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r < 0x20 || r == 0x7f:
			b = fmt.Appendf(b, `\x%02x`, r)
		default:
			b = append(b, string(r)...)
		}
	}
	return append(b, q)
}
