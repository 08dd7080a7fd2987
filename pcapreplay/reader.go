package pcapreplay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// Packet is one captured record, as libpcap's pcap_next_ex delivers it:
// the flow engine's [flows.Frame], which [Reader.Next] fills in place.
// Data aliases the reader's internal buffer and is only valid until the
// next call to [Reader.Next]. The fields hold:
//
//   - Sec: the struct timeval tv_sec. For classic pcap it is the 32-bit
//     record field read as an int32 (as a uint32 in big-endian files).
//   - Usec: the struct timeval tv_usec: the 32-bit field of classic pcap,
//     signed like Sec (divided by 1000, truncating toward zero, in
//     nanosecond files), or the pcapng fraction scaled to microseconds. It
//     may be negative or above 999999 in damaged files.
//   - CapLen: the number of captured bytes, len(Data), after libpcap's
//     truncation to the file's snapshot length.
//   - WireLen: the original length on the wire, as stored in the file.
//   - LinkType: the DLT_ value of the packet (LINKTYPE_RAW is reported as
//     DLT_RAW, 12).
//   - Offset: the byte offset of the record or block in File.
//   - File: the path of the file the packet comes from.
//   - Data: the captured bytes.
//
// Its TimeMs method gives the time in milliseconds as NFStream computes it.
type Packet = flows.Frame

// decoder is a capture format.
type decoder interface {
	next(p *Packet) error
	dlt() int
	snapLen() uint32
}

// source is one capture file of a Reader.
type source struct {
	name string
	size int64
	rd   io.Reader // preset for in-memory sources; nil means os.Open(name)
}

// Reader reads one or several capture files in sequence as one source of
// packets. Create it with [Open]; it is not safe for concurrent use.
type Reader struct {
	srcs     []source
	total    int64
	cur      int // index in srcs of the file being read
	file     *os.File
	in       input
	dec      decoder // nil until srcs[cur] is opened
	done     int64   // sizes of the files before cur
	linkType int
	opts     Options
}

// Options change how a [Reader] reads damaged files; the zero value reads
// every file exactly as libpcap does.
type Options struct {
	// Resync makes the reader look for the next sound record after a
	// record header or pcapng block header whose length is impossible,
	// instead of reading on right after that header as libpcap does (and
	// taking the record's data for headers). The bad record is still
	// reported as a recoverable [*ReadError] at the offset of its header;
	// the records after it are then delivered. Files without such a header
	// read the same either way.
	Resync bool
}

// Open prepares reading the given files in order. It checks that every
// path is a non-empty regular file with a pcap or pcapng magic number, and
// opens the first one at once, so that most errors surface here; the
// others are opened when the previous one is exhausted. Errors are
// [*OpenError] values naming the file.
func Open(paths ...string) (*Reader, error) {
	return OpenWith(Options{}, paths...)
}

// OpenWith is [Open] with options.
func OpenWith(opts Options, paths ...string) (*Reader, error) {
	if len(paths) == 0 {
		return nil, errors.New("open capture: no files given")
	}
	r := &Reader{srcs: make([]source, len(paths)), opts: opts}
	for i, path := range paths {
		size, err := checkCapture(path)
		if err != nil {
			return nil, &OpenError{File: path, Err: err}
		}
		r.srcs[i] = source{name: path, size: size}
		r.total += size
	}
	if err := r.openCurrent(); err != nil {
		return nil, err
	}
	return r, nil
}

// newReader reads a single capture from rd; name is used in errors. It is
// the file-less entry point used by fuzzing.
func newReader(rd io.Reader, name string, size int64, opts Options) (*Reader, error) {
	r := &Reader{srcs: []source{{name: name, size: size, rd: rd}}, total: max(size, 0), opts: opts}
	if err := r.openCurrent(); err != nil {
		return nil, err
	}
	return r, nil
}

// checkCapture checks that path is a non-empty regular file starting with
// a pcap or pcapng magic number, and returns its size.
func checkCapture(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, unwrapPath(err)
	}
	switch {
	case fi.IsDir():
		return 0, ErrIsDirectory
	case !fi.Mode().IsRegular():
		return 0, ErrNotRegular
	case fi.Size() == 0:
		return 0, ErrEmpty
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, unwrapPath(err)
	}
	defer f.Close()
	var m [4]byte
	n, err := io.ReadFull(f, m[:])
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, shortHeader("file header", n, len(m), unwrapPath(err))
	}
	if err := checkMagic(m[:]); err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// checkMagic accepts the magic numbers of pcap and pcapng files.
func checkMagic(m []byte) error {
	if _, ok := isPcapMagic(m); ok || binary.BigEndian.Uint32(m) == blockSHB {
		return nil
	}
	return fmt.Errorf("%w (magic 0x%08x)", ErrNotCapture, binary.BigEndian.Uint32(m))
}

// unwrapPath drops the *fs.PathError layer, as OpenError names the file.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// openCurrent opens srcs[cur] and reads its file header.
func (r *Reader) openCurrent() error {
	src := &r.srcs[r.cur]
	rd := src.rd
	if rd == nil {
		f, err := os.Open(src.name)
		if err != nil {
			return &OpenError{File: src.name, Err: unwrapPath(err)}
		}
		r.file, rd = f, f
	}
	r.in.reset(rd, src.size)
	dec, err := r.detect()
	if err != nil {
		r.closeFile()
		return &OpenError{File: src.name, Err: err}
	}
	r.dec = dec
	r.linkType = dec.dlt()
	return nil
}

// detect recognises the format from the magic number and validates the
// file header, like libpcap's pcap_fopen_offline.
func (r *Reader) detect() (decoder, error) {
	m, err := r.in.peek(4)
	if err != nil {
		if len(m) == 0 && err == io.EOF {
			return nil, ErrEmpty
		}
		return nil, shortHeader("file header", len(m), 4, err)
	}
	if order, ok := isPcapMagic(m); ok {
		f, err := openPcap(&r.in, order)
		if err != nil {
			return nil, err
		}
		f.resync = r.opts.Resync
		return f, nil
	}
	if binary.BigEndian.Uint32(m) == blockSHB {
		f, ok, err := openPcapng(&r.in)
		if ok {
			if err != nil {
				return nil, err
			}
			f.resync = r.opts.Resync
			return f, nil
		}
		// Something starting like a pcapng file (or a text file with
		// CRLF line ends) but without a byte-order magic after it.
	}
	return nil, fmt.Errorf("%w (magic 0x%08x)", ErrNotCapture, binary.BigEndian.Uint32(m))
}

// Next reads the next packet into p. It returns io.EOF after the last
// record of the last file. Otherwise errors are [*ReadError] values, or an
// [*OpenError] for a later file that cannot be opened; after any error,
// calling Next again continues as libpcap would (see the package
// documentation). Next does not allocate, except when it returns an error
// or opens the next file.
func (r *Reader) Next(p *Packet) error {
	for {
		if r.dec == nil {
			if r.cur >= len(r.srcs) {
				return io.EOF
			}
			if err := r.openCurrent(); err != nil {
				r.advance()
				return err
			}
		}
		err := r.dec.next(p)
		switch e := err.(type) {
		case nil:
			p.File = r.srcs[r.cur].name
			return nil
		case *ReadError:
			e.File = r.srcs[r.cur].name
			if !e.more {
				r.advance()
			}
			return e
		}
		if err != io.EOF {
			return err // not reached: decoders only return ReadErrors
		}
		r.advance()
	}
}

// advance finishes the current file.
func (r *Reader) advance() {
	r.closeFile()
	r.done += max(r.srcs[r.cur].size, 0)
	r.cur++
	r.dec = nil
}

func (r *Reader) closeFile() error {
	var err error
	if r.file != nil {
		err = r.file.Close()
		r.file = nil
	}
	return err
}

// Close closes the current file; later calls to Next return io.EOF.
func (r *Reader) Close() error {
	err := r.closeFile()
	r.dec = nil
	r.cur = len(r.srcs)
	return err
}

// BytesRead returns how many bytes of all files have been consumed so
// far, for progress reports.
func (r *Reader) BytesRead() int64 {
	if r.dec != nil {
		return r.done + r.in.offset()
	}
	return r.done
}

// TotalBytes returns the sum of the file sizes, taken by [Open].
func (r *Reader) TotalBytes() int64 { return r.total }

// LinkType returns the DLT_ value of the file being read (pcapng: of its
// first interface), or of the last file opened.
func (r *Reader) LinkType() int { return r.linkType }

// snapLen returns libpcap's pcap_snapshot for the current file.
func (r *Reader) snapLen() uint32 {
	if r.dec == nil {
		return 0
	}
	return r.dec.snapLen()
}

// shortHeader describes a header that could not be read whole.
func shortHeader(what string, got, want int, err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w (%s has %d of %d bytes)", ErrTruncated, what, got, want)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// shortData describes record data that could not be read whole.
func shortData(need uint32, got int, err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w (header says %d bytes, %d left)", ErrTruncated, need, got)
	}
	return fmt.Errorf("read record: %w", err)
}

// fileEnded wraps an error after which the file cannot be read further.
func fileEnded(off int64, err error) error {
	return &ReadError{Offset: off, Err: err}
}

// recoverable wraps an error after which the file is read further.
func recoverable(off int64, err error) error {
	return &ReadError{Offset: off, Err: err, more: true}
}
