//go:build !cgo || !linux

package ndpi

import "github.com/nfmeter/nfmeter/userspace/flows"

// Module is unavailable without cgo.
type Module struct{}

// Flow is unavailable without cgo.
type Flow struct{}

// New reports that nDPI is not built in.
func New(Options) (*Module, error) { return nil, ErrUnavailable }

// Revision returns "" without nDPI.
func Revision() string { return "" }

// Available reports whether nDPI is built in.
func Available() bool { return false }

// Close does nothing.
func (md *Module) Close() error { return nil }

// NewFlow returns an empty flow.
func (md *Module) NewFlow() *Flow { return &Flow{} }

// Packet does nothing.
func (fl *Flow) Packet([]byte, uint64) {}

// Done reports true.
func (fl *Flow) Done() bool { return true }

// Finish returns Unknown.
func (fl *Flow) Finish() flows.AppInfo {
	return flows.AppInfo{Name: "Unknown", CategoryName: "Unspecified"}
}

// Free does nothing.
func (fl *Flow) Free() {}
