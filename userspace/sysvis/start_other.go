//go:build !linux

package sysvis

import (
	"context"
	"fmt"
)

// Probe reports whether backend kind can run: on this platform, none can.
func Probe(kind string) error {
	return fmt.Errorf("backend %s: system visibility needs Linux: %w", kind, ErrUnsupported)
}

// Start starts a backend: on this platform, none can run.
func Start(ctx context.Context, o Options, sink Sink) (Backend, error) {
	return nil, fmt.Errorf("system visibility needs Linux: %w", ErrUnsupported)
}
