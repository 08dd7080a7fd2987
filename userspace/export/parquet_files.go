package export

import (
	"errors"
	"fmt"
	"io"
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

// ParquetFiles is the [Files] of [NewParquetFiles].
type ParquetFiles = Files

// NewParquetFiles returns the [Files] of Parquet: chunks named by
// [ParquetChunkPath], each a whole file with the same typed columns,
// fixed by the first flows; Workers > 0 writes on one goroutine of its
// own. schema derives the columns from the first flow; stdout is used
// when opts.Path is "-".
func NewParquetFiles(opts FileOptions, popts ParquetOptions, schema func(first *flows.Flow) *flows.Schema, stdout io.Writer) (*ParquetFiles, error) {
	if err := ValidateParquetCompression(popts.Compression); err != nil {
		return nil, err
	}
	if opts.FlowsPerFile > 0 && (opts.Path == "-" || !strings.Contains(opts.Path, "parquet")) {
		return nil, fmt.Errorf("%w: %q", ErrChunkPath, opts.Path)
	}
	return newFiles(opts, &parquetFormat{opts: popts}, schema, stdout)
}

// parquetFormat is the Parquet [format] of [Files]. The first file fixes
// the column types; the later chunks reuse them.
type parquetFormat struct {
	opts   ParquetOptions
	layout *pqLayout
	last   *Parquet // the file opened last
}

func (*parquetFormat) chunkPath(path string, i uint64) string { return ParquetChunkPath(path, i) }

func (pf *parquetFormat) open(w io.Writer, s *flows.Schema, anon *Anonymizer) (encoder, error) {
	if pf.layout == nil && pf.last != nil {
		pf.layout = pf.last.layout
	}
	p, err := NewParquet(w, anon, pf.opts)
	if err != nil {
		return nil, err
	}
	p.schema = s
	if pf.layout != nil {
		if err := p.setLayout(pf.layout); err != nil {
			return nil, err
		}
	}
	pf.last = p
	return p, nil
}

// encode and close make a [Parquet] the [encoder] of a Parquet file.
func (p *Parquet) encode(f *flows.Flow) error { return p.Write(f, p.schema) }
func (p *Parquet) close() error               { return p.Close() }
