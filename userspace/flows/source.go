package flows

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Frame is one captured frame as a [Source] delivers it, with the fields
// libpcap's pcap_next_ex gives (a struct pcap_pkthdr and the bytes).
// Sources fill a caller-owned Frame in place: a capture file reader
// (pcapreplay) and an AF_PACKET socket (afpacket) let Data alias their
// buffers, valid until their next call, so that no frame is copied.
type Frame struct {
	// Sec and Usec are the capture time as a struct timeval: seconds and
	// microseconds. Usec may be negative or above 999999 in damaged
	// captures; see [Frame.TimeMs].
	Sec  int64
	Usec int64
	// CapLen is the number of captured bytes, len(Data).
	CapLen uint32
	// WireLen is the frame's length on the wire.
	WireLen uint32
	// LinkType is the frame's libpcap DLT number (see [SupportedLinkType]).
	LinkType int
	// Offset is where the frame was found in File (a byte offset in a
	// capture file; 0 for a live capture).
	Offset int64
	// File names where the frame comes from: a capture file's path, an
	// interface name.
	File string
	// Data holds the captured bytes.
	Data []byte
}

// TimeMs returns the frame's time in milliseconds the way NFStream computes
// it: (uint64)(int64)tv_sec*1000 + tv_usec/1000, with the division
// truncating toward zero and everything modulo 2^64. The result is not
// clamped, so a negative Usec makes it smaller.
func (f *Frame) TimeMs() uint64 {
	return uint64(f.Sec)*1000 + uint64(f.Usec/1000)
}

// Source delivers captured frames: a capture file reader (pcapreplay), a
// live socket (afpacket). Next fills f and returns io.EOF after the last
// frame. An error for which [Recoverable] reports true loses that record
// only; [ErrIdle] says that no frame came in time; any other error ends
// the source.
type Source interface {
	Next(f *Frame) error
}

// ErrIdle is what a live [Source] returns from Next when no frame arrived
// within its poll interval. The frame's time fields must then hold the
// current time: the meter advances its clock to it and expires idle flows,
// so that live flows end even when no packet comes. ErrIdle loses nothing.
var ErrIdle = errors.New("no packet within the poll interval")

// Idle sets f to a frame without bytes at time t and returns [ErrIdle]:
// what a live Source's Next returns when no frame came in time.
func Idle(f *Frame, t time.Time) error {
	*f = Frame{Sec: t.Unix(), Usec: int64(t.Nanosecond() / 1000), LinkType: DLTEthernet}
	return ErrIdle
}

// Recoverable reports whether a source error only lost one record.
func Recoverable(err error) bool {
	var re interface{ Recoverable() bool }
	return errors.As(err, &re) && re.Recoverable()
}

// Filter is a compiled bpf_filter ([Options.BPFFilter]) for one link type,
// made by [Options.NewFilter]. Match reports whether a frame, captured as
// data and wireLen bytes long on the wire, passes; it must not allocate.
// A Filter is used by one goroutine at a time.
type Filter interface {
	Match(data []byte, wireLen uint32) bool
}

// frameReader reads a [Source] by the engine's rules, the same for every
// pipeline: a recoverable error loses one record (counted in lost) and
// reading goes on; a frame of a link type [Decode] does not know ends the
// stream with a [*LinkTypeError].
type frameReader struct {
	src     Source
	f       Frame // the last frame read
	lastDLT int   // link type of the last frame, known supported
	read    uint64
	lost    uint64
}

func newFrameReader(src Source) frameReader {
	return frameReader{src: src, lastDLT: -1}
}

// next reads the next frame into r.f. It returns nil for a frame, counted
// in read; [ErrIdle] when a live source had none (r.f then holds the time);
// io.EOF at the end; or the error that ends the stream.
func (r *frameReader) next() error {
	for {
		err := r.src.Next(&r.f)
		if err != nil {
			if err != ErrIdle && err != io.EOF && Recoverable(err) {
				r.lost++
				continue
			}
			return err
		}
		r.read++
		if r.f.LinkType != r.lastDLT {
			if !SupportedLinkType(r.f.LinkType) {
				return &LinkTypeError{File: r.f.File, LinkType: r.f.LinkType}
			}
			r.lastDLT = r.f.LinkType
		}
		return nil
	}
}

// frameState is what became of a frame.
type frameState uint8

const (
	frameMetered  frameState = iota
	frameIgnored             // NFStream would ignore it (not IP, truncated, ...)
	frameFiltered            // rejected by the BPF filter
)

// frameDecoder applies the BPF filter (compiled once per link type) and
// decodes and keys frames. Each goroutine that decodes has its own.
type frameDecoder struct {
	expr      string
	newFilter func(expr string, linkType int) (Filter, error)
	tunnels   bool
	byDLT     map[int]Filter
	lastDLT   int
	last      Filter
}

func newFrameDecoder(o *Options) *frameDecoder {
	return &frameDecoder{expr: o.BPFFilter, newFilter: o.NewFilter, tunnels: o.DecodeTunnels, lastDLT: -1}
}

func (fd *frameDecoder) filter(dlt int) (Filter, error) {
	if dlt == fd.lastDLT {
		return fd.last, nil
	}
	f, ok := fd.byDLT[dlt]
	if !ok {
		var err error
		if f, err = fd.newFilter(fd.expr, dlt); err != nil {
			return nil, fmt.Errorf("bpf_filter: %w", err)
		}
		if fd.byDLT == nil {
			fd.byDLT = make(map[int]Filter)
		}
		fd.byDLT[dlt] = f
	}
	fd.lastDLT, fd.last = dlt, f
	return f, nil
}

// decode filters and decodes one frame into kp, keyed with time t.
func (fd *frameDecoder) decode(kp *keyedPacket, data []byte, dlt int, wireLen uint32, t uint64) (frameState, error) {
	if fd.expr != "" {
		flt, err := fd.filter(dlt)
		if err != nil {
			return 0, err
		}
		if !flt.Match(data, wireLen) {
			return frameFiltered, nil
		}
	}
	if !Decode(&kp.d, data, dlt, wireLen, fd.tunnels) {
		return frameIgnored, nil
	}
	kp.keyed(t)
	return frameMetered, nil
}
