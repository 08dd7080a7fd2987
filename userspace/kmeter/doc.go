// Package kmeter runs nfmeter's kernel path: it loads the XDP/TC programs of
// bpf/meter.c, attaches them to an interface with links (nothing stays
// attached when the process dies), expires the kernel's flows by wall-clock
// idle timeout, joins the first packets each flow copies to the ring buffer
// (nDPI, SPLT) with the flow's kernel counters, meters the frames the
// kernel punts with the ordinary userspace engine, and yields finished
// flows as [flows.Flow] values, like [flows.Streamer].
//
// It needs Linux with BPF ring buffers and CAP_BPF/CAP_NET_ADMIN; [Probe]
// reports what the running kernel supports, and [Supports] whether the
// kernel path can run given flow options (plugins and BPF filters need
// every packet), so that callers can fall back to AF_PACKET
// (userspace/afpacket). [Options], their defaults and [Options.Validate]
// build on every platform.
package kmeter
