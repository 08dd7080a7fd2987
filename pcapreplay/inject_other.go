//go:build !linux

package pcapreplay

import "errors"

// Injector is only available on Linux.
type Injector struct{}

// OpenInjector reports that injection needs Linux.
func OpenInjector(string) (*Injector, error) {
	return nil, errors.New("frame injection needs Linux (AF_PACKET)")
}

// Write is unavailable.
func (*Injector) Write([]byte) error { return errors.New("frame injection needs Linux") }

// Close does nothing.
func (*Injector) Close() error { return nil }
