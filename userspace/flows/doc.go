// Package flows turns captured frames into bidirectional flow records with
// NFStream 6.5.4's fields and semantics, bit for bit: [Decode] parses a
// frame as NFStream's engine does, a [Streamer] meters a [Source] of
// frames ([Frame]) with NFStream's clock, cache, expiration and emission
// order, and yields each [Flow] (counters, post-mortem statistics, SPLT,
// application fields, plugin values). [Plugin]s extend flows with user
// columns.
//
// The package depends on no capture library: sources (capture files,
// sockets) fill a Frame, and the BPF filter and the application
// classifier are injected ([Options.NewFilter], [Options.NewDissector]).
// Every producer of flows numbers them and applies max_nflows through a
// [Numbering]; [Merge] makes one sequence of several producers, as the
// meters of a live capture.
//
// A Streamer's output is the same for every [Options.NMeters]: parallel
// decoding and classification never change the order in which the single
// metering loop sees packets. See docs/ARCHITECTURE.md.
package flows
