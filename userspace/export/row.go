package export

import (
	"net/netip"
	"strconv"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// appendFlowRow appends f's CSV line for schema s directly from the flow,
// without building [flows.Value]s: the hot path of the CSV exporter. It
// must produce exactly what AppendRow(f.Values(s)) produces (tested), and
// only handles schemas without plugin columns (so the process columns, when
// present, come right after the application ones).
func appendFlowRow(b []byte, f *flows.Flow, s *flows.Schema) []byte {
	u := func(b []byte, v uint64) []byte { return append(strconv.AppendUint(b, v, 10), ',') }
	b = u(b, f.ID)
	b = append(strconv.AppendInt(b, f.ExpirationID, 10), ',')
	b = addrMAC(b, f.SrcAddr(), f.SrcMAC)
	b = u(b, uint64(f.SrcPort()))
	b = addrMAC(b, f.DstAddr(), f.DstMAC)
	b = u(b, uint64(f.DstPort()))
	b = u(b, uint64(f.Protocol()))
	b = u(b, uint64(f.IPVersion()))
	b = u(b, uint64(f.VLANID()))
	if s.Tunnels {
		b = u(b, uint64(f.TunnelID()))
	}
	for _, d := range [3]*flows.Dir{&f.Bidirectional, &f.Src2Dst, &f.Dst2Src} {
		b = u(b, d.FirstSeenMs)
		b = u(b, d.LastSeenMs)
		b = u(b, d.DurationMs())
		b = u(b, d.Packets)
		b = u(b, d.Bytes)
	}
	if s.Stats {
		st := f.Stats
		if st == nil {
			st = &flows.Stats{}
		}
		ds := [3]*flows.DirStats{&st.Bi, &st.S2D, &st.D2S}
		ns := [3]uint64{f.Bidirectional.Packets, f.Src2Dst.Packets, f.Dst2Src.Packets}
		fl := func(b []byte, v float64) []byte { return append(AppendPyFloat(b, v), ',') }
		for i, d := range ds {
			b = u(b, uint64(d.MinPS))
			b = fl(b, d.MeanPS)
			b = fl(b, d.StddevPS(ns[i]))
			b = u(b, uint64(d.MaxPS))
		}
		for i, d := range ds {
			b = u(b, d.MinPIAT)
			b = fl(b, d.MeanPIAT)
			b = fl(b, d.StddevPIAT(ns[i]))
			b = u(b, d.MaxPIAT)
		}
		for _, d := range ds {
			for _, v := range [8]uint64{d.Syn, d.Cwr, d.Ece, d.Urg, d.Ack, d.Psh, d.Rst, d.Fin} {
				b = u(b, v)
			}
		}
	}
	if s.SPLT > 0 {
		sp := f.SPLT
		list := func(b []byte, at func(i int) int64) []byte {
			b = append(b, '"', '[')
			for i := range s.SPLT {
				if i > 0 {
					b = append(b, ',', ' ')
				}
				v := int64(-1)
				if sp != nil && i < len(sp.Direction) {
					v = at(i)
				}
				b = strconv.AppendInt(b, v, 10)
			}
			return append(b, ']', '"', ',')
		}
		b = list(b, func(i int) int64 { return int64(sp.Direction[i]) })
		b = list(b, func(i int) int64 { return int64(sp.PS[i]) })
		b = list(b, func(i int) int64 { return sp.PIATms[i] })
	}
	if s.App {
		a := f.App
		if a == nil {
			a = &flows.AppInfo{Name: "Unknown", CategoryName: "Unspecified"}
		}
		q := func(b []byte, v string) []byte { return append(appendQuoted(b, v), ',') }
		b = q(b, a.Name)
		b = q(b, a.CategoryName)
		b = append(strconv.AppendInt(b, int64(a.IsGuessed), 10), ',')
		b = append(strconv.AppendInt(b, int64(a.Confidence), 10), ',')
		b = q(b, a.RequestedServerName)
		b = q(b, a.ClientFingerprint)
		b = q(b, a.ServerFingerprint)
		b = q(b, a.UserAgent)
		b = q(b, a.ContentType)
	}
	if s.Process {
		p, ok := f.Process()
		if !ok {
			p = flows.Process{PID: -1}
		}
		b = append(strconv.AppendInt(b, int64(p.PID), 10), ',')
		b = append(appendQuoted(b, p.Name), ',')
	}
	b[len(b)-1] = '\n'
	return b
}

// addrMAC appends "ip","mac","oui", (three quoted fields and a comma).
func addrMAC(b []byte, ip netip.Addr, mac [6]byte) []byte {
	b = append(b, '"')
	b = flows.AppendAddr(b, ip)
	b = append(b, '"', ',', '"')
	start := len(b)
	b = flows.AppendMAC(b, mac)
	oui := b[start : start+8]
	b = append(b, '"', ',', '"')
	b = append(b, oui...)
	return append(b, '"', ',')
}
