package capgen

import (
	"math"
	"math/bits"
)

// rng is wyrand: a tiny, fast, allocation-free generator whose sequence is
// fixed by its seed, so captures do not change with the Go version.
type rng struct{ s uint64 }

func newRNG(seed int64) rng { return rng{s: uint64(seed) ^ 0x5851f42d4c957f2d} }

func (r *rng) next() uint64 {
	r.s += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(r.s, r.s^0xe7037ed1a0b428db)
	return hi ^ lo
}

// intn returns a value in [0, n); n must be > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * 0x1p-53 }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// pareto returns a Pareto(1, alpha) value (>= 1) capped at limit.
func (r *rng) pareto(alpha, limit float64) float64 {
	x := math.Exp(-math.Log(1-r.float()) / alpha)
	return min(x, limit)
}

// paretoMean is E[min(X, limit)] for X ~ Pareto(1, alpha), alpha > 1.
func paretoMean(alpha, limit float64) float64 {
	return alpha/(alpha-1) - math.Pow(limit, 1-alpha)/(alpha-1)
}
