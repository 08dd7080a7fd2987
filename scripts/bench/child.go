package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Peak RSS of a child process: on Linux a child's ru_maxrss starts at the
// high-water mark of the memory it was exec'd from, and Go starts children
// from the parent's own address space (vfork), so a command run straight
// from this process, which grows to gigabytes in the in-process
// measurements, reports at least this process's peak. Commands therefore
// run through a launcher: this same executable started with launcherEnv
// set, whose footprint (a few MiB) is the only floor left. The launcher
// runs the command with its standard streams, waits for it and writes
// "wall-ns cpu-ns maxrss-KiB" on file descriptor 3, then exits with the
// command's status.

const launcherEnv = "NFMETER_BENCH_LAUNCHER"

// maybeLaunch runs the launcher and exits if this process is one.
func maybeLaunch() {
	if os.Getenv(launcherEnv) != "1" {
		return
	}
	os.Exit(launch(os.Args[1:]))
}

func launch(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench launcher: no command")
		return 127
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = killWithParent()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	ps := cmd.ProcessState
	if ps == nil {
		fmt.Fprintf(os.Stderr, "bench launcher: %v\n", err)
		return 127
	}
	res := os.NewFile(3, "result")
	fmt.Fprintf(res, "%d %d %d\n", wall.Nanoseconds(), (ps.UserTime() + ps.SystemTime()).Nanoseconds(), maxRSSKiB(ps))
	res.Close()
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return 128 // killed by a signal
}

// runChild runs name with args through the launcher and returns its wall
// clock, CPU time and peak RSS. The command's output goes to stdout and
// stderr (nil: discarded).
func runChild(ctx context.Context, stdout, stderr io.Writer, name string, args ...string) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, fmt.Errorf("launcher: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return sample{}, fmt.Errorf("launcher: %w", err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, self, append([]string{name}, args...)...)
	cmd.Env = append(os.Environ(), launcherEnv+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		return sample{}, fmt.Errorf("launcher: %w", err)
	}
	res, rerr := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		return sample{}, err
	}
	var wallNs, cpuNs, rss int64
	if rerr != nil {
		return sample{}, fmt.Errorf("launcher: %w", rerr)
	}
	if _, err := fmt.Sscan(string(bytes.TrimSpace(res)), &wallNs, &cpuNs, &rss); err != nil {
		return sample{}, fmt.Errorf("launcher result %q: %w", strings.TrimSpace(string(res)), err)
	}
	return sample{wall: time.Duration(wallNs), cpu: time.Duration(cpuNs), rssKiB: rss}, nil
}
