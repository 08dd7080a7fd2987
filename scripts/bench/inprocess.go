package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// inProcessMode is a loop over a capture run inside this process.
type inProcessMode struct {
	name  string
	meter bool // the flow meter itself (profiled with -cpuprofile)
	run   func(ctx context.Context, r *pcapreplay.Reader) error
}

func inProcessModes() []inProcessMode {
	return []inProcessMode{
		{name: "read only (floor)", run: readOnly},
		{name: "read + decode (floor)", run: readDecode},
		{name: "naive Go map flow table", run: naiveMap},
		{name: "meter in process, no output, 1 meter", meter: true, run: meterInProcess},
	}
}

// timeInProcess opens path and times run over it, profiling the CPU into
// profile if it is not empty.
func timeInProcess(ctx context.Context, path string, run func(context.Context, *pcapreplay.Reader) error, profile string) (sample, error) {
	r, err := pcapreplay.Open(path)
	if err != nil {
		return sample{}, err
	}
	defer r.Close()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return sample{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return sample{}, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	cpu0, start := processCPU(), time.Now()
	err = run(ctx, r)
	return sample{wall: time.Since(start), cpu: processCPU() - cpu0}, err
}

// next reads a packet, reporting io.EOF at the end and any other error.
func next(r *pcapreplay.Reader, p *pcapreplay.Packet) error {
	err := r.Next(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read capture: %w", err)
	}
	return err
}

// readOnly is the floor: every record read, nothing decoded.
func readOnly(_ context.Context, r *pcapreplay.Reader) error {
	var (
		p     pcapreplay.Packet
		bytes uint64
	)
	for {
		if err := next(r, &p); err != nil {
			if errors.Is(err, io.EOF) {
				runtime.KeepAlive(bytes)
				return nil
			}
			return err
		}
		bytes += uint64(p.WireLen)
	}
}

// readDecode adds NFStream's packet decoding to the floor.
func readDecode(_ context.Context, r *pcapreplay.Reader) error {
	var (
		p  pcapreplay.Packet
		d  flows.Decoded
		ok int
	)
	for {
		if err := next(r, &p); err != nil {
			if errors.Is(err, io.EOF) {
				runtime.KeepAlive(ok)
				return nil
			}
			return err
		}
		if flows.Decode(&d, p.Data, p.LinkType, p.WireLen, true) {
			ok++
		}
	}
}

// naiveKey is a bidirectional 5-tuple (plus VLAN), endpoints sorted.
type naiveKey struct {
	lo, hi         [16]byte
	loPort, hiPort uint16
	vlan           uint16
	proto, ipv     uint8
}

// naiveFlow is the counters a minimal flow table keeps.
type naiveFlow struct {
	packets, bytes          uint64
	firstSeenMs, lastSeenMs uint64
}

// naiveMap is the reference: read, decode and count in a plain Go map,
// without timeouts, statistics or output.
func naiveMap(_ context.Context, r *pcapreplay.Reader) error {
	var (
		p pcapreplay.Packet
		d flows.Decoded
		m = make(map[naiveKey]*naiveFlow)
	)
	for {
		if err := next(r, &p); err != nil {
			if errors.Is(err, io.EOF) {
				runtime.KeepAlive(m)
				return nil
			}
			return err
		}
		if !flows.Decode(&d, p.Data, p.LinkType, p.WireLen, true) {
			continue
		}
		k := naiveKey{lo: d.Src, hi: d.Dst, loPort: d.SrcPort, hiPort: d.DstPort, vlan: d.VLANID, proto: d.Protocol, ipv: d.IPVersion}
		if c := bytes.Compare(k.lo[:], k.hi[:]); c > 0 || (c == 0 && k.loPort > k.hiPort) {
			k.lo, k.hi, k.loPort, k.hiPort = k.hi, k.lo, k.hiPort, k.loPort
		}
		t := p.TimeMs()
		f := m[k]
		if f == nil {
			f = &naiveFlow{firstSeenMs: t}
			m[k] = f
		}
		f.packets++
		f.bytes += uint64(p.WireLen)
		f.lastSeenMs = t
	}
}

// meterOptions returns NFStream's defaults without nDPI.
func meterOptions(meters int) flows.Options {
	o := flows.DefaultOptions()
	o.NDissections = 0
	o.NMeters = meters
	return o
}

// meterInProcess runs the real flow meter and drops the flows: the
// binary's work minus CSV formatting and writing.
func meterInProcess(ctx context.Context, r *pcapreplay.Reader) error {
	st, err := flows.NewStreamer(r, meterOptions(1))
	if err != nil {
		return err
	}
	n := 0
	for _, err := range st.Flows(ctx) {
		if err != nil {
			return err
		}
		n++
	}
	runtime.KeepAlive(n)
	return nil
}
