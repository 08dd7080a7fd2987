package export

import (
	"fmt"
	"io"
	"os"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// CSVFiles writes a flow stream to one CSV file, or to chunks of
// FlowsPerFile flows, like NFStream's to_csv. No file is created until the
// first flow arrives. It is not safe for concurrent use.
type CSVFiles struct {
	opts   FileOptions
	schema func(first *flows.Flow) *flows.Schema
	anon   *Anonymizer
	stdout io.Writer

	cur      *CSV
	file     *os.File
	curPath  string
	inChunk  uint64
	chunk    uint64
	written  uint64
	s        *flows.Schema
	paths    []string
	finished bool
	async    *asyncRows
}

// NewCSVFiles returns a sink. schema derives the columns from the first
// flow; stdout is used when opts.Path is "-".
func NewCSVFiles(opts FileOptions, schema func(first *flows.Flow) *flows.Schema, stdout io.Writer) (*CSVFiles, error) {
	c := &CSVFiles{opts: opts, schema: schema, stdout: stdout}
	if len(opts.ColumnsToAnonymize) > 0 {
		a, err := NewAnonymizer(opts.ColumnsToAnonymize)
		if err != nil {
			return nil, err
		}
		c.anon = a
	}
	return c, nil
}

// Written returns the number of flows written so far.
func (c *CSVFiles) Written() uint64 { return c.written }

// Paths returns the files created, in creation order.
func (c *CSVFiles) Paths() []string { return c.paths }

// Schema returns the columns (nil before the first flow).
func (c *CSVFiles) Schema() *flows.Schema { return c.s }

// Write appends a flow, opening the next chunk when needed.
func (c *CSVFiles) Write(f *flows.Flow) error {
	if c.s == nil {
		c.s = c.schema(f)
		if c.anon != nil {
			for _, col := range c.anon.Columns {
				found := false
				for _, n := range c.s.Names {
					found = found || n == col
				}
				if !found {
					return fmt.Errorf("columns_to_anonymize: no column %q in the output", col)
				}
			}
		}
		if c.opts.Workers > 0 {
			proto := &CSV{anon: c.anon}
			proto.setSchema(c.s)
			c.async = newAsyncRows(c.opts.Workers, proto, c.writeRow)
		}
	}
	if c.async != nil {
		return c.async.add(f)
	}
	if err := c.rollover(); err != nil {
		return err
	}
	if err := c.cur.Write(f, c.s); err != nil {
		return fmt.Errorf("write %s: %w", c.curPath, err)
	}
	c.inChunk++
	c.written++
	return nil
}

// rollover opens the first file, or the next chunk when the current one is
// full.
func (c *CSVFiles) rollover() error {
	if c.cur == nil || (c.opts.FlowsPerFile > 0 && c.inChunk >= c.opts.FlowsPerFile) {
		return c.next()
	}
	return nil
}

// writeRow writes one formatted row (asynchronous path, writer goroutine).
func (c *CSVFiles) writeRow(row []byte) error {
	if err := c.rollover(); err != nil {
		return err
	}
	if c.cur.anonAt == nil {
		if err := c.cur.WriteHeader(c.s); err != nil {
			return fmt.Errorf("write %s: %w", c.curPath, err)
		}
	}
	if err := c.cur.writeRow(row); err != nil {
		return fmt.Errorf("write %s: %w", c.curPath, err)
	}
	c.inChunk++
	c.written++
	return nil
}

func (c *CSVFiles) next() error {
	if err := c.closeCurrent(); err != nil {
		return err
	}
	path := c.opts.Path
	if c.opts.FlowsPerFile > 0 {
		i := c.chunk
		if c.opts.RotateFiles > 0 {
			i %= c.opts.RotateFiles
		}
		path = ChunkPath(path, i)
		c.chunk++
	}
	var w io.Writer
	if path == "-" {
		w = c.stdout
	} else {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		c.file = f
		w = f
	}
	c.curPath = path
	c.paths = append(c.paths, path)
	c.cur = NewCSV(w, c.anon)
	c.inChunk = 0
	return nil
}

func (c *CSVFiles) closeCurrent() error {
	if c.cur == nil {
		return nil
	}
	err := c.cur.Flush()
	if c.file != nil {
		if cerr := c.file.Close(); err == nil {
			err = cerr
		}
		c.file = nil
	}
	c.cur = nil
	if err != nil {
		return fmt.Errorf("write %s: %w", c.curPath, err)
	}
	return nil
}

// Flush pushes buffered rows to the current file (synchronous mode only).
func (c *CSVFiles) Flush() error {
	if c.cur == nil || c.async != nil {
		return nil
	}
	if err := c.cur.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", c.curPath, err)
	}
	return nil
}

// Close flushes and closes the current file.
func (c *CSVFiles) Close() error {
	if c.finished {
		return nil
	}
	c.finished = true
	var err error
	if c.async != nil {
		err = c.async.close()
	}
	if cerr := c.closeCurrent(); err == nil {
		err = cerr
	}
	return err
}
