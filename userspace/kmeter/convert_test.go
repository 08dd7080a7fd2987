//go:build linux

package kmeter

import "testing"

// Sums of squared sizes of super-packets overflow 64 bits in long flows:
// the kernel keeps 128 bits and meanM2 uses them all.
func TestMeanM2WideSums(t *testing.T) {
	const n, size = 1 << 27, 1 << 19 // 2^27 packets of 512 KiB: Σx² = 2^65
	mean, m2 := meanM2(n, n*size, 0, 2)
	if mean != size || m2 != 0 {
		t.Errorf("equal sizes: mean %v, M2 %v; want %v, 0", mean, m2, float64(size))
	}
	// Half of the packets 2^19 bytes, half 2^18: M2 = n·(2^17)².
	half := uint64(n / 2)
	sum := half*(1<<19) + half*(1<<18)
	sq := half*(1<<36) + half<<37 + half<<37 // 2^64 + 2^62, less the carry
	mean, m2 = meanM2(n, sum, sq, 1)
	if want := float64(n) * (1 << 34); mean != float64(sum)/n || m2 != want {
		t.Errorf("two sizes: mean %v, M2 %v; want %v, %v", mean, m2, float64(sum)/n, want)
	}
}
