package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// mustOpenParquet opens a Parquet file with parquet-go's reader.
func mustOpenParquet(tb testing.TB, path string) *parquet.File {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	return pf
}

// --format comes from the output's extension unless given; mistakes name
// the flag.
func TestParquetFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantFormat string
		wantOutput string
		wantErr    string // substring of the usage error
	}{
		{"csv by default", []string{"-o", "x.csv"}, "csv", "x.csv", ""},
		{"parquet by extension", []string{"-o", "x.parquet"}, "parquet", "x.parquet", ""},
		{"extension in capitals", []string{"-o", "X.PARQUET"}, "parquet", "X.PARQUET", ""},
		{"stdout is csv", []string{"-o", "-"}, "csv", "-", ""},
		{"format wins", []string{"-o", "x.csv", "--format", "parquet"}, "parquet", "x.csv", ""},
		{"default output", []string{"--format", "parquet"}, "parquet", "in.pcap.parquet", ""},
		{"compression", []string{"-o", "x.parquet", "--parquet-compression", "snappy"}, "parquet", "x.parquet", ""},
		{"bad format", []string{"--format", "xml"}, "", "", `invalid --format "xml": accepted values are csv, parquet`},
		{"bad compression", []string{"-o", "x.parquet", "--parquet-compression", "lzo"}, "", "", `invalid --parquet-compression "lzo": accepted values are zstd, snappy`},
		{"compression with csv", []string{"-o", "x.csv", "--parquet-compression", "gzip"}, "", "", "--parquet-compression applies to Parquet output"},
		{"chunks need parquet in the path", []string{"--format", "parquet", "-o", "x.pq", "--flows-per-file", "10"}, "", "", `invalid --output "x.pq" with --flows-per-file`},
		{"chunks to stdout", []string{"--format", "parquet", "-o", "-", "--flows-per-file", "10"}, "", "", `invalid --output "-" with --flows-per-file`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseArgs(append([]string{"--pcap", "in.pcap", "--n-dissections", "0"}, tc.args...), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if _, ok := err.(*usageError); !ok {
					t.Errorf("error %T is not a usage error (exit 2)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.format != tc.wantFormat || cfg.output != tc.wantOutput {
				t.Errorf("format %q output %q, want %q %q", cfg.format, cfg.output, tc.wantFormat, tc.wantOutput)
			}
		})
	}
}

// The Parquet file holds the CSV's flows and says how it was made: the
// version and every option, in its key-value metadata.
func TestParquetOutput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	writePcap(t, in, 1, sampleFrames())
	out := filepath.Join(dir, "flows.parquet")
	code, _, stderr := runCLI("--pcap", in, "-o", out, "--n-dissections", "0", "--idle-timeout", "7", "--splt-analysis", "3", "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	pf := mustOpenParquet(t, out)
	if pf.NumRows() != 2 {
		t.Errorf("%d rows, want 2 flows", pf.NumRows())
	}
	for k, want := range map[string]string{
		"nfmeter.version":                     version,
		"nfmeter.option.idle-timeout":         "7",
		"nfmeter.option.splt-analysis":        "3",
		"nfmeter.option.format":               "parquet",
		"nfmeter.option.parquet-compression":  "zstd",
		"nfmeter.option.output":               out,
		"nfmeter.option.pcap":                 in,
		"nfmeter.option.statistical-analysis": "false",
	} {
		if got, ok := pf.Lookup(k); !ok || got != want {
			t.Errorf("metadata %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	names := []string{}
	for _, f := range pf.Schema().Fields() {
		names = append(names, f.Name())
	}
	if !strings.HasPrefix(strings.Join(names, ","), "id,expiration_id,src_ip,src_mac,src_oui,src_port,dst_ip") || names[len(names)-1] != "splt_piat_ms" {
		t.Errorf("columns out of NFStream's order: %v", names)
	}
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if got := col.MetaData.Codec.String(); got != "ZSTD" {
			t.Errorf("column %v compressed with %s, want ZSTD", col.MetaData.PathInSchema, got)
			break
		}
	}

	// Chunks: one flow per file, numbered like the CSV's.
	chunks := filepath.Join(dir, "c.parquet")
	if code, _, stderr := runCLI("--pcap", in, "-o", chunks, "--n-dissections", "0", "--flows-per-file", "1", "--quiet"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, n := range []string{"c.0.parquet", "c.1.parquet"} {
		if pf := mustOpenParquet(t, filepath.Join(dir, n)); pf.NumRows() != 1 {
			t.Errorf("%s: %d rows, want 1", n, pf.NumRows())
		}
	}
}

// A full disk is an error naming the output path (exit 1).
func TestParquetDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	writePcap(t, in, 1, sampleFrames())
	code, _, stderr := runCLI("--pcap", in, "-o", "/dev/full", "--format", "parquet", "--n-dissections", "0", "--quiet")
	if code != exitFailure || !strings.Contains(stderr, "write /dev/full: ") || !strings.Contains(stderr, "no space left on device") {
		t.Errorf("exit %d, stderr %q: want 1 and an error naming /dev/full and the lack of space", code, stderr)
	}
}
