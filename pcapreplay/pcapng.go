package pcapreplay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapng block types.
const (
	blockSHB = 0x0a0d0d0a // Section Header Block
	blockIDB = 0x00000001 // Interface Description Block
	blockPB  = 0x00000002 // Packet Block (obsolete)
	blockSPB = 0x00000003 // Simple Packet Block
	blockEPB = 0x00000006 // Enhanced Packet Block
)

const (
	byteOrderMagic = 0x1a2b3c4d
	// maxSHBLen is libpcap's BT_SHB_INSANE_MAX.
	maxSHBLen = 1 << 20
	// minSHBLen is a block header, the fixed SHB part and a trailer.
	minSHBLen = 8 + 16 + 4
	// initialMaxBlock is libpcap's INITIAL_MAX_BLOCKSIZE.
	initialMaxBlock = 16 << 20
	// userTSResol is the resolution pcap_open_offline asks for (µs).
	userTSResol = 1000000
	// IDB option codes.
	optEndOfOpt = 0
	optTSResol  = 9
	optTSOffset = 14
)

// How an interface's timestamp fractions are scaled to microseconds
// (libpcap's scale_type).
const (
	scalePass = iota
	scaleUpDec
	scaleDownDec
	scaleBin // SCALE_UP_BIN and SCALE_DOWN_BIN compute the same thing
)

// ngInterface is what an accepted Interface Description Block says about
// timestamps.
type ngInterface struct {
	resol  uint64 // units per second
	offset uint64 // if_tsoffset, seconds (two's complement)
	scale  int
	factor uint64
	// undefined marks an interface whose options were invalid and whose
	// slot libpcap never initialised: it then converts timestamps with
	// whatever its heap held (or dies dividing by zero). Here it keeps
	// the default resolution of 10^-6 instead.
	undefined bool
}

// pcapngFile decodes the blocks of a pcapng file.
type pcapngFile struct {
	in       *input
	order    binary.ByteOrder
	swapped  bool   // big-endian file, the non-native order of libpcap's hosts
	linkType int    // DLT of the first interface of the file
	snap     uint32 // adjusted snapshot length of the first interface
	maxBlock uint32
	resync   bool          // see [Options].Resync
	ifaces   []ngInterface // slots are reused across sections, as in libpcap
	ifCount  int           // interfaces of the current section
	// undefined is set once a packet used an undefined interface, whose
	// timestamps libpcap computes from uninitialised memory.
	undefined bool
}

// block is one pcapng block read into the buffer.
type block struct {
	typ  uint32
	body []byte // between the length field and the trailer
}

// openPcapng validates the first Section Header Block and reads up to and
// including the first Interface Description Block, like libpcap's
// pcap_ng_check_header. ok is false when the file is not pcapng at all.
func openPcapng(in *input) (f *pcapngFile, ok bool, err error) {
	h, err := in.peek(12)
	if err != nil {
		if len(h) < 12 && err != io.EOF {
			return nil, true, err
		}
		return nil, false, nil // a short text file, say
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case binary.LittleEndian.Uint32(h[8:12]) == byteOrderMagic:
	case binary.BigEndian.Uint32(h[8:12]) == byteOrderMagic:
		order = binary.BigEndian
	default:
		return nil, false, nil
	}
	total := order.Uint32(h[4:8])
	if total < minSHBLen || total > maxSHBLen {
		return nil, true, fmt.Errorf("%w: section header block length %d", ErrMalformed, total)
	}
	h, err = in.peek(int(total))
	if err != nil {
		return nil, true, shortHeader("section header block", len(h), int(total), err)
	}
	in.discard(int(total))
	major, minor := order.Uint16(h[12:14]), order.Uint16(h[14:16])
	if major != 1 || (minor != 0 && minor != 2) {
		return nil, true, fmt.Errorf("%w: pcapng version %d.%d", ErrUnsupported, major, minor)
	}
	f = &pcapngFile{in: in, order: order, swapped: order == binary.BigEndian, maxBlock: initialMaxBlock}
	for {
		off := in.offset()
		b, err := f.readBlock()
		if err == io.EOF {
			return nil, true, fmt.Errorf("%w: no interface description block", ErrMalformed)
		}
		if err != nil {
			return nil, true, fmt.Errorf("block at byte %d: %w", off, err)
		}
		switch b.typ {
		case blockIDB:
			if len(b.body) < 8 {
				return nil, true, fmt.Errorf("block at byte %d: %w", off, f.tooShort(b.typ))
			}
			if err := f.addInterface(b.body[8:]); err != nil {
				return nil, true, fmt.Errorf("block at byte %d: %w", off, err)
			}
			f.linkType = LinkTypeToDLT(int(order.Uint16(b.body[0:2])))
			f.snap = adjustSnapLen(f.linkType, order.Uint32(b.body[4:8]))
			limit := maxSnapLenForDLT(f.linkType)
			f.maxBlock = max(f.maxBlock, 8+20+limit+131072+4)
			return f, true, nil
		case blockEPB, blockSPB, blockPB:
			return nil, true, fmt.Errorf("block at byte %d: %w: packet block before any interface description block", off, ErrMalformed)
		}
	}
}

// readBlock reads and consumes one block, like libpcap's read_block. It
// returns io.EOF at a clean end of file, an error wrapping ErrTruncated
// when the file ends inside the block, and a recoverable-in-place
// ErrMalformed error otherwise.
func (f *pcapngFile) readBlock() (block, error) {
	h, err := f.in.peek(8)
	if err != nil {
		if len(h) == 0 && err == io.EOF {
			return block{}, io.EOF
		}
		return block{}, shortHeader("block header", len(h), 8, err)
	}
	typ, total := f.order.Uint32(h[0:4]), f.order.Uint32(h[4:8])
	var bad error
	switch {
	case total < 12:
		bad = fmt.Errorf("%w: block length %d < 12", ErrMalformed, total)
	case total%4 != 0:
		bad = fmt.Errorf("%w: block length %d not a multiple of 4", ErrMalformed, total)
	case total > f.maxBlock:
		bad = fmt.Errorf("%w: block length %d > maximum %d", ErrMalformed, total, f.maxBlock)
	}
	if bad != nil {
		f.in.discard(8)
		if f.resync {
			f.resyncPcapng()
		}
		return block{}, bad
	}
	b, err := f.in.peek(int(total))
	if err != nil {
		return block{}, shortData(total, len(b), err)
	}
	if trailer := f.order.Uint32(b[total-4:]); trailer != total {
		// libpcap trusts the header's length; resynchronising trusts
		// neither and looks for the next sound block after the header.
		if f.resync {
			f.in.discard(8)
			f.resyncPcapng()
		} else {
			f.in.discard(int(total))
		}
		return block{}, fmt.Errorf("%w: block length %d in header and %d in trailer", ErrMalformed, total, trailer)
	}
	f.in.discard(int(total))
	return block{typ: typ, body: b[8 : total-4]}, nil
}

func (f *pcapngFile) tooShort(typ uint32) error {
	return fmt.Errorf("%w: block of type 0x%x too short", ErrMalformed, typ)
}

// next decodes blocks until one delivers a packet into p.
func (f *pcapngFile) next(p *Packet) error {
	for {
		off := f.in.offset()
		b, err := f.readBlock()
		if err != nil {
			if err == io.EOF {
				return err
			}
			// A block whose length field could be read was consumed (or
			// its header was), and libpcap carries on from there.
			return &ReadError{Offset: off, Err: err, more: errors.Is(err, ErrMalformed)}
		}
		var ifID, capLen, wireLen uint32
		var t uint64
		var data []byte
		o := f.order
		switch b.typ {
		case blockEPB:
			if len(b.body) < 20 {
				return recoverable(off, f.tooShort(b.typ))
			}
			ifID = o.Uint32(b.body[0:4])
			t = uint64(o.Uint32(b.body[4:8]))<<32 | uint64(o.Uint32(b.body[8:12]))
			capLen, wireLen = o.Uint32(b.body[12:16]), o.Uint32(b.body[16:20])
			data = b.body[20:]
		case blockSPB:
			if len(b.body) < 4 {
				return recoverable(off, f.tooShort(b.typ))
			}
			wireLen = o.Uint32(b.body[0:4])
			capLen = min(wireLen, f.snap)
			data = b.body[4:]
		case blockPB:
			if len(b.body) < 20 {
				return recoverable(off, f.tooShort(b.typ))
			}
			ifID = uint32(o.Uint16(b.body[0:2]))
			t = uint64(o.Uint32(b.body[4:8]))<<32 | uint64(o.Uint32(b.body[8:12]))
			capLen, wireLen = o.Uint32(b.body[12:16]), o.Uint32(b.body[16:20])
			data = b.body[20:]
		case blockIDB:
			if err := f.nextInterface(b.body); err != nil {
				return recoverable(off, err)
			}
			continue
		case blockSHB:
			if err := f.nextSection(b.body); err != nil {
				return recoverable(off, err)
			}
			continue
		default:
			continue
		}
		if uint64(ifID) >= uint64(f.ifCount) {
			return recoverable(off, fmt.Errorf("%w: interface %d", ErrUnknownInterface, ifID))
		}
		if capLen > f.snap {
			return recoverable(off, fmt.Errorf("%w: %d bytes, snapshot length %d", ErrCapLen, capLen, f.snap))
		}
		if uint64(capLen) > uint64(len(data)) {
			return recoverable(off, f.tooShort(b.typ))
		}
		ifc := &f.ifaces[ifID]
		if ifc.undefined {
			f.undefined = true
		}
		sec := t/ifc.resol + ifc.offset
		frac := t % ifc.resol
		switch ifc.scale {
		case scaleUpDec:
			frac *= ifc.factor
		case scaleDownDec:
			frac /= ifc.factor
		case scaleBin:
			frac = frac * userTSResol / ifc.resol
		}
		data = data[:capLen]
		if f.swapped {
			fixSwappedData(f.linkType, wireLen, data)
		}
		p.Sec = int64(sec)
		p.Usec = int64(frac) // below 2^20 whatever the resolution
		p.CapLen = capLen
		p.WireLen = wireLen
		p.LinkType = f.linkType
		p.Offset = off
		p.Data = data
		return nil
	}
}

// nextInterface handles an IDB after the first one of the file.
func (f *pcapngFile) nextInterface(body []byte) error {
	if len(body) < 8 {
		return f.tooShort(blockIDB)
	}
	lt := f.order.Uint16(body[0:2])
	snap := f.order.Uint32(body[4:8])
	// libpcap compares the first interface's DLT with this interface's
	// LINKTYPE, so e.g. a second LINKTYPE_RAW interface is rejected too.
	if int(lt) != f.linkType {
		return fmt.Errorf("%w: %d, first interface %d", ErrLinkTypeMismatch, lt, f.linkType)
	}
	if adjustSnapLen(f.linkType, snap) != f.snap {
		return fmt.Errorf("%w: %d, first interface %d", ErrSnapLenMismatch, snap, f.snap)
	}
	return f.addInterface(body[8:])
}

// nextSection handles an SHB after the first one: it checks the byte order
// and version and forgets the interfaces of the previous section.
func (f *pcapngFile) nextSection(body []byte) error {
	if len(body) < 16 {
		return f.tooShort(blockSHB)
	}
	switch bom := f.order.Uint32(body[0:4]); bom {
	case byteOrderMagic:
	case 0x4d3c2b1a:
		return fmt.Errorf("%w: sections with different byte orders", ErrUnsupported)
	default:
		return fmt.Errorf("%w: bad byte order magic 0x%08x", ErrMalformed, bom)
	}
	if major := f.order.Uint16(body[4:6]); major != 1 {
		return fmt.Errorf("%w: pcapng major version %d", ErrUnsupported, major)
	}
	f.ifCount = 0
	return nil
}

// addInterface counts a new interface and parses its options (opts
// follows the fixed IDB part), like libpcap's add_interface. As there, the
// interface is counted even when its options turn out to be invalid.
func (f *pcapngFile) addInterface(opts []byte) error {
	f.ifCount++
	if f.ifCount > len(f.ifaces) {
		f.ifaces = append(f.ifaces, ngInterface{resol: userTSResol, undefined: true})
	}
	resol, offset, isBinary, err := f.parseOptions(opts)
	if err != nil {
		return err
	}
	ifc := ngInterface{resol: resol, offset: offset}
	switch {
	case resol == userTSResol:
		ifc.scale = scalePass
	case isBinary:
		ifc.scale = scaleBin
	case resol > userTSResol:
		ifc.scale, ifc.factor = scaleDownDec, resol/userTSResol
	default:
		ifc.scale, ifc.factor = scaleUpDec, userTSResol/resol
	}
	f.ifaces[f.ifCount-1] = ifc
	return nil
}

// parseOptions extracts if_tsresol and if_tsoffset from IDB options, with
// libpcap's process_idb_options checks.
func (f *pcapngFile) parseOptions(opts []byte) (resol, offset uint64, isBinary bool, err error) {
	resol = userTSResol
	var sawResol, sawOffset bool
	for len(opts) != 0 {
		if len(opts) < 4 {
			return 0, 0, false, f.tooShort(blockIDB)
		}
		code, n := f.order.Uint16(opts[0:2]), int(f.order.Uint16(opts[2:4]))
		padded := (n + 3) &^ 3
		if len(opts)-4 < padded {
			return 0, 0, false, f.tooShort(blockIDB)
		}
		val := opts[4 : 4+n]
		opts = opts[4+padded:]
		switch code {
		case optEndOfOpt:
			if n != 0 {
				return 0, 0, false, fmt.Errorf("%w: opt_endofopt length %d", ErrMalformed, n)
			}
			return resol, offset, isBinary, nil
		case optTSResol:
			if n != 1 || sawResol {
				return 0, 0, false, fmt.Errorf("%w: if_tsresol length %d or repeated", ErrMalformed, n)
			}
			sawResol = true
			v := val[0]
			if v&0x80 != 0 {
				if v&0x7f > 63 {
					return 0, 0, false, fmt.Errorf("%w: if_tsresol 2^-%d", ErrMalformed, v&0x7f)
				}
				resol, isBinary = 1<<(v&0x7f), true
				break
			}
			if v > 19 {
				return 0, 0, false, fmt.Errorf("%w: if_tsresol 10^-%d", ErrMalformed, v)
			}
			resol, isBinary = 1, false
			for range v {
				resol *= 10
			}
		case optTSOffset:
			if n != 8 || sawOffset {
				return 0, 0, false, fmt.Errorf("%w: if_tsoffset length %d or repeated", ErrMalformed, n)
			}
			sawOffset = true
			offset = f.order.Uint64(val)
		}
	}
	return resol, offset, isBinary, nil
}

func (f *pcapngFile) dlt() int        { return f.linkType }
func (f *pcapngFile) snapLen() uint32 { return f.snap }
