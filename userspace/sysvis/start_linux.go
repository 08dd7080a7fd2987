package sysvis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// New returns the backend kind, not started.
func New(kind string, o Options) (Backend, error) {
	switch kind {
	case BackendKprobe, BackendFentry, BackendTracepoint:
		return &kernelBackend{kind: kind, o: o}, nil
	case BackendPoll:
		return &pollBackend{o: o}, nil
	}
	return nil, fmt.Errorf("unknown backend %q: accepted values are auto, %s, %s, %s, %s", kind, Backends[0], Backends[1], Backends[2], Backends[3])
}

// Start starts the backend o.Backend, or with "auto" the first of
// [Backends] that [Probe] accepts and that starts, logging why the others
// were skipped and which one runs.
func Start(ctx context.Context, o Options, sink Sink) (Backend, error) {
	log := o.logger()
	kinds := Backends
	if o.Backend != "" && o.Backend != "auto" {
		kinds = []string{o.Backend}
	}
	var errs []error
	for _, kind := range kinds {
		b, err := New(kind, o)
		if err != nil {
			return nil, err
		}
		if err := Probe(kind); err != nil {
			log.Info("sysvis: backend unavailable", "backend", kind, "reason", err)
			errs = append(errs, fmt.Errorf("backend %s: %w", kind, err))
			continue
		}
		if err := b.Start(ctx, sink); err != nil {
			log.Info("sysvis: backend failed to start", "backend", kind, "err", err)
			errs = append(errs, err)
			continue
		}
		log.Info("sysvis: backend started", "backend", kind)
		return b, nil
	}
	return nil, errors.Join(errs...)
}

// Probe reports whether the system offers what backend kind needs: nil, or
// why not (wrapping [ebpf.ErrNotSupported] or [ErrUnsupported] when a
// feature is missing; other errors are inconclusive probes). A backend
// that passes its probe may still fail to start (the fentry programs are
// refused by some kernels only at load).
func Probe(kind string) error {
	switch kind {
	case BackendKprobe:
		if runtime.GOARCH != "amd64" {
			return fmt.Errorf("the kprobe programs read x86-64 registers, this is %s: %w", runtime.GOARCH, ErrUnsupported)
		}
		if err := features.HaveProgramType(ebpf.Kprobe); err != nil {
			return fmt.Errorf("kprobe programs: %w", err)
		}
		return HaveKprobes()
	case BackendFentry:
		if err := features.HaveProgramType(ebpf.Tracing); err != nil {
			return fmt.Errorf("tracing programs: %w", err)
		}
		return nil
	case BackendTracepoint:
		// tp_btf programs are Tracing programs, but features probes that
		// type with an fentry program, which kernels may refuse while
		// accepting tp_btf: attaching tells.
		for _, p := range []ebpf.ProgramType{ebpf.CGroupSock, ebpf.CGroupSockAddr} {
			if err := features.HaveProgramType(p); err != nil {
				return fmt.Errorf("%s programs: %w", p, err)
			}
		}
		for _, m := range []ebpf.MapType{ebpf.SkStorage, ebpf.RingBuf} {
			if err := features.HaveMapType(m); err != nil {
				return fmt.Errorf("%s maps: %w", m, err)
			}
		}
		return nil
	case BackendPoll:
		d, err := openDiag()
		if err != nil {
			return err
		}
		d.close()
		if _, err := os.ReadDir("/proc/self/fd"); err != nil {
			return fmt.Errorf("read /proc: %w", err)
		}
		return nil
	}
	_, err := New(kind, Options{})
	return err
}

// HaveKprobes reports whether the kernel can attach kprobes: a kprobe
// perf event source (/sys/bus/event_source/devices/kprobe), or kprobe_events
// in tracefs (mounted on /sys/kernel/tracing first when that is empty).
// It needs no BPF, so tests can tell a kernel without kprobes from a
// broken kprobe backend.
func HaveKprobes() error {
	if _, err := os.Stat("/sys/bus/event_source/devices/kprobe/type"); err == nil {
		return nil
	}
	mountTracefs()
	for _, p := range []string{"/sys/kernel/tracing/kprobe_events", "/sys/kernel/debug/tracing/kprobe_events"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("kernel without kprobes (no kprobe event source, no kprobe_events in tracefs): %w", ErrUnsupported)
}

// mountTracefs mounts tracefs on /sys/kernel/tracing when that directory
// exists and is empty (nothing mounted), so that kprobe_events can be
// found. Errors are ignored: the caller finds kprobe_events or not.
func mountTracefs() {
	const dir = "/sys/kernel/tracing"
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) > 0 {
		return
	}
	_ = unix.Mount("nodev", dir, "tracefs", 0, "")
}
