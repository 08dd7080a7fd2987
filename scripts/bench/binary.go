package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// binaryMode is a command line of the nfmeter binary.
type binaryMode struct {
	name string
	args []string
}

// binaryModes are the metering modes without nDPI (the targets
// are for metering without it): --n-dissections 0 overrides the default 20.
func binaryModes() []binaryMode {
	noDPI := func(meters string, extra ...string) []string {
		return append([]string{"--n-dissections", "0", "--n-meters", meters}, extra...)
	}
	stats := []string{"--statistical-analysis", "--splt-analysis", "10"}
	return []binaryMode{
		{"nfmeter --n-meters 1", noDPI("1")},
		{"nfmeter --n-meters 2", noDPI("2")},
		{"nfmeter --n-meters 1, statistics + SPLT 10", noDPI("1", stats...)},
		{"nfmeter --n-meters 2, statistics + SPLT 10", noDPI("2", stats...)},
	}
}

// build compiles cmd/nfmeter into the temporary directory.
func (b *bench) build(ctx context.Context) error {
	b.bin = filepath.Join(b.dir, "nfmeter")
	b.logf("building %s", b.bin)
	cmd := exec.CommandContext(ctx, b.opts.goCmd, "build", "-o", b.bin, "./cmd/nfmeter")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build nfmeter: %w\n%s", err, out)
	}
	return nil
}

// runBinary meters capture c with the nfmeter binary, writing the CSV into
// the temporary directory (deleted afterwards), and returns the wall
// clock, the child's CPU time and its peak RSS (see runChild).
func (b *bench) runBinary(ctx context.Context, c *capture, extra []string) (sample, error) {
	out := filepath.Join(b.dir, "flows.csv")
	defer os.Remove(out)
	args := append([]string{"--pcap", c.path, "-o", out, "--progress", "never", "--quiet"}, extra...)
	var stderr bytes.Buffer
	s, err := runChild(ctx, nil, &stderr, b.bin, args...)
	if err != nil {
		return sample{}, fmt.Errorf("nfmeter %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return s, nil
}
