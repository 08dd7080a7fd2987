package main

import (
	"context"
	"runtime"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// memResult is the heap used by the flow table per flow.
type memResult struct {
	capture   string
	stats     bool   // statistical analysis and SPLT (10) on
	flows     uint64 // flows in the table at the end (all of them)
	inuse     int64  // HeapInuse growth, bytes
	alloc     int64  // HeapAlloc growth (live objects), bytes
	heapTotal uint64 // HeapInuse at the measurement
}

func (m *memResult) perFlow(v int64) float64 {
	if m.flows == 0 {
		return 0
	}
	return float64(v) / float64(m.flows)
}

// flowMemory meters path with timeouts too long for anything to expire,
// so every flow stays in the table until the final flush, and measures
// the heap when the first flow is yielded (at that flush) against a
// baseline taken after opening the capture.
func flowMemory(ctx context.Context, path string, stats bool) (*memResult, error) {
	r, err := pcapreplay.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	opts := meterOptions(1)
	opts.IdleTimeout, opts.ActiveTimeout = 1<<30, 1<<30
	if stats {
		opts.StatisticalAnalysis, opts.SPLTAnalysis = true, 10
	}
	st, err := flows.NewStreamer(r, opts)
	if err != nil {
		return nil, err
	}
	var before, at runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := &memResult{stats: stats}
	for _, err := range st.Flows(ctx) {
		if err != nil {
			return nil, err
		}
		if res.flows == 0 {
			runtime.GC()
			runtime.ReadMemStats(&at)
		}
		res.flows++
	}
	res.inuse = int64(at.HeapInuse) - int64(before.HeapInuse)
	res.alloc = int64(at.HeapAlloc) - int64(before.HeapAlloc)
	res.heapTotal = at.HeapInuse
	return res, nil
}
