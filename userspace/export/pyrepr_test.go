package export

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Expected strings are Python 3 repr() results.
func TestAppendPyFloat(t *testing.T) {
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"zero", 0, "0.0"},
		{"negative zero", math.Copysign(0, -1), "-0.0"},
		{"integer", 632, "632.0"},
		{"welford rounding", 80.49999999999999, "80.49999999999999"},
		{"long mantissa", 310.57142857142856, "310.57142857142856"},
		{"small positional", 0.0001, "0.0001"},
		{"small exponent", 1e-05, "1e-05"},
		{"small mantissa exponent", 1.5e-07, "1.5e-07"},
		{"largest positional", 1234567890123456.0, "1234567890123456.0"},
		{"1e16", 1e16, "1e+16"},
		{"1.5e16", 1.5e16, "1.5e+16"},
		{"big", 1.2345678901234568e+17, "1.2345678901234568e+17"},
		{"huge exponent", 1e300, "1e+300"},
		{"tiny exponent", 5e-324, "5e-324"},
		{"negative", -2.5, "-2.5"},
		{"nan", math.NaN(), "nan"},
		{"inf", math.Inf(1), "inf"},
		{"-inf", math.Inf(-1), "-inf"},
		{"tenth", 0.1, "0.1"},
		{"third", 1.0 / 3, "0.3333333333333333"},
		{"100.0", 100, "100.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendPyFloat(nil, tt.in)); got != tt.want {
				t.Errorf("AppendPyFloat(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAppendCSVField(t *testing.T) {
	tests := []struct {
		name string
		in   flows.Value
		want string
	}{
		{"none", flows.Value{}, ""},
		{"uint", flows.Value{Kind: flows.KindUint, U: 42}, "42"},
		{"int", flows.Value{Kind: flows.KindInt, I: -1}, "-1"},
		{"float", flows.Value{Kind: flows.KindFloat, F: 272}, "272.0"},
		{"empty string", flows.Value{Kind: flows.KindString}, `""`},
		{"quote escaped", flows.Value{Kind: flows.KindString, S: `a"b`}, `"a\"b"`},
		{"list", flows.Value{Kind: flows.KindInts, Ints: []int64{0, 1, -1}}, `"[0, 1, -1]"`},
		{"bool", flows.Value{Kind: flows.KindBool, B: true}, "True"},
		{"any int", flows.Value{Kind: flows.KindAny, A: 7}, "7"},
		{"any float", flows.Value{Kind: flows.KindAny, A: 0.5}, "0.5"},
		{"any strings", flows.Value{Kind: flows.KindAny, A: []string{"a", "it's"}}, `"['a', \"it's\"]"`},
		{"any string", flows.Value{Kind: flows.KindAny, A: "x"}, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(AppendCSVField(nil, &tt.in)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestChunkPath(t *testing.T) {
	tests := []struct{ path, want string }{
		{"out.csv", "out.3.csv"},
		{"csvdir/out.csv", "3.csvdir/out.3.csv"},
	}
	for _, tt := range tests {
		if got := ChunkPath(tt.path, 3); got != tt.want {
			t.Errorf("ChunkPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// Keyed BLAKE2b-512 (RFC 7693) of "abc" with key 00 01 .. 3f; reference
// digest computed with Python's hashlib.blake2b(b"abc", key=bytes(range(64))).
func TestAnonymizerIsKeyedBlake2b(t *testing.T) {
	var key [64]byte
	for i := range key {
		key[i] = byte(i)
	}
	a := NewAnonymizerWithKey([]string{"src_ip"}, key)
	got := a.Hash("abc")
	const want = "06bbc3dedf13a31139498655251b7588ccd3bb5aaa071b2d44d8e0a04095579ed590fbfdcf941f4370ce5ce623624e7a76d33e7a8109dcda9b57d72f8f8efa51"
	if got != want {
		t.Fatalf("Hash(abc) = %s, want %s", got, want)
	}
	b := NewAnonymizerWithKey([]string{"src_ip"}, [64]byte{})
	if b.Hash("abc") == got {
		t.Error("different keys gave the same digest")
	}
	if a.Hash("abc") != got {
		t.Error("same key, same input, different digest")
	}
}

// The positional fast paths of AppendPyFloat print what the general
// formatting prints, for integers, for values around the range's limits
// and for random values of every magnitude.
func TestAppendPyFloatFastPaths(t *testing.T) {
	vals := []float64{1e-4, math.Nextafter(1e-4, 0), math.Nextafter(1e-4, 1), 1e16, math.Nextafter(1e16, 0),
		1<<53 - 1, 1 << 53, 1<<53 + 2, 9999999999999998, 0.5, 1.5, 2.675, 1e15 + 0.5, 123456.789}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		vals = append(vals,
			math.Float64frombits(rng.Uint64()),
			float64(rng.Int64N(1<<54)),
			float64(rng.Int64N(1_000_000))/float64(1+rng.Int64N(1000)),
			rng.Float64()*math.Pow(10, float64(rng.IntN(30)-10)))
	}
	for _, v := range vals {
		for _, x := range []float64{v, -v} {
			if got, want := string(AppendPyFloat(nil, x)), string(appendPyFloatRepr(nil, x)); got != want {
				t.Fatalf("AppendPyFloat(%v) = %q, want %q", x, got, want)
			}
		}
	}
}
