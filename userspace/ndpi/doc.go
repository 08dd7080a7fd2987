// Package ndpi classifies flows with the system's nDPI library (Debian 12:
// libndpi 4.2) the way NFStream 6.5.4 feeds nDPI: which packets, when
// dissection stops, give-up with guessing, and which fields are copied at
// expiry (spec §6). It is the only package with cgo calls into nDPI, all
// through one small C shim (shim.h), so a later nDPI only changes the shim.
//
// The labels can be made compatible with the nDPI 4.7-dev that NFStream
// pins ([Options.RawLabels] false, the default): confidence values are
// renumbered, protocols renamed in 4.7 get their new names, and an
// application protocol that nDPI 4.2 derived only from an IP-address match
// is dropped, as 4.7 no longer folds it into the application.
//
// A [Module] is not safe for concurrent use: nDPI keeps per-packet state
// and caches in it. Use one per goroutine. Without cgo, [New] returns
// [ErrUnavailable].
package ndpi
