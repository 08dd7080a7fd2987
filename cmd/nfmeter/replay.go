package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nfmeter/nfmeter/pcapreplay"
)

const replayUsage = `Usage: nfmeter replay --pcap FILE [--pcap FILE ...] --interface IF [--pps N | --topspeed]

Sends the Ethernet frames of captures out of an interface (AF_PACKET, needs
CAP_NET_RAW), at the captures' own pace unless --pps or --topspeed is given.

Options:
`

// runReplay is the replay subcommand; it returns the exit status.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var (
		pcaps    []string
		iface    string
		pps      float64
		topSpeed bool
	)
	fs := flag.NewFlagSet("nfmeter replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(listFlag{&pcaps}, "pcap", "capture `file` to send; repeat for several")
	fs.StringVar(&iface, "interface", "", "interface to send the frames on")
	fs.Float64Var(&pps, "pps", 0, "send at this many packets per second")
	fs.BoolVar(&topSpeed, "topspeed", false, "send as fast as possible")
	usage := func() {
		fmt.Fprint(stderr, replayUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return exitOK
		}
		fmt.Fprintf(stderr, "nfmeter replay: %s (see nfmeter replay --help)\n", strings.ReplaceAll(err.Error(), "flag -", "flag --"))
		return exitUsage
	}
	switch {
	case len(pcaps) == 0:
		fmt.Fprintln(stderr, "nfmeter replay: no input: give a capture with --pcap FILE")
		return exitUsage
	case iface == "":
		fmt.Fprintln(stderr, "nfmeter replay: no output: give an interface with --interface IF")
		return exitUsage
	case pps < 0:
		fmt.Fprintf(stderr, "nfmeter replay: invalid --pps %v: accepted values are numbers >= 0\n", pps)
		return exitUsage
	case pps > 0 && topSpeed:
		fmt.Fprintln(stderr, "nfmeter replay: --pps and --topspeed exclude each other")
		return exitUsage
	}
	r, err := pcapreplay.Open(pcaps...)
	if err != nil {
		fmt.Fprintf(stderr, "nfmeter replay: --pcap: %v\n", err)
		return exitFailure
	}
	defer r.Close()
	inj, err := pcapreplay.OpenInjector(iface)
	if err != nil {
		fmt.Fprintf(stderr, "nfmeter replay: --interface: %v\n", err)
		return exitFailure
	}
	defer inj.Close()
	start := time.Now()
	st, err := pcapreplay.Replay(ctx, r, inj, pcapreplay.ReplayOptions{PPS: pps, TopSpeed: topSpeed})
	secs := time.Since(start).Seconds()
	fmt.Fprintf(stderr, "nfmeter replay: sent %d packets (%d bytes, %d skipped) on %s in %.2f s, %.0f packets/s\n",
		st.Packets, st.Bytes, st.Skipped, iface, secs, float64(st.Packets)/max(secs, 1e-9))
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "nfmeter replay: %v\n", err)
		return exitFailure
	}
}
