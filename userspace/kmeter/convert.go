//go:build linux

package kmeter

import (
	"math/bits"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// flowOf builds the flow of a kernel flow-table entry.
func (m *Meter) flowOf(key *bpfobj.MeterFlowKey, d *bpfobj.MeterFlowData, reason int64) *flows.Flow {
	return flowOf(key, d, reason, m.opts.Flow.StatisticalAnalysis)
}

func flowOf(key *bpfobj.MeterFlowKey, d *bpfobj.MeterFlowData, reason int64, stats bool) *flows.Flow {
	f := flows.NewFlow(keyOf(key), d.SrcIsLo != 0)
	f.SrcMAC, f.DstMAC = d.SrcMac, d.DstMac
	s, r := &d.Dir[0], &d.Dir[1]
	f.Src2Dst = flows.Dir{FirstSeenMs: s.FirstMs, LastSeenMs: s.LastMs, Packets: s.Packets, Bytes: s.Bytes}
	f.Dst2Src = flows.Dir{FirstSeenMs: r.FirstMs, LastSeenMs: r.LastMs, Packets: r.Packets, Bytes: r.Bytes}
	f.Bidirectional = flows.Dir{
		FirstSeenMs: s.FirstMs, LastSeenMs: d.BiLastMs,
		Packets: s.Packets + r.Packets, Bytes: s.Bytes + r.Bytes,
	}
	f.ExpirationID = reason
	if !stats {
		return f
	}
	st := &flows.Stats{}
	dirStats(&st.S2D, s)
	dirStats(&st.D2S, r)
	// Both directions: sizes merge; gaps were kept separately since they
	// are between consecutive packets of either direction.
	bi := &st.Bi
	n := s.Packets + r.Packets
	switch {
	case r.Packets == 0:
		bi.MinPS, bi.MaxPS = s.SizeMin, s.SizeMax
	case s.Packets == 0:
		bi.MinPS, bi.MaxPS = r.SizeMin, r.SizeMax
	default:
		bi.MinPS, bi.MaxPS = min(s.SizeMin, r.SizeMin), max(s.SizeMax, r.SizeMax)
	}
	lo, carry := bits.Add64(s.SizeSumsq, r.SizeSumsq, 0)
	bi.MeanPS, bi.M2PS = meanM2(n, s.Bytes+r.Bytes, lo, s.SizeSumsqHi+r.SizeSumsqHi+carry)
	if n >= 2 {
		bi.MinPIAT, bi.MaxPIAT = d.BiPiatMin, d.BiPiatMax
		bi.MeanPIAT, bi.M2PIAT = meanM2(n-1, d.BiPiatSum, d.BiPiatSumsq, 0)
	}
	setFlags(bi, s)
	setFlags(bi, r)
	f.Stats = st
	return f
}

func dirStats(ds *flows.DirStats, s *bpfobj.MeterDirState) {
	if s.Packets == 0 {
		return
	}
	ds.MinPS, ds.MaxPS = s.SizeMin, s.SizeMax
	ds.MeanPS, ds.M2PS = meanM2(s.Packets, s.Bytes, s.SizeSumsq, s.SizeSumsqHi)
	if s.Packets >= 2 {
		ds.MinPIAT, ds.MaxPIAT = s.PiatMin, s.PiatMax
		ds.MeanPIAT, ds.M2PIAT = meanM2(s.Packets-1, s.PiatSum, s.PiatSumsq, 0)
	}
	setFlags(ds, s)
}

// setFlags adds s's TCP flag counters (header bit order) to ds.
func setFlags(ds *flows.DirStats, s *bpfobj.MeterDirState) {
	fl := &s.Flags
	ds.Fin += uint64(fl[0])
	ds.Syn += uint64(fl[1])
	ds.Rst += uint64(fl[2])
	ds.Psh += uint64(fl[3])
	ds.Ack += uint64(fl[4])
	ds.Urg += uint64(fl[5])
	ds.Ece += uint64(fl[6])
	ds.Cwr += uint64(fl[7])
}

// meanM2 returns the mean and the sum of squared deviations (Welford's M2)
// of n values from their sum and sum of squares (sqHi:sqLo, 128 bits: sizes
// of super-packets squared overflow 64 bits in long flows). M2 = (n·Σx² −
// (Σx)²)/n is computed exactly in 192 bits before it is converted to
// float64, so it differs from NFStream's running Welford values by a few ulps
// at most.
func meanM2(n, sum, sqLo, sqHi uint64) (mean, m2 float64) {
	if n == 0 {
		return 0, 0
	}
	mean = float64(sum) / float64(n)
	a1, a0 := bits.Mul64(n, sqLo)
	t1, t0 := bits.Mul64(n, sqHi)
	a1, c := bits.Add64(a1, t0, 0)
	a2 := t1 + c
	b1, b0 := bits.Mul64(sum, sum)
	r0, borrow := bits.Sub64(a0, b0, 0)
	r1, borrow := bits.Sub64(a1, b1, borrow)
	r2 := a2 - borrow
	m2 = (float64(r1)*(1<<64) + float64(r0)) / float64(n)
	if r2 != 0 {
		m2 = (float64(r2)*(1<<64)*(1<<64) + float64(r1)*(1<<64) + float64(r0)) / float64(n)
	}
	return mean, m2
}
