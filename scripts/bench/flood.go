package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nfmeter/nfmeter/internal/capgen"
)

// floodResult is the hash-flooding measurement: the meter in process on
// a capture of one-packet flows whose keys all share one Key.Hash (chosen
// by an attacker who read it) and on a capture of as many random flows.
type floodResult struct {
	flows           int
	crafted, random measurement
}

// flood generates both captures and times the meter on each, alternately,
// so that both see the same machine state.
func (b *bench) flood(ctx context.Context) error {
	n := b.opts.floodFlows
	res := &floodResult{flows: n,
		crafted: measurement{mode: "crafted", packets: int64(n)},
		random:  measurement{mode: "random", packets: int64(n)}}
	paths := map[bool]string{}
	for _, crafted := range []bool{true, false} {
		path := filepath.Join(b.dir, fmt.Sprintf("flood-crafted-%v.pcap", crafted))
		if err := writeFlood(path, n, crafted, b.opts.seed); err != nil {
			return err
		}
		paths[crafted] = path
		if !b.opts.keep {
			defer os.Remove(path)
		}
	}
	for i := range b.opts.runs {
		for _, crafted := range []bool{true, false} {
			s, err := timeInProcess(ctx, paths[crafted], meterInProcess, "")
			if err != nil {
				return fmt.Errorf("flood capture (crafted %v): %w", crafted, err)
			}
			m := &res.random
			if crafted {
				m = &res.crafted
			}
			m.samples = append(m.samples, s)
			b.logf("flood, %s flows: run %d: %.3f s", m.mode, i+1, s.wall.Seconds())
		}
	}
	b.rep.flood = res
	return nil
}

func writeFlood(path string, n int, crafted bool, seed int64) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("generate flood capture: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("generate flood capture: %w", cerr)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := capgen.WriteFlood(w, n, crafted, seed); err != nil {
		return fmt.Errorf("generate flood capture: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("generate flood capture: %w", err)
	}
	return nil
}

// floodSection renders the hash-flooding measurement.
func (r *report) floodSection(b *strings.Builder) {
	f := r.flood
	fmt.Fprintf(b, "Hash flooding: %s one-packet IPv6 UDP flows whose keys all share one `Key.Hash` value (`capgen.WriteFlood`, what an attacker who read the hash sends) against as many random flows, metered in process (`--n-meters 1`, nothing expires before the end); best and median wall clock of %d runs, alternated.\n\n",
		thousands(int64(f.flows)), len(f.crafted.samples))
	b.WriteString("| Flows | Best | Median |\n|---|--:|--:|\n")
	for _, m := range []*measurement{&f.crafted, &f.random} {
		fmt.Fprintf(b, "| %s | %.3f s | %.3f s |\n", m.mode, m.best(wall).Seconds(), m.median(wall).Seconds())
	}
	ratio := f.crafted.best(wall).Seconds() / f.random.best(wall).Seconds()
	met := "yes"
	if ratio > 2 {
		met = "**no**"
	}
	fmt.Fprintf(b, "\n| Issue target | Measured | Met |\n|---|---|---|\n| the crafted capture costs at most 2× the random one | %.2f× (best wall clock) | %s |\n\n", ratio, met)
}
