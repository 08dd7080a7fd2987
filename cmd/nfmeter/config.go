package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/nfmeter/nfmeter/userspace/afpacket"
	"github.com/nfmeter/nfmeter/userspace/bpffilter"
	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/kmeter"
	"github.com/nfmeter/nfmeter/userspace/ndpi"
)

// config is every command-line setting. Flags are NFStream's parameter
// names in kebab-case.
type config struct {
	pcaps              []string
	output             string
	outputDefault      bool // output was not given but derived from the input
	decodeTunnels      bool
	bpfFilter          string
	snapshotLength     int64
	idleTimeout        int64
	activeTimeout      int64
	accountingMode     int64
	nDissections       int64
	statistical        bool
	splt               int64
	nMeters            int64
	maxNFlows          int64
	columnsToAnonymize string
	flowsPerFile       int64
	rotateFiles        int64
	version            bool
	progress           string
	quiet              bool
	cpuProfile         string
	ndpiRawLabels      bool
	ndpiShards         int64
	format             string            // csv or parquet (resolved from --output when not given)
	parquetCompression string            // --parquet-compression
	settings           map[string]string // every flag's value, for the Parquet metadata

	// Live capture (--interface).
	iface             string
	mode              string // auto, xdp, tc, afpacket
	promisc           bool
	socketBufferSize  int64
	performanceReport int64
	readyFile         string
	kernelMaxFlows    int64
	ringBufferSize    int64

	// System visibility (process of each flow).
	sysvisMode    int64
	sysvisPollMs  int64
	sysvisBackend string
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = append(*l.v, s)
	return nil
}

const usageHead = `Usage: nfmeter --pcap FILE [--pcap FILE ...] [-o OUT.csv|OUT.parquet] [options]
       nfmeter --interface IF [--mode auto|xdp|tc|afpacket] [-o OUT] [options]
       nfmeter replay --pcap FILE --interface IF [--pps N | --topspeed]

Turns packet captures, or the live traffic of an interface (until Ctrl-C),
into bidirectional flow records with NFStream's columns and semantics
(NFStream 6.5.4): byte-identical CSV output, or typed Parquet with the same
values.

Options:
`

// newFlagSet declares the flags. The defaults of library parameters, and
// the limits the help gives, are the libraries' own.
func newFlagSet(cfg *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("nfmeter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	kd := kmeter.DefaultOptions()
	d := &kd.Flow
	fs.StringVar(&cfg.iface, "interface", "", "meter a live network `interface` until interrupted (instead of --pcap)")
	fs.StringVar(&cfg.mode, "mode", "auto", "live capture path: auto (XDP ingress + TC egress in the kernel, else TC, else AF_PACKET), xdp, tc, afpacket")
	fs.BoolVar(&cfg.promisc, "promiscuous-mode", true, "live capture: receive frames for other hosts too (AF_PACKET; XDP and TC see every frame anyway)")
	fs.Int64Var(&cfg.socketBufferSize, "socket-buffer-size", 0, fmt.Sprintf("live capture: AF_PACKET ring size per meter in `bytes` (0: %d MiB)", afpacket.DefaultBufferSize>>20))
	fs.Int64Var(&cfg.performanceReport, "performance-report", 0, "live capture: print a JSON line of counters to stdout every `S` seconds (0: off)")
	fs.StringVar(&cfg.readyFile, "ready-file", "", "live capture: create this `file` once capture is attached (for scripts and tests)")
	fs.Int64Var(&cfg.kernelMaxFlows, "kernel-max-flows", int64(kd.MaxFlows), "kernel path: flows the kernel table holds at once, about 480 bytes of kernel memory each (flows beyond are metered in userspace and counted)")
	fs.Int64Var(&cfg.ringBufferSize, "ring-buffer-size", int64(kd.RingBytes), "kernel path: ring buffer `bytes` for first packets and punted frames (a power of two)")
	fs.Int64Var(&cfg.sysvisMode, "system-visibility-mode", int64(d.SystemVisibilityMode), "1 adds system_process_pid and system_process_name, the local process of each flow (live capture; 0: off)")
	fs.Int64Var(&cfg.sysvisPollMs, "system-visibility-poll-ms", int64(d.SystemVisibilityPollMs), "poll backend: `milliseconds` between two reads of the socket table (0: without pause)")
	fs.StringVar(&cfg.sysvisBackend, "system-visibility-backend", "auto", "how processes are found: auto (kprobe, else fentry, else tracepoint, else poll), kprobe, fentry, tracepoint (BPF tracepoints and cgroup hooks), poll (sock_diag and /proc, as NFStream)")
	fs.Var(listFlag{&cfg.pcaps}, "pcap", "capture `file` (pcap or pcapng); repeat to read several files as one source")
	fs.StringVar(&cfg.output, "output", "", "output `path` (\"-\" for stdout; default <first pcap>.csv, or .parquet with --format parquet)")
	fs.StringVar(&cfg.output, "o", "", "shorthand for --output")
	fs.BoolVar(&cfg.decodeTunnels, "decode-tunnels", d.DecodeTunnels, "decode GTP-U, CAPWAP and TZSP tunnels")
	fs.StringVar(&cfg.bpfFilter, "bpf-filter", d.BPFFilter, "libpcap filter `expression` applied before metering")
	fs.Int64Var(&cfg.snapshotLength, "snapshot-length", int64(d.SnapshotLength), "live capture snap length in bytes (no effect on files)")
	fs.Int64Var(&cfg.idleTimeout, "idle-timeout", int64(d.IdleTimeout), "idle timeout in `seconds`")
	fs.Int64Var(&cfg.activeTimeout, "active-timeout", int64(d.ActiveTimeout), "active timeout in `seconds`")
	fs.Int64Var(&cfg.accountingMode, "accounting-mode", int64(d.AccountingMode), "size counted: 0 wire length, 1 IP, 2 transport, 3 payload")
	fs.Int64Var(&cfg.nDissections, "n-dissections", int64(d.NDissections), fmt.Sprintf("packets per flow given to nDPI for application labels (0 to %d; 0 disables nDPI)", flows.MaxNDissections))
	fs.Int64Var(&cfg.ndpiShards, "ndpi-shards", int64(d.DissectorShards), "nDPI modules flows are spread over by hash, each on its own goroutine when --n-meters > 1 (labels depend on this number, never on --n-meters; 1 is NFStream's behaviour)")
	fs.BoolVar(&cfg.ndpiRawLabels, "ndpi-raw-labels", false, "report nDPI 4.2's own labels and confidence numbers instead of NFStream-compatible ones")
	fs.BoolVar(&cfg.statistical, "statistical-analysis", d.StatisticalAnalysis, "add the 48 post-mortem statistics")
	fs.Int64Var(&cfg.splt, "splt-analysis", int64(d.SPLTAnalysis), fmt.Sprintf("record direction, size and gap of the first `N` packets (0 to %d)", flows.MaxSPLT))
	fs.Int64Var(&cfg.nMeters, "n-meters", int64(d.NMeters), fmt.Sprintf("parallel workers (0: one per CPU, at most %d); output is identical for every value", flows.MaxAutoMeters))
	fs.Int64Var(&cfg.maxNFlows, "max-nflows", int64(d.MaxNFlows), "stop after this many flows (0: unlimited)")
	fs.StringVar(&cfg.columnsToAnonymize, "columns-to-anonymize", "", "comma-separated `columns` replaced by keyed BLAKE2b-512 (new key per run)")
	fs.Int64Var(&cfg.flowsPerFile, "flows-per-file", 0, "write this many flows per file, naming files by replacing \"csv\" in the path with \"<i>.csv\" (\"parquet\" with \"<i>.parquet\" for Parquet; 0: one file)")
	fs.Int64Var(&cfg.rotateFiles, "rotate-files", 0, "with --flows-per-file, reuse file indexes modulo this number (0: never)")
	fs.StringVar(&cfg.format, "format", "", "output format: csv or parquet (default: parquet when --output ends in .parquet, else csv)")
	fs.StringVar(&cfg.parquetCompression, "parquet-compression", "zstd", "Parquet compression: "+strings.Join(export.ParquetCompressions(), ", "))
	fs.StringVar(&cfg.progress, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always, never")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no summary line")
	fs.BoolVar(&cfg.version, "version", false, "print the version and exit")
	fs.StringVar(&cfg.cpuProfile, "cpu-profile", "", "write a Go CPU profile to `file` (for performance work)")
	return fs
}

// usageError is a command-line mistake (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// paramFlags maps the libraries' parameter names (the Param of a
// [flows.ParamError] or a [kmeter.UnsupportedError]) to this command's
// flags: the one place that knows which flag sets which parameter.
var paramFlags = map[string]string{
	"snapshot_length": "snapshot-length", "idle_timeout": "idle-timeout",
	"active_timeout": "active-timeout", "accounting_mode": "accounting-mode",
	"n_dissections": "n-dissections", "splt_analysis": "splt-analysis", "n_meters": "n-meters",
	"max_nflows": "max-nflows", "bpf_filter": "bpf-filter", "dissector_shards": "ndpi-shards",
	"system_visibility_mode": "system-visibility-mode", "system_visibility_poll_ms": "system-visibility-poll-ms",
	"kernel_max_flows": "kernel-max-flows", "ring_buffer_size": "ring-buffer-size",
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := newFlagSet(cfg, stderr)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return nil, err
		}
		// "invalid value "x" for flag -idle-timeout: parse error" names the
		// flag the way it is documented.
		msg := strings.ReplaceAll(err.Error(), "flag -", "flag --")
		msg = strings.ReplaceAll(msg, "flag provided but not defined: -", "unknown flag --")
		return nil, usagef("%s (see nfmeter --help)", msg)
	}
	if cfg.version {
		return cfg, nil
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q (captures are given with --pcap FILE)", fs.Arg(0))
	}
	switch {
	case len(cfg.pcaps) == 0 && cfg.iface == "":
		return nil, usagef("no input: give a capture with --pcap FILE or an interface with --interface IF")
	case len(cfg.pcaps) > 0 && cfg.iface != "":
		return nil, usagef("--pcap and --interface exclude each other: give one source")
	}
	switch cfg.mode {
	case "auto", "xdp", "tc", "afpacket":
	default:
		return nil, usagef("invalid --mode %q: accepted values are auto, xdp, tc, afpacket", cfg.mode)
	}
	if err := cfg.check(fs); err != nil {
		return nil, err
	}
	if cfg.nDissections > 0 && !ndpi.Available() {
		return nil, usagef("invalid --n-dissections %d: this nfmeter was built without nDPI (cgo and libndpi); use --n-dissections 0", cfg.nDissections)
	}
	switch cfg.sysvisBackend {
	case "auto", "kprobe", "fentry", "tracepoint", "poll":
	default:
		return nil, usagef("invalid --system-visibility-backend %q: accepted values are auto, kprobe, fentry, tracepoint, poll", cfg.sysvisBackend)
	}
	switch cfg.progress {
	case "auto", "always", "never":
	default:
		return nil, usagef("invalid --progress %q: accepted values are auto, always, never", cfg.progress)
	}
	if err := cfg.resolveFormat(fs); err != nil {
		return nil, err
	}
	if cfg.output == "" {
		cfg.outputDefault = true
		if cfg.iface != "" {
			cfg.output = cfg.iface + "." + cfg.format
		} else {
			cfg.output = cfg.pcaps[0] + "." + cfg.format
		}
	}
	if cfg.iface != "" && cfg.performanceReport > 0 && cfg.output == "-" {
		return nil, usagef("--performance-report writes to stdout: give --output a file, not -")
	}
	cfg.settings = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "o" && f.Name != "version" && f.Name != "cpu-profile" {
			cfg.settings[f.Name] = f.Value.String()
		}
	})
	return cfg, nil
}

// resolveFormat checks --format and --parquet-compression and picks the
// format from the output path when --format is not given.
func (c *config) resolveFormat(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch c.format {
	case "":
		c.format = "csv"
		if strings.HasSuffix(strings.ToLower(c.output), ".parquet") {
			c.format = "parquet"
		}
	case "csv", "parquet":
	default:
		return usagef("invalid --format %q: accepted values are csv, parquet", c.format)
	}
	if err := export.ValidateParquetCompression(c.parquetCompression); err != nil {
		return usagef("invalid --parquet-compression %q: accepted values are %s", c.parquetCompression, strings.Join(export.ParquetCompressions(), ", "))
	}
	if set["parquet-compression"] && c.format != "parquet" {
		return usagef("--parquet-compression applies to Parquet output (--format parquet, or an --output ending in .parquet)")
	}
	if c.format == "parquet" && c.flowsPerFile > 0 && c.output != "" && (c.output == "-" || !strings.Contains(c.output, "parquet")) {
		return usagef("invalid --output %q with --flows-per-file: Parquet chunks are named by numbering \"parquet\" in the path (out.parquet gives out.0.parquet, out.1.parquet...), so the path must contain it", c.output)
	}
	return nil
}

// check refuses the values no library checks: those of the command's own
// flags, and negative values for the libraries' unsigned options (their
// types cannot hold one). Every other range is the libraries' to check:
// the flow engine's and the kernel path's options are validated even when
// reading files, as they were given.
func (c *config) check(fs *flag.FlagSet) error {
	for _, r := range []struct {
		flag     string
		v, hi    int64
		accepted string
	}{
		{"socket-buffer-size", c.socketBufferSize, 1 << 40, "0 (default) to 1 TiB"},
		{"performance-report", c.performanceReport, 1<<31 - 1, "integers >= 0 (seconds)"},
	} {
		if r.v < 0 || r.v > r.hi {
			return usagef("invalid --%s %d: accepted values are %s", r.flag, r.v, r.accepted)
		}
	}
	for _, u := range []struct {
		flag, unit string
		v          int64
	}{
		{"idle-timeout", " (seconds)", c.idleTimeout},
		{"active-timeout", " (seconds)", c.activeTimeout},
		{"max-nflows", "", c.maxNFlows},
		{"flows-per-file", "", c.flowsPerFile},
		{"rotate-files", "", c.rotateFiles},
	} {
		if u.v < 0 {
			return usagef("invalid --%s %d: accepted values are integers >= 0%s", u.flag, u.v, u.unit)
		}
	}
	ko := c.kernelOptions()
	if err := ko.Validate(); err != nil {
		// Values were saturated to fit the options' types: name the one
		// given.
		var pe *flows.ParamError
		if errors.As(err, &pe) {
			given := *pe
			if f := fs.Lookup(paramFlags[pe.Param]); f != nil {
				given.Value = f.Value.String()
			}
			err = &given
		}
		return flagError(err)
	}
	return nil
}

// options maps the command line to the flow engine's options. Values that
// do not fit an option's type saturate, so that the engine refuses them
// instead of seeing them wrap.
func (c *config) options() flows.Options {
	o := flows.DefaultOptions()
	o.DecodeTunnels = c.decodeTunnels
	o.BPFFilter = c.bpfFilter
	o.NewFilter = func(expr string, dlt int) (flows.Filter, error) { return bpffilter.Compile(expr, dlt, 0) }
	o.SnapshotLength = toInt(c.snapshotLength)
	o.IdleTimeout = toUint(c.idleTimeout)
	o.ActiveTimeout = toUint(c.activeTimeout)
	o.AccountingMode = flows.AccountingMode(min(toUint(c.accountingMode), math.MaxUint8))
	o.NDissections = toInt(c.nDissections)
	o.StatisticalAnalysis = c.statistical
	o.SPLTAnalysis = toInt(c.splt)
	o.NMeters = toInt(c.nMeters)
	o.MaxNFlows = toUint(c.maxNFlows)
	o.SystemVisibilityMode = toInt(c.sysvisMode)
	o.SystemVisibilityPollMs = toInt(c.sysvisPollMs)
	o.DissectorShards = toInt(c.ndpiShards)
	if o.NDissections > 0 {
		o.NewDissector = ndpi.NewDissector(ndpi.Options{NDissections: o.NDissections, RawLabels: c.ndpiRawLabels})
	}
	return o
}

// kernelOptions maps the command line to the kernel path's options.
func (c *config) kernelOptions() kmeter.Options {
	return kmeter.Options{Flow: c.options(), MaxFlows: toInt(c.kernelMaxFlows), RingBytes: toInt(c.ringBufferSize)}
}

// toInt converts a flag's value for an int option, saturating where int
// has 32 bits.
func toInt(v int64) int { return int(min(max(v, math.MinInt), math.MaxInt)) }

// toUint converts a flag's value for an unsigned option. A negative value
// becomes the largest, which the library refuses where it has a bound
// (the accounting mode); [config.check] refuses it for the others.
func toUint(v int64) uint64 {
	if v < 0 {
		return math.MaxUint64
	}
	return uint64(v)
}

func (c *config) anonymizeColumns() []string {
	if c.columnsToAnonymize == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(c.columnsToAnonymize, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// flagError rewrites a library's parameter error with the flag's name.
func flagError(err error) error {
	var pe *flows.ParamError
	if errors.As(err, &pe) {
		name := pe.Param
		if f, ok := paramFlags[pe.Param]; ok {
			name = "--" + f
		}
		return usagef("invalid %s %v: accepted values are %s", name, pe.Value, pe.Accepted)
	}
	return err
}

// unsupported says which flag asks for what the kernel path cannot run
// (a [kmeter.UnsupportedError]).
func unsupported(err error) string {
	var ue *kmeter.UnsupportedError
	if errors.As(err, &ue) {
		if f, ok := paramFlags[ue.Param]; ok {
			return fmt.Sprintf("--%s: %v", f, err)
		}
	}
	return err.Error()
}
