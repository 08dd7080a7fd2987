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
	bi.MeanPS, bi.M2PS = meanM2(n, s.Bytes+r.Bytes, s.SizeSumsq+r.SizeSumsq)
	if n >= 2 {
		bi.MinPIAT, bi.MaxPIAT = d.BiPiatMin, d.BiPiatMax
		bi.MeanPIAT, bi.M2PIAT = meanM2(n-1, d.BiPiatSum, d.BiPiatSumsq)
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
	ds.MeanPS, ds.M2PS = meanM2(s.Packets, s.Bytes, s.SizeSumsq)
	if s.Packets >= 2 {
		ds.MinPIAT, ds.MaxPIAT = s.PiatMin, s.PiatMax
		ds.MeanPIAT, ds.M2PIAT = meanM2(s.Packets-1, s.PiatSum, s.PiatSumsq)
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
// of n values from their sum and sum of squares. M2 = (n·Σx² − (Σx)²)/n is
// computed exactly in 128 bits before the one rounding to float64, so it
// differs from NFStream's running Welford values by a few ulps at most.
func meanM2(n, sum, sumsq uint64) (mean, m2 float64) {
	if n == 0 {
		return 0, 0
	}
	mean = float64(sum) / float64(n)
	ah, al := bits.Mul64(n, sumsq)
	bh, bl := bits.Mul64(sum, sum)
	lo, borrow := bits.Sub64(al, bl, 0)
	hi, _ := bits.Sub64(ah, bh, borrow)
	m2 = (float64(hi)*(1<<64) + float64(lo)) / float64(n)
	return mean, m2
}
