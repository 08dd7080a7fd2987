package export

import (
	"github.com/parquet-go/parquet-go"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// appendFlow appends f's values to the batch columns straight from the
// flow, without building [flows.Value]s: the hot path of the Parquet
// exporter, for schemas without plugin or anonymized columns. It must
// append exactly what appendValues(f.Values(s)) appends (tested).
func (p *Parquet) appendFlow(f *flows.Flow) {
	s := p.schema
	i := 0
	put := func(v parquet.Value) {
		p.cols[i] = append(p.cols[i], v)
		i++
	}
	u := func(x uint64) { put(parquet.Int64Value(int64(x))) }
	addr := func(a []byte) {
		start := len(p.arena)
		p.arena = append(p.arena, a...)
		put(parquet.ByteArrayValue(p.arena[start:len(p.arena):len(p.arena)]))
	}
	var tmp [64]byte
	u(f.ID)
	put(parquet.Int64Value(f.ExpirationID))
	for _, side := range [2]bool{true, false} {
		ip, mac, port := f.DstAddr(), f.DstMAC, f.DstPort()
		if side {
			ip, mac, port = f.SrcAddr(), f.SrcMAC, f.SrcPort()
		}
		addr(flows.AppendAddr(tmp[:0], ip))
		m := flows.AppendMAC(tmp[:0], mac)
		addr(m)
		addr(m[:8])
		u(uint64(port))
	}
	u(uint64(f.Protocol()))
	u(uint64(f.IPVersion()))
	u(uint64(f.VLANID()))
	if s.Tunnels {
		u(uint64(f.TunnelID()))
	}
	for _, d := range [3]*flows.Dir{&f.Bidirectional, &f.Src2Dst, &f.Dst2Src} {
		u(d.FirstSeenMs)
		u(d.LastSeenMs)
		u(d.DurationMs())
		u(d.Packets)
		u(d.Bytes)
	}
	if s.Stats {
		st := f.Stats
		if st == nil {
			st = &flows.Stats{}
		}
		ds := [3]*flows.DirStats{&st.Bi, &st.S2D, &st.D2S}
		ns := [3]uint64{f.Bidirectional.Packets, f.Src2Dst.Packets, f.Dst2Src.Packets}
		fl := func(x float64) { put(parquet.DoubleValue(x)) }
		for k, d := range ds {
			u(uint64(d.MinPS))
			fl(d.MeanPS)
			fl(d.StddevPS(ns[k]))
			u(uint64(d.MaxPS))
		}
		for k, d := range ds {
			u(d.MinPIAT)
			fl(d.MeanPIAT)
			fl(d.StddevPIAT(ns[k]))
			u(d.MaxPIAT)
		}
		for _, d := range ds {
			for _, v := range [8]uint64{d.Syn, d.Cwr, d.Ece, d.Urg, d.Ack, d.Psh, d.Rst, d.Fin} {
				u(v)
			}
		}
	}
	if s.SPLT > 0 {
		sp := f.SPLT
		list := func(at func(k int) int64) {
			col := p.cols[i]
			for k := range s.SPLT {
				x := int64(-1)
				if sp != nil && k < len(sp.Direction) {
					x = at(k)
				}
				col = append(col, lv(parquet.Int64Value(x), min(k, 1), 1))
			}
			p.cols[i] = col
			i++
		}
		list(func(k int) int64 { return int64(sp.Direction[k]) })
		list(func(k int) int64 { return int64(sp.PS[k]) })
		list(func(k int) int64 { return sp.PIATms[k] })
	}
	if s.App {
		a := f.App
		if a == nil {
			a = &flows.AppInfo{Name: "Unknown", CategoryName: "Unspecified"}
		}
		str := func(v string) { put(p.str(v)) }
		str(a.Name)
		str(a.CategoryName)
		put(parquet.Int64Value(int64(a.IsGuessed)))
		put(parquet.Int64Value(int64(a.Confidence)))
		str(a.RequestedServerName)
		str(a.ClientFingerprint)
		str(a.ServerFingerprint)
		str(a.UserAgent)
		str(a.ContentType)
	}
	if s.Process {
		pr, ok := f.Process()
		if !ok {
			pr = flows.Process{PID: -1}
		}
		put(parquet.Int64Value(int64(pr.PID)))
		put(p.str(pr.Name))
	}
}
