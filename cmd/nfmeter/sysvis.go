package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/sysvis"
)

// startSysvis starts the system-visibility backend of
// --system-visibility-backend for a live capture. annotate attributes a
// flow to its process; stop ends the backend and logs its counters. The
// backend runs until stop, not until ctx ends: the flows flushed after an
// interrupt are attributed too.
func startSysvis(ctx context.Context, cfg *config, opts flows.Options, logf func(string, ...any)) (annotate func(*flows.Flow), stop func(), err error) {
	tb := sysvis.NewTable(sysvis.TableOptions{
		// NFStream keeps a connection idle_timeout + 5 s after it was last seen.
		Keep: time.Duration(opts.IdleTimeout)*time.Second + 5*time.Second,
	})
	poll := time.Duration(opts.SystemVisibilityPollMs) * time.Millisecond
	if poll == 0 {
		poll = sysvis.PollBusy
	}
	b, err := sysvis.Start(context.WithoutCancel(ctx), sysvis.Options{
		Backend: cfg.sysvisBackend, PollInterval: poll, Logger: slog.New(logfHandler{logf}),
	}, tb)
	if err != nil {
		return nil, nil, fmt.Errorf("--system-visibility-mode 1: %w", err)
	}
	how := map[string]string{
		sysvis.BackendKprobe:     "kprobes on the socket functions",
		sysvis.BackendFentry:     "fentry programs on the socket functions",
		sysvis.BackendTracepoint: "BPF tracepoints and cgroup socket hooks",
		sysvis.BackendPoll:       fmt.Sprintf("socket table polled every %d ms", opts.SystemVisibilityPollMs),
	}[b.Name()]
	logf("system visibility: %s backend (%s)", b.Name(), how)
	var flowsN, attributed uint64 // used by the metering loop only
	annotate = func(f *flows.Flow) {
		flowsN++
		if tb.Annotate(f) {
			attributed++
		}
	}
	stop = func() {
		st := b.Stats()
		b.Close()
		logf("system visibility: %d of %d flows attributed to a process; %d socket events, %d lost", attributed, flowsN, st.Events, st.Lost)
	}
	return annotate, stop, nil
}

// logfHandler prints log records through the command's logf, as
// "message key=value ...".
type logfHandler struct{ logf func(string, ...any) }

func (h logfHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h logfHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.logf("%s", b.String())
	return nil
}

func (h logfHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h logfHandler) WithGroup(string) slog.Handler      { return h }
