package export

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ParquetChunkPath is [ChunkPath] for Parquet: every "parquet" in path
// becomes "<i>.parquet".
func ParquetChunkPath(path string, i uint64) string {
	return strings.ReplaceAll(path, "parquet", strconv.FormatUint(i, 10)+".parquet")
}

// ErrChunkPath is returned when Parquet chunks (FlowsPerFile > 0) are asked
// for with a path that [ParquetChunkPath] cannot number: stdout, or a path
// without "parquet", whose chunks would all overwrite one file.
var ErrChunkPath = errors.New(`chunked Parquet output needs a file path containing "parquet"`)

// ParquetFiles writes a flow stream to one Parquet file, or to chunks of
// FlowsPerFile flows named by [ParquetChunkPath], the way [CSVFiles] does
// for CSV (same FileOptions; Workers > 0 writes on a goroutine of its own).
// Every chunk has the same typed columns, fixed by the first flows. No file
// is created until the first flow arrives. Close ends the current file
// with its footer; call it on every path (errors and interruptions
// included) so that the file is readable. It is not safe for concurrent
// use.
type ParquetFiles struct {
	opts   FileOptions
	popts  ParquetOptions
	schema func(first *flows.Flow) *flows.Schema
	anon   *Anonymizer
	stdout io.Writer

	s        *flows.Schema
	layout   *pqLayout
	cur      *Parquet
	file     *os.File
	curPath  string
	inChunk  uint64
	chunk    uint64
	written  uint64
	paths    []string
	finished bool
	async    *asyncFlows
}

// NewParquetFiles returns a sink. schema derives the columns from the first
// flow; stdout is used when opts.Path is "-".
func NewParquetFiles(opts FileOptions, popts ParquetOptions, schema func(first *flows.Flow) *flows.Schema, stdout io.Writer) (*ParquetFiles, error) {
	if err := ValidateParquetCompression(popts.Compression); err != nil {
		return nil, err
	}
	if opts.FlowsPerFile > 0 && (opts.Path == "-" || !strings.Contains(opts.Path, "parquet")) {
		return nil, fmt.Errorf("%w: %q", ErrChunkPath, opts.Path)
	}
	p := &ParquetFiles{opts: opts, popts: popts, schema: schema, stdout: stdout}
	if len(opts.ColumnsToAnonymize) > 0 {
		a, err := NewAnonymizer(opts.ColumnsToAnonymize)
		if err != nil {
			return nil, err
		}
		p.anon = a
	}
	return p, nil
}

// Written returns the number of flows written so far.
func (p *ParquetFiles) Written() uint64 { return p.written }

// Paths returns the files created, in creation order.
func (p *ParquetFiles) Paths() []string { return p.paths }

// Schema returns the columns (nil before the first flow).
func (p *ParquetFiles) Schema() *flows.Schema { return p.s }

// Write appends a flow, opening the next chunk when needed. With Workers
// > 0 the flow must not be modified afterwards and errors come late.
func (p *ParquetFiles) Write(f *flows.Flow) error {
	if p.s == nil {
		p.s = p.schema(f)
		if p.anon != nil {
			for _, col := range p.anon.Columns {
				if !containsString(p.s.Names, col) {
					return fmt.Errorf("columns_to_anonymize: no column %q in the output", col)
				}
			}
		}
		if p.opts.Workers > 0 {
			p.async = newAsyncFlows(p.write)
		}
	}
	if p.async != nil {
		return p.async.add(f)
	}
	return p.write(f)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// write writes one flow (on the caller's or the writer goroutine).
func (p *ParquetFiles) write(f *flows.Flow) error {
	if p.cur == nil || (p.opts.FlowsPerFile > 0 && p.inChunk >= p.opts.FlowsPerFile) {
		if err := p.next(); err != nil {
			return err
		}
	}
	if err := p.cur.Write(f, p.s); err != nil {
		return p.pathError(err)
	}
	p.inChunk++
	p.written++
	return nil
}

func (p *ParquetFiles) pathError(err error) error {
	return fmt.Errorf("write %s: %w", p.curPath, err)
}

func (p *ParquetFiles) next() error {
	if err := p.closeCurrent(); err != nil {
		return err
	}
	path := p.opts.Path
	if p.opts.FlowsPerFile > 0 {
		i := p.chunk
		if p.opts.RotateFiles > 0 {
			i %= p.opts.RotateFiles
		}
		path = ParquetChunkPath(path, i)
		p.chunk++
	}
	var w io.Writer
	if path == "-" {
		w = p.stdout
	} else {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		p.file = f
		w = f
	}
	cur, err := NewParquet(w, p.anon, p.popts)
	if err != nil {
		return err
	}
	if p.layout != nil {
		cur.schema = p.s
		if err := cur.setLayout(p.layout); err != nil {
			return err
		}
	}
	p.cur = cur
	p.curPath = path
	p.paths = append(p.paths, path)
	p.inChunk = 0
	return nil
}

func (p *ParquetFiles) closeCurrent() error {
	if p.cur == nil {
		return nil
	}
	err := p.cur.Close()
	if p.layout == nil {
		p.layout = p.cur.layout
	}
	if p.file != nil {
		if cerr := p.file.Close(); err == nil {
			err = cerr
		}
		p.file = nil
	}
	p.cur = nil
	if err != nil {
		return p.pathError(err)
	}
	return nil
}

// Close ends the current file (last row group and footer) and closes it.
func (p *ParquetFiles) Close() error {
	if p.finished {
		return nil
	}
	p.finished = true
	var err error
	if p.async != nil {
		err = p.async.close()
	}
	if cerr := p.closeCurrent(); err == nil {
		err = cerr
	}
	return err
}
