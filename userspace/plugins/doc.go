// Package plugins holds nfmeter's built-in [flows.Plugin] implementations,
// the Go equivalents of NFStream's nfstream.plugins: [FlowSlicer] cuts flows
// every N packets and [SPLT] records the early packet sequence as plugin
// columns. They double as examples of the plugin API.
package plugins
