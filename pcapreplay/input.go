package pcapreplay

import (
	"io"
)

const (
	// defaultBufSize is the buffer used for files of at least this size;
	// smaller files get a buffer of their own size (but minBufSize).
	defaultBufSize = 1 << 20
	minBufSize     = 4096
	// maxZeroReads bounds consecutive empty reads before giving up, like
	// bufio.Reader does.
	maxZeroReads = 100
)

// input is a buffered reader with a read-ahead window that records and
// blocks are decoded from in place. Slices it returns stay valid until the
// next call to peek. The buffer only grows when a single record does not
// fit, and then only as fast as data arrives (doubling), so a bogus length
// in a header can never make it allocate much more than the file holds.
type input struct {
	rd   io.Reader
	buf  []byte
	r, w int   // unread data is buf[r:w]
	base int64 // file offset of buf[0]
	err  error // sticky error from rd (io.EOF at the end)
}

// reset points in at a new underlying reader of the given size (-1 when
// unknown), keeping and if useful enlarging the buffer.
func (in *input) reset(rd io.Reader, size int64) {
	want := defaultBufSize
	if size >= 0 && size < int64(want) {
		want = max(int(size), minBufSize)
	}
	if len(in.buf) < want {
		in.buf = make([]byte, want)
	}
	in.rd = rd
	in.r, in.w = 0, 0
	in.base = 0
	in.err = nil
}

// offset returns the file offset of the next unread byte.
func (in *input) offset() int64 { return in.base + int64(in.r) }

// peek returns the next n unread bytes without consuming them. If the
// input ends (or fails) first, it returns the fewer bytes there are and
// the error (io.EOF at the end of the input).
func (in *input) peek(n int) ([]byte, error) {
	zero := 0
	for in.w-in.r < n {
		if in.err != nil {
			return in.buf[in.r:in.w], in.err
		}
		if len(in.buf)-in.r < n && in.r > 0 {
			// Slide the unread bytes to the front to make room.
			copy(in.buf, in.buf[in.r:in.w])
			in.base += int64(in.r)
			in.w -= in.r
			in.r = 0
		}
		if in.w == len(in.buf) {
			// Full and still short: grow, at most doubling.
			nb := make([]byte, min(n, max(2*len(in.buf), minBufSize)))
			copy(nb, in.buf[:in.w])
			in.buf = nb
		}
		m, err := in.rd.Read(in.buf[in.w:])
		if m < 0 || m > len(in.buf)-in.w {
			err, m = io.ErrNoProgress, 0
		}
		in.w += m
		switch {
		case err != nil:
			in.err = err
		case m == 0:
			if zero++; zero >= maxZeroReads {
				in.err = io.ErrNoProgress
			}
		default:
			zero = 0
		}
	}
	return in.buf[in.r : in.r+n], nil
}

// discard consumes n bytes, which must have been returned by peek.
func (in *input) discard(n int) { in.r += n }
