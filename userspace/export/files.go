package export

import (
	"fmt"
	"io"
	"os"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// FileOptions configures [Files].
type FileOptions struct {
	Path               string   // output path; "-" is stdout
	FlowsPerFile       uint64   // 0 writes one file; K > 0 writes K flows per file (flows_per_file)
	RotateFiles        uint64   // with chunking, reuse file names modulo R (rotate_files)
	ColumnsToAnonymize []string // columns_to_anonymize
	// Workers > 0 encodes on other goroutines while the caller goes on
	// metering: CSV rows on that many, formats whose rows cannot be
	// split (Parquet) on one; the output is identical. Write then returns
	// write errors late (by a later Write or by Close), and flows passed
	// to Write must not be modified afterwards.
	Workers int
	// New makes every file a new one: a path that already exists (when
	// this run has not created it itself, as a rotated chunk) is an
	// error. Files are never opened through a symbolic link, New or not.
	New bool
	// Refuse, when set, is asked about each file once it is open and
	// before anything in it is replaced; an error leaves the file as it
	// was (nfmeter refuses to overwrite an input capture this way, with
	// no window between the check and the write).
	Refuse func(os.FileInfo) error
}

// format is a file format of [Files]: how its chunks are named and how a
// file is started.
type format interface {
	// chunkPath names chunk i of path.
	chunkPath(path string, i uint64) string
	// open starts a file on w for flows of schema s (anon may be nil).
	open(w io.Writer, s *flows.Schema, anon *Anonymizer) (encoder, error)
}

// encoder writes the flows of one file.
type encoder interface {
	encode(f *flows.Flow) error
	// close ends the file (buffered data, footer); it does not close
	// the output.
	close() error
}

// rowFormat is a [format] whose flows encode to rows that stand alone
// (CSV, JSON Lines): workers format them and the file's encoder only
// writes them, in order.
type rowFormat interface {
	format
	// rowFormatter returns a function, for one goroutine, that appends
	// f's row to b.
	rowFormatter(s *flows.Schema, anon *Anonymizer) func(b []byte, f *flows.Flow) []byte
}

// rowEncoder is the [encoder] of a [rowFormat].
type rowEncoder interface {
	encoder
	writeRow(row []byte) error
}

// Files writes a flow stream in one format to one file, or to chunks of
// FlowsPerFile flows, the way NFStream's to_csv does: chunk names from
// the format (every "csv" of the path becomes "<i>.csv" for CSV), reused
// modulo RotateFiles, "-" for stdout, columns anonymized as asked. No file
// is created until the first flow arrives. Close ends the current file
// (a Parquet footer included); call it on every path, errors and
// interruptions included, so that the file is readable. It is not safe
// for concurrent use.
type Files struct {
	opts   FileOptions
	format format
	schema func(first *flows.Flow) *flows.Schema
	anon   *Anonymizer
	stdout io.Writer

	s        *flows.Schema
	enc      encoder
	file     *os.File
	curPath  string
	inChunk  uint64
	chunk    uint64
	written  uint64
	paths    []string
	created  map[string]bool // files this run created (rotation reopens them)
	finished bool
	async    *async
}

// newFiles returns the sink of format f. schema derives the columns from
// the first flow; stdout is used when opts.Path is "-".
func newFiles(opts FileOptions, f format, schema func(first *flows.Flow) *flows.Schema, stdout io.Writer) (*Files, error) {
	w := &Files{opts: opts, format: f, schema: schema, stdout: stdout}
	if len(opts.ColumnsToAnonymize) > 0 {
		a, err := NewAnonymizer(opts.ColumnsToAnonymize)
		if err != nil {
			return nil, err
		}
		w.anon = a
	}
	return w, nil
}

// Written returns the number of flows written so far.
func (w *Files) Written() uint64 { return w.written }

// Paths returns the files created, in creation order.
func (w *Files) Paths() []string { return w.paths }

// Schema returns the columns (nil before the first flow).
func (w *Files) Schema() *flows.Schema { return w.s }

// Write appends a flow, opening the next chunk when needed. With Workers
// > 0 the flow must not be modified afterwards and errors come late.
func (w *Files) Write(f *flows.Flow) error {
	if w.s == nil {
		w.s = w.schema(f)
		if err := w.anon.checkColumns(w.s.Names); err != nil {
			return err
		}
		if w.opts.Workers > 0 {
			w.async = w.startAsync()
		}
	}
	if w.async != nil {
		return w.async.add(f)
	}
	return w.writeFlow(f)
}

// startAsync starts the goroutines of Workers > 0.
func (w *Files) startAsync() *async {
	rf, ok := w.format.(rowFormat)
	if !ok {
		return newAsync(nil, nil, w.writeFlow)
	}
	formatters := make([]func([]byte, *flows.Flow) []byte, w.opts.Workers)
	for i := range formatters {
		formatters[i] = rf.rowFormatter(w.s, w.anon)
	}
	return newAsync(formatters, w.writeRow, nil)
}

// writeFlow writes one flow (on the caller's or the writer goroutine).
func (w *Files) writeFlow(f *flows.Flow) error {
	if err := w.rollover(); err != nil {
		return err
	}
	if err := w.enc.encode(f); err != nil {
		return w.pathError(err)
	}
	w.inChunk++
	w.written++
	return nil
}

// writeRow writes one row formatted by a worker (writer goroutine).
func (w *Files) writeRow(row []byte) error {
	if err := w.rollover(); err != nil {
		return err
	}
	if err := w.enc.(rowEncoder).writeRow(row); err != nil {
		return w.pathError(err)
	}
	w.inChunk++
	w.written++
	return nil
}

func (w *Files) pathError(err error) error {
	return fmt.Errorf("write %s: %w", w.curPath, err)
}

// rollover opens the first file, or the next chunk when the current one is
// full.
func (w *Files) rollover() error {
	if w.enc == nil || (w.opts.FlowsPerFile > 0 && w.inChunk >= w.opts.FlowsPerFile) {
		return w.next()
	}
	return nil
}

func (w *Files) next() error {
	if err := w.closeCurrent(); err != nil {
		return err
	}
	path := w.opts.Path
	if w.opts.FlowsPerFile > 0 {
		i := w.chunk
		if w.opts.RotateFiles > 0 {
			i %= w.opts.RotateFiles
		}
		path = w.format.chunkPath(path, i)
		w.chunk++
	}
	out := w.stdout
	if path != "-" {
		f, err := w.create(path)
		if err != nil {
			return err
		}
		w.file = f
		out = f
	}
	enc, err := w.format.open(out, w.s, w.anon)
	if err != nil {
		w.closeFile()
		return err
	}
	w.enc = enc
	w.curPath = path
	w.paths = append(w.paths, path)
	w.inChunk = 0
	return nil
}

// create opens path for writing from its start: never through a symbolic
// link, as a new file with FileOptions.New, and emptied only after
// FileOptions.Refuse has accepted the file that is actually open.
func (w *Files) create(path string) (*os.File, error) {
	flag := os.O_WRONLY | os.O_CREATE | oNoFollow
	if w.opts.New && !w.created[path] {
		flag |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o666)
	switch {
	case err == nil:
	case isSymlinkRefusal(err):
		return nil, fmt.Errorf("create output: %q is a symbolic link: not written through", path)
	default:
		return nil, fmt.Errorf("create output: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && w.opts.Refuse != nil {
		err = w.opts.Refuse(fi)
	}
	if err == nil && fi.Mode().IsRegular() {
		err = f.Truncate(0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create output %s: %w", path, err)
	}
	if w.created == nil {
		w.created = make(map[string]bool)
	}
	w.created[path] = true
	return f, nil
}

func (w *Files) closeCurrent() error {
	if w.enc == nil {
		return nil
	}
	err := w.enc.close()
	if cerr := w.closeFile(); err == nil {
		err = cerr
	}
	w.enc = nil
	if err != nil {
		return w.pathError(err)
	}
	return nil
}

func (w *Files) closeFile() error {
	if w.file == nil {
		return nil
	}
	err := w.file.Close()
	w.file = nil
	return err
}

// Flush pushes buffered rows to the current file, for formats that buffer
// rows (CSV), without Workers.
func (w *Files) Flush() error {
	fl, ok := w.enc.(interface{ flush() error })
	if !ok || w.async != nil {
		return nil
	}
	if err := fl.flush(); err != nil {
		return w.pathError(err)
	}
	return nil
}

// Close waits for the workers and ends the current file (last rows,
// footer) and closes it.
func (w *Files) Close() error {
	if w.finished {
		return nil
	}
	w.finished = true
	var err error
	if w.async != nil {
		err = w.async.close()
	}
	if cerr := w.closeCurrent(); err == nil {
		err = cerr
	}
	return err
}
