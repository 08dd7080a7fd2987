// Package plugins holds nfmeter's built-in [flows.Plugin] implementations,
// the Go equivalents of NFStream's nfstream.plugins: [FlowSlicer] cuts flows
// every N packets, [SPLT] records the early packet sequence as plugin
// columns, [DHCP] and [MDNS] extract DHCP options and mDNS PTR names, and
// JA4 fingerprints TLS hellos. They double as examples of the plugin API.
package plugins
