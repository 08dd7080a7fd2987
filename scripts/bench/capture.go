package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/nfmeter/nfmeter/internal/capgen"
)

// capture is one generated capture.
type capture struct {
	name        string
	concurrent  int
	meanPackets float64 // 0: capgen's default mix
	path        string
	summary     capgen.Summary
	fileSize    int64
	genTime     time.Duration
}

// generate writes the capture to c.path.
func (c *capture) generate(packets int, seed int64) (err error) {
	start := time.Now()
	f, err := os.Create(c.path)
	if err != nil {
		return fmt.Errorf("generate capture %s: %w", c.name, err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("generate capture %s: %w", c.name, cerr)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	c.summary, err = capgen.Generate(w, capgen.Config{
		Packets:     packets,
		Concurrent:  c.concurrent,
		Seed:        seed,
		MeanPackets: c.meanPackets,
	})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return fmt.Errorf("generate capture %s: %w", c.name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("generate capture %s: %w", c.name, err)
	}
	c.fileSize = fi.Size()
	c.genTime = time.Since(start)
	return nil
}
