package flows

import "net/netip"

// Plugin extends flows with user-defined behaviour and columns, like
// NFStream's NFPlugin. Callbacks run on the metering goroutine, one flow at a
// time; a plugin instance is used by one [Streamer] iteration at a time.
//
//   - OnInit runs after a flow was created from its first packet (counters
//     and statistics already include it).
//   - OnUpdate runs for each later packet that did not expire the flow, after
//     the packet was counted.
//   - OnExpire runs when the flow is emitted, after its final statistics are
//     known. Values set in f.UDPS become `udps.<name>` columns.
//
// Setting f.ExpirationID to -1 in OnInit or OnUpdate forces the flow out
// immediately (including the current packet).
type Plugin interface {
	OnInit(pkt *Packet, f *Flow)
	OnUpdate(pkt *Packet, f *Flow)
	OnExpire(f *Flow)
}

// Packet is the read-only view of a packet that plugins receive (NFStream's
// NFPacket). IPPacket aliases the capture buffer: copy it to keep it.
type Packet struct {
	TimeMs        uint64 // clamped capture time
	DeltaTimeMs   uint64 // since the previous packet of the flow, 0 for the first
	Direction     uint8  // 0 src→dst, 1 dst→src
	RawSize       uint32 // sizes in bytes, as [Decoded]'s
	IPSize        uint32
	TransportSize uint32
	PayloadSize   uint32
	SrcIP, DstIP  netip.Addr
	SrcMAC        [6]byte
	DstMAC        [6]byte
	SrcPort       uint16
	DstPort       uint16
	Protocol      uint8
	VLANID        uint16
	IPVersion     uint8
	TunnelID      uint8
	TCPFlags      uint8 // fin 0x01, syn 0x02, rst 0x04, psh 0x08, ack 0x10, urg 0x20, ece 0x40, cwr 0x80
	IPPacket      []byte
}

// Syn reports the TCP SYN flag; the other flags have the same accessors.
func (p *Packet) Syn() bool { return p.TCPFlags&0x02 != 0 }
func (p *Packet) Ack() bool { return p.TCPFlags&0x10 != 0 }
func (p *Packet) Fin() bool { return p.TCPFlags&0x01 != 0 }
func (p *Packet) Rst() bool { return p.TCPFlags&0x04 != 0 }
func (p *Packet) Psh() bool { return p.TCPFlags&0x08 != 0 }
func (p *Packet) Urg() bool { return p.TCPFlags&0x20 != 0 }
func (p *Packet) Ece() bool { return p.TCPFlags&0x40 != 0 }
func (p *Packet) Cwr() bool { return p.TCPFlags&0x80 != 0 }

// UDPS holds a flow's user-defined values in first-assignment order. The
// zero value is empty and ready to use; it costs one pointer until used.
type UDPS struct {
	p *udpsData
}

// udpsData holds what most flows never have: plugin values and the process
// of system visibility ([Flow.SetProcess]). Sharing UDPS's one pointer keeps
// [Flow] in its size class.
type udpsData struct {
	names []string
	vals  map[string]any
	proc  Process
	// hasProc is set by Flow.SetProcess.
	hasProc bool
}

// Set assigns a value, appending name to the column order on first use.
func (u *UDPS) Set(name string, v any) {
	if u.p == nil {
		u.p = &udpsData{}
	}
	if u.p.vals == nil {
		u.p.vals = make(map[string]any)
	}
	if _, ok := u.p.vals[name]; !ok {
		u.p.names = append(u.p.names, name)
	}
	u.p.vals[name] = v
}

// Get returns the value of name.
func (u *UDPS) Get(name string) (any, bool) {
	if u.p == nil {
		return nil, false
	}
	v, ok := u.p.vals[name]
	return v, ok
}

// Delete removes name (its column disappears).
func (u *UDPS) Delete(name string) {
	if u.p == nil {
		return
	}
	if _, ok := u.p.vals[name]; !ok {
		return
	}
	delete(u.p.vals, name)
	for i, n := range u.p.names {
		if n == name {
			u.p.names = append(u.p.names[:i], u.p.names[i+1:]...)
			break
		}
	}
}

// Names returns the names in first-assignment order.
func (u *UDPS) Names() []string {
	if u.p == nil {
		return nil
	}
	return u.p.names
}

// Len returns the number of values.
func (u *UDPS) Len() int { return len(u.Names()) }
