package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/nfmeter/nfmeter/userspace/bpffilter"
	"github.com/nfmeter/nfmeter/userspace/export"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/ndpi"
)

// config is every command-line setting. Flags are NFStream's parameter
// names in kebab-case.
type config struct {
	pcaps              []string
	output             string
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

func newFlagSet(cfg *config, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("nfmeter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.iface, "interface", "", "meter a live network `interface` until interrupted (instead of --pcap)")
	fs.StringVar(&cfg.mode, "mode", "auto", "live capture path: auto (XDP ingress + TC egress in the kernel, else TC, else AF_PACKET), xdp, tc, afpacket")
	fs.BoolVar(&cfg.promisc, "promiscuous-mode", true, "live capture: receive frames for other hosts too (AF_PACKET; XDP and TC see every frame anyway)")
	fs.Int64Var(&cfg.socketBufferSize, "socket-buffer-size", 0, "live capture: AF_PACKET ring size per meter in `bytes` (0: 8 MiB)")
	fs.Int64Var(&cfg.performanceReport, "performance-report", 0, "live capture: print a JSON line of counters to stdout every `S` seconds (0: off)")
	fs.StringVar(&cfg.readyFile, "ready-file", "", "live capture: create this `file` once capture is attached (for scripts and tests)")
	fs.Int64Var(&cfg.kernelMaxFlows, "kernel-max-flows", 131072, "kernel path: flows the kernel table holds at once, about 410 bytes of kernel memory each (flows beyond are metered in userspace and counted)")
	fs.Int64Var(&cfg.ringBufferSize, "ring-buffer-size", 32<<20, "kernel path: ring buffer `bytes` for first packets and punted frames (a power of two)")
	fs.Int64Var(&cfg.sysvisMode, "system-visibility-mode", 0, "1 adds system_process_pid and system_process_name, the local process of each flow (live capture; 0: off)")
	fs.Int64Var(&cfg.sysvisPollMs, "system-visibility-poll-ms", 100, "poll backend: `milliseconds` between two reads of the socket table (0: without pause)")
	fs.StringVar(&cfg.sysvisBackend, "system-visibility-backend", "auto", "how processes are found: auto (kprobe, else fentry, else tracepoint, else poll), kprobe, fentry, tracepoint (BPF tracepoints and cgroup hooks), poll (sock_diag and /proc, as NFStream)")
	fs.Var(listFlag{&cfg.pcaps}, "pcap", "capture `file` (pcap or pcapng); repeat to read several files as one source")
	fs.StringVar(&cfg.output, "output", "", "output `path` (\"-\" for stdout; default <first pcap>.csv, or .parquet with --format parquet)")
	fs.StringVar(&cfg.output, "o", "", "shorthand for --output")
	fs.BoolVar(&cfg.decodeTunnels, "decode-tunnels", true, "decode GTP-U, CAPWAP and TZSP tunnels")
	fs.StringVar(&cfg.bpfFilter, "bpf-filter", "", "libpcap filter `expression` applied before metering")
	fs.Int64Var(&cfg.snapshotLength, "snapshot-length", 1536, "live capture snap length in bytes (no effect on files)")
	fs.Int64Var(&cfg.idleTimeout, "idle-timeout", 120, "idle timeout in `seconds`")
	fs.Int64Var(&cfg.activeTimeout, "active-timeout", 1800, "active timeout in `seconds`")
	fs.Int64Var(&cfg.accountingMode, "accounting-mode", 0, "size counted: 0 wire length, 1 IP, 2 transport, 3 payload")
	fs.Int64Var(&cfg.nDissections, "n-dissections", 20, "packets per flow given to nDPI for application labels (0 to 255; 0 disables nDPI)")
	fs.Int64Var(&cfg.ndpiShards, "ndpi-shards", 1, "nDPI modules flows are spread over by hash, each on its own goroutine when --n-meters > 1 (labels depend on this number, never on --n-meters; 1 is NFStream's behaviour)")
	fs.BoolVar(&cfg.ndpiRawLabels, "ndpi-raw-labels", false, "report nDPI 4.2's own labels and confidence numbers instead of NFStream-compatible ones")
	fs.BoolVar(&cfg.statistical, "statistical-analysis", false, "add the 48 post-mortem statistics")
	fs.Int64Var(&cfg.splt, "splt-analysis", 0, "record direction, size and gap of the first `N` packets (0 to 65535)")
	fs.Int64Var(&cfg.nMeters, "n-meters", 0, "parallel workers (0: one per CPU); output is identical for every value")
	fs.Int64Var(&cfg.maxNFlows, "max-nflows", 0, "stop after this many flows (0: unlimited)")
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

// flagNames maps NFStream parameter names to this command's flags.
var flagNames = map[string]string{
	"snapshot_length": "--snapshot-length", "idle_timeout": "--idle-timeout",
	"active_timeout": "--active-timeout", "accounting_mode": "--accounting-mode",
	"n_dissections": "--n-dissections", "splt_analysis": "--splt-analysis", "n_meters": "--n-meters",
	"max_nflows": "--max-nflows", "bpf_filter": "--bpf-filter",
	"system_visibility_mode": "--system-visibility-mode", "system_visibility_poll_ms": "--system-visibility-poll-ms",
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
	type rng struct {
		flag     string
		v        int64
		lo, hi   int64
		accepted string
	}
	for _, r := range []rng{
		{"--snapshot-length", cfg.snapshotLength, 1, 1<<31 - 1, "1 to 2147483647 bytes"},
		{"--idle-timeout", cfg.idleTimeout, 0, 1<<63 - 1, "integers >= 0 (seconds)"},
		{"--active-timeout", cfg.activeTimeout, 0, 1<<63 - 1, "integers >= 0 (seconds)"},
		{"--accounting-mode", cfg.accountingMode, 0, 3, "0, 1, 2, 3"},
		{"--n-dissections", cfg.nDissections, 0, 255, "0 to 255"},
		{"--splt-analysis", cfg.splt, 0, 65535, "0 to 65535"},
		{"--n-meters", cfg.nMeters, 0, 1024, "0 (auto) to 1024"},
		{"--ndpi-shards", cfg.ndpiShards, 1, 64, "1 to 64"},
		{"--max-nflows", cfg.maxNFlows, 0, 1<<63 - 1, "integers >= 0"},
		{"--flows-per-file", cfg.flowsPerFile, 0, 1<<63 - 1, "integers >= 0"},
		{"--rotate-files", cfg.rotateFiles, 0, 1<<63 - 1, "integers >= 0"},
		{"--socket-buffer-size", cfg.socketBufferSize, 0, 1 << 40, "0 (default) to 1 TiB"},
		{"--performance-report", cfg.performanceReport, 0, 1<<31 - 1, "integers >= 0 (seconds)"},
		{"--kernel-max-flows", cfg.kernelMaxFlows, 1, 1<<31 - 1, "1 to 2147483647"},
		{"--ring-buffer-size", cfg.ringBufferSize, 4096, 1 << 30, "a power of two from 4096 to 1073741824"},
		{"--system-visibility-mode", cfg.sysvisMode, 0, 1, "0 (off), 1 (process information)"},
		{"--system-visibility-poll-ms", cfg.sysvisPollMs, 0, 1<<31 - 1, "integers >= 0 (milliseconds)"},
	} {
		if r.v < r.lo || r.v > r.hi {
			return nil, usagef("invalid %s %d: accepted values are %s", r.flag, r.v, r.accepted)
		}
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
	if r := cfg.ringBufferSize; r&(r-1) != 0 {
		return nil, usagef("invalid --ring-buffer-size %d: accepted values are a power of two from 4096 to 1073741824", r)
	}
	if err := cfg.resolveFormat(fs); err != nil {
		return nil, err
	}
	if cfg.output == "" {
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

// options maps the command line to the flow engine's options.
func (c *config) options() flows.Options {
	o := flows.DefaultOptions()
	o.DecodeTunnels = c.decodeTunnels
	o.BPFFilter = c.bpfFilter
	o.NewFilter = func(expr string, dlt int) (flows.Filter, error) { return bpffilter.Compile(expr, dlt, 0) }
	o.SnapshotLength = int(c.snapshotLength)
	o.IdleTimeout = uint64(c.idleTimeout)
	o.ActiveTimeout = uint64(c.activeTimeout)
	o.AccountingMode = flows.AccountingMode(c.accountingMode)
	o.NDissections = int(c.nDissections)
	o.StatisticalAnalysis = c.statistical
	o.SPLTAnalysis = int(c.splt)
	o.NMeters = int(c.nMeters)
	o.MaxNFlows = uint64(c.maxNFlows)
	o.SystemVisibilityMode = int(c.sysvisMode)
	o.SystemVisibilityPollMs = int(c.sysvisPollMs)
	if o.NDissections > 0 {
		o.NewDissector = ndpi.NewDissector(ndpi.Options{NDissections: o.NDissections, RawLabels: c.ndpiRawLabels})
		o.DissectorShards = int(c.ndpiShards)
	}
	return o
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

// flagError rewrites an engine parameter error with the flag name.
func flagError(err error) error {
	var pe *flows.ParamError
	if errors.As(err, &pe) {
		name := flagNames[pe.Param]
		if name == "" {
			name = pe.Param
		}
		return usagef("invalid %s %v: accepted values are %s", name, pe.Value, pe.Accepted)
	}
	return err
}
