package ndpi

import (
	"errors"
	"strings"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// ErrUnavailable is returned by [New] when nfmeter was built without cgo
// or nDPI.
var ErrUnavailable = errors.New("ndpi: nDPI is not available in this build (needs cgo and libndpi)")

// Options configures a [Module].
type Options struct {
	// NDissections is the number of packets per flow given to nDPI at most
	// (NFStream's n_dissections, 1 to 255).
	NDissections int
	// RawLabels reports nDPI 4.2's own labels and confidence numbering
	// instead of NFStream-compatible ones.
	RawLabels bool
}

// NewDissector returns a factory for [flows.Options.NewDissector]: each
// call creates a detection module of its own.
func NewDissector(opts Options) func() (flows.Dissector, error) {
	return func() (flows.Dissector, error) {
		m, err := New(opts)
		if err != nil {
			return nil, err
		}
		return dissector{m}, nil
	}
}

type dissector struct{ m *Module }

func (d dissector) NewFlow() flows.DissectorFlow { return d.m.NewFlow() }
func (d dissector) Close() error                 { return d.m.Close() }

// renames maps nDPI 4.2 protocol names to the names nDPI 4.7 (NFStream's)
// uses for the same protocol id. Z39.50 → Z3950 is handled apart: its old
// name contains the separator dot.
var renames = map[string]string{
	"SkypeCall": "Skype_TeamsCall",
	"DCE_RPC":   "RPC",
	"IPsec":     "IPSec",
}

// compatName applies the renames to each dotted component of a name.
func compatName(name string) string {
	name = strings.ReplaceAll(name, "Z39.50", "Z3950")
	master, app, dotted := strings.Cut(name, ".")
	if r, ok := renames[master]; ok {
		master = r
	}
	if !dotted {
		return master
	}
	if r, ok := renames[app]; ok {
		app = r
	}
	return master + "." + app
}

// compatConfidence renumbers nDPI 4.2's confidence into 4.7-dev's:
// unknown 0, match by port 1, DPI cache 3→5, DPI 4→6. 4.7-dev has no
// match-by-IP value; such flows are reported as unknown.
func compatConfidence(c int) int {
	switch c {
	case 0, 1:
		return c
	case 2:
		return 0
	case 3:
		return 5
	case 4:
		return 6
	}
	return c
}

// validUTF8 drops invalid bytes, as NFStream's decoding does.
func validUTF8(s string) string {
	return strings.ToValidUTF8(s, "")
}
