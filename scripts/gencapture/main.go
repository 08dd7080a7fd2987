// Command gencapture writes a synthetic pcap capture with
// internal/capgen: a large realistic mix for benchmarks, with -demo the
// small sample shipped as testdata/demo.pcap, or with -conformance-mix the
// Ethernet captures of a corpus directory repeated (addresses rewritten so
// that every copy holds new flows) until at least -packets frames.
//
//	go run ./scripts/gencapture -o FILE -packets N -concurrent C [-seed S] [-pps R] [-mean-packets M] [-snaplen L]
//	go run ./scripts/gencapture -demo -o testdata/demo.pcap
//	go run ./scripts/gencapture -conformance-mix ../shared/conformance/nfstream/pcaps -packets N -o FILE
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nfmeter/nfmeter/internal/capgen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "gencapture: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gencapture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		out  = fs.String("o", "", "output `file` (\"-\" for stdout)")
		demo = fs.Bool("demo", false, "write the small demo capture (other flags but -o are ignored)")
		mix  = fs.String("conformance-mix", "", "write the Ethernet captures of `dir` concatenated and repeated, with new addresses per copy, until at least -packets frames (other flags but -o and -packets are ignored)")
		cfg  capgen.Config
	)
	fs.IntVar(&cfg.Packets, "packets", 1_000_000, "number of packets")
	fs.IntVar(&cfg.Concurrent, "concurrent", capgen.DefaultConcurrent, "flows open at the same time")
	fs.Int64Var(&cfg.Seed, "seed", 1, "random seed (same seed, same bytes)")
	fs.Float64Var(&cfg.PPS, "pps", capgen.DefaultPPS, "packet rate of the timestamps")
	fs.Float64Var(&cfg.MeanPackets, "mean-packets", capgen.DefaultMeanPackets, "approximate mean flow size in packets")
	fs.IntVar(&cfg.SnapLen, "snaplen", 0, "truncate frames to this many bytes (0: full frames)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: gencapture -o FILE [-packets N] [-concurrent C] [-seed S] [-demo] [-conformance-mix DIR]")
	}
	return write(*out, func(w io.Writer) (string, error) {
		if *demo {
			return "demo capture", capgen.WriteDemo(w)
		}
		if *mix != "" {
			c, sum, err := capgen.WriteConformanceMix(w, *mix, cfg.Packets)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%d packets, %d copies of %d packets from %d captures (%d skipped), %.1f MB of frames, spanning %v",
				sum.Packets, sum.Copies, c.Packets(), len(c.Files), len(c.Skipped), float64(sum.Bytes)/1e6, sum.Span.Round(time.Second)), nil
		}
		sum, err := capgen.Generate(w, cfg)
		return fmt.Sprintf("%d packets, %d flows, %.1f MB of frames", sum.Packets, sum.Flows, float64(sum.Bytes)/1e6), err
	}, stderr)
}

// write runs gen on the output file (or stdout) through a buffer and
// reports what was written on stderr.
func write(path string, gen func(io.Writer) (string, error), stderr io.Writer) (err error) {
	var f *os.File
	if path == "-" {
		f = os.Stdout
	} else {
		if f, err = os.Create(path); err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		defer func() {
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("close output: %w", cerr)
			}
		}()
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	what, err := gen(bw)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if path != "-" {
		fmt.Fprintf(stderr, "gencapture: wrote %s: %s\n", path, what)
	}
	return nil
}
