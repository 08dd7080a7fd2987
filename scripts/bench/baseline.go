package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// buildBaseline compiles cmd/nfmeter as it was at git revision rev into
// the temporary directory: the source is exported with git archive (no
// worktree is registered) and built with the same go command.
func (b *bench) buildBaseline(ctx context.Context, rev string) error {
	src := filepath.Join(b.dir, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return fmt.Errorf("baseline %s: %w", rev, err)
	}
	defer os.RemoveAll(src)
	b.logf("building the baseline at %s", rev)
	archive := exec.CommandContext(ctx, "sh", "-c", `git archive --format=tar "$1" | tar -x -C "$2"`, "sh", rev, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("baseline %s: git archive: %w\n%s", rev, err, out)
	}
	b.baseBin = filepath.Join(b.dir, "nfmeter-baseline")
	build := exec.CommandContext(ctx, b.opts.goCmd, "build", "-o", b.baseBin, "./cmd/nfmeter")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("baseline %s: build nfmeter: %w\n%s", rev, err, out)
	}
	return nil
}
