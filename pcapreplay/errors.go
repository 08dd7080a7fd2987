package pcapreplay

import (
	"errors"
	"fmt"
)

// Sentinel errors, wrapped by [*OpenError] and [*ReadError]; test for them
// with [errors.Is].
var (
	// ErrTruncated means the file ends inside a file header, block or
	// record.
	ErrTruncated = errors.New("truncated record")
	// ErrNotCapture means the file starts with neither a pcap nor a pcapng
	// magic number.
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrEmpty means the file has no bytes at all.
	ErrEmpty = errors.New("empty file")
	// ErrIsDirectory means a directory was given instead of a file.
	ErrIsDirectory = errors.New("is a directory")
	// ErrNotRegular means the path names a device, pipe or socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrUnsupported means a file or section version libpcap refuses.
	ErrUnsupported = errors.New("unsupported capture format")
	// ErrMalformed means a header, block or option that libpcap rejects.
	ErrMalformed = errors.New("malformed capture")
	// ErrCapLen means a record whose captured length exceeds what libpcap
	// accepts (the link type's maximum, or the pcapng snapshot length).
	ErrCapLen = errors.New("invalid capture length")
	// ErrLinkTypeMismatch means a pcapng interface whose link type differs
	// from the first interface of the file. libpcap rejects the interface,
	// so packets on it then fail with [ErrUnknownInterface].
	ErrLinkTypeMismatch = errors.New("interface link type differs from the first interface")
	// ErrSnapLenMismatch means a pcapng interface whose snapshot length
	// differs from the first interface of the file; it is rejected too.
	ErrSnapLenMismatch = errors.New("interface snapshot length differs from the first interface")
	// ErrUnknownInterface means a pcapng packet on an interface that has
	// no (accepted) Interface Description Block in its section.
	ErrUnknownInterface = errors.New("packet on an undescribed interface")
)

// OpenError reports a capture file that cannot be opened. [Open] returns
// it for any file that is missing, not a regular file, empty, or whose
// first file header is invalid; [Reader.Next] returns it for a later file
// whose header turns out to be invalid.
type OpenError struct {
	File string // path as given to Open
	Err  error  // cause, often wrapping one of the sentinels
}

func (e *OpenError) Error() string { return fmt.Sprintf("open capture %q: %v", e.File, e.Err) }

// Unwrap returns the cause.
func (e *OpenError) Unwrap() error { return e.Err }

// ReadError reports a damaged record or block. Calling [Reader.Next]
// again is always allowed and continues exactly where libpcap would;
// see [ReadError.Recoverable].
type ReadError struct {
	File   string // path as given to Open
	Offset int64  // byte offset of the record or block in File
	Err    error  // cause, wrapping one of the sentinels or an I/O error

	more bool // the same file has more records after this error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("read capture %q at byte %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *ReadError) Unwrap() error { return e.Err }

// Recoverable reports whether reading the same file goes on after this
// error: the damaged record or block was skipped, as libpcap does, and the
// next call to [Reader.Next] may return further records of the file. This
// holds for invalid lengths, rejected interfaces and malformed pcapng
// blocks whose length is intact. Truncation and I/O errors are not
// recoverable: the file is finished and the next call moves on to the
// next file (or returns io.EOF).
func (e *ReadError) Recoverable() bool { return e.more }
