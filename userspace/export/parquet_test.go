package export

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/flows"
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

// schemaOf returns the schema function of options o.
func schemaOf(o flows.Options) func(*flows.Flow) *flows.Schema {
	return func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }
}

// writeParquetBytes writes fl with one Parquet writer and returns the file.
func writeParquetBytes(tb testing.TB, o flows.Options, fl []*flows.Flow, generic bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	p, err := NewParquet(&buf, nil, ParquetOptions{RowGroupFlows: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	p.generic = generic
	s := flows.NewSchema(&o, fl[0])
	for _, f := range fl {
		if err := p.Write(f, s); err != nil {
			tb.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// The direct row path and the generic Values path write the same file for
// every flow of the conformance captures, under several schemas.
func TestParquetDirectMatchesValues(t *testing.T) {
	dir := testutil.ConformanceDir(t)
	pcaps, _ := filepath.Glob(filepath.Join(dir, "nfstream", "pcaps", "*"))
	synth, _ := filepath.Glob(filepath.Join(dir, "synthetic", "*.pcap"))
	pcaps = append(pcaps, synth...)
	configs := []flows.Options{flows.DefaultOptions(), flows.DefaultOptions(), flows.DefaultOptions(), flows.DefaultOptions()}
	configs[1].StatisticalAnalysis, configs[1].SPLTAnalysis = true, 3
	configs[2].DecodeTunnels, configs[2].StatisticalAnalysis = false, true
	configs[3].SystemVisibilityMode, configs[3].SPLTAnalysis = 1, 2
	n := 0
	for _, o := range configs {
		o.NDissections = 0
		var all []*flows.Flow
		for _, p := range pcaps {
			all = append(all, testutil.MeterFile(t, p, o)...)
		}
		if o.SystemVisibilityMode == 1 {
			// Every other flow attributed, the others with the defaults.
			for i, f := range all {
				if i%2 == 0 {
					f.SetProcess(flows.Process{PID: 1000 + i, Name: "proc \"x\""})
				}
			}
		}
		if !bytes.Equal(writeParquetBytes(t, o, all, false), writeParquetBytes(t, o, all, true)) {
			t.Errorf("options %+v: the direct path writes another file than the generic one", o)
		}
		n += len(all)
	}
	t.Logf("%d flows compared", n)
}

// Chunks are named like CSV chunks with "parquet" numbered, rotate the
// same way, each is a whole readable file with the same columns, and the
// goroutine writer produces the same files.
func TestParquetFilesChunks(t *testing.T) {
	fl := syntheticFlows(5000)
	o := flows.DefaultOptions()
	for _, tc := range []struct {
		name            string
		perFile, rotate uint64
		want            []string
	}{
		{"one file", 0, 0, []string{"out.parquet"}},
		{"chunks", 1200, 0, []string{"out.0.parquet", "out.1.parquet", "out.2.parquet", "out.3.parquet", "out.4.parquet"}},
		{"rotated", 1200, 2, []string{"out.0.parquet", "out.1.parquet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var contents [2]string
			for i, workers := range []int{0, 3} {
				dir := t.TempDir()
				p, err := NewParquetFiles(FileOptions{Path: filepath.Join(dir, "out.parquet"), FlowsPerFile: tc.perFile, RotateFiles: tc.rotate, Workers: workers}, ParquetOptions{}, schemaOf(o), nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range fl {
					if err := p.Write(f); err != nil {
						t.Fatal(err)
					}
				}
				if err := p.Close(); err != nil {
					t.Fatal(err)
				}
				if p.Written() != uint64(len(fl)) {
					t.Fatalf("wrote %d flows, want %d", p.Written(), len(fl))
				}
				names, _ := filepath.Glob(filepath.Join(dir, "*"))
				var got []string
				var all strings.Builder
				rows := int64(0)
				for _, n := range names {
					got = append(got, filepath.Base(n))
					pf := mustOpenParquet(t, n)
					rows += pf.NumRows()
					if g, w := len(pf.Schema().Fields()), len(flows.NewSchema(&o, nil).Names); g != w {
						t.Errorf("%s: %d columns, want %d", n, g, w)
					}
					b, _ := os.ReadFile(n)
					all.WriteString(filepath.Base(n) + "\n" + string(b))
				}
				if strings.Join(got, " ") != strings.Join(tc.want, " ") {
					t.Errorf("files %v, want %v", got, tc.want)
				}
				if want := int64(len(fl)); tc.rotate == 0 && rows != want {
					t.Errorf("%d rows in the files, want %d", rows, want)
				}
				contents[i] = all.String()
			}
			if contents[0] != contents[1] {
				t.Error("goroutine writer output differs from the serial output")
			}
		})
	}
}

func TestParquetChunkPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"flows.parquet", "flows.3.parquet"},
		{"/data/parquet/flows.parquet", "/data/3.parquet/flows.3.parquet"}, // every "parquet", as NFStream does for "csv"
	} {
		if got := ParquetChunkPath(tc.path, 3); got != tc.want {
			t.Errorf("ParquetChunkPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// Errors name what is wrong: the output path (disk full, missing
// directory), the compression, a chunk path that cannot be numbered.
func TestParquetFilesErrors(t *testing.T) {
	o := flows.DefaultOptions()
	write := func(opts FileOptions, n int) error {
		p, err := NewParquetFiles(opts, ParquetOptions{RowGroupFlows: 100}, schemaOf(o), nil)
		if err != nil {
			return err
		}
		for _, f := range syntheticFlows(n) {
			if err := p.Write(f); err != nil {
				p.Close()
				return err
			}
		}
		return p.Close()
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		for _, workers := range []int{0, 2} {
			err := write(FileOptions{Path: "/dev/full", Workers: workers}, 5000)
			if err == nil || !strings.Contains(err.Error(), "write /dev/full: ") || !strings.Contains(err.Error(), "no space left on device") {
				t.Errorf("workers %d: disk full: error %v, want one naming /dev/full and the lack of space", workers, err)
			}
		}
	}
	missing := filepath.Join(t.TempDir(), "no", "flows.parquet")
	if err := write(FileOptions{Path: missing}, 10); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: error %v, want one naming %s", err, missing)
	}
	if _, err := NewParquetFiles(FileOptions{Path: "flows.pq", FlowsPerFile: 10}, ParquetOptions{}, schemaOf(o), nil); !errors.Is(err, ErrChunkPath) {
		t.Errorf("chunks of flows.pq: error %v, want ErrChunkPath", err)
	}
	if _, err := NewParquetFiles(FileOptions{Path: "-", FlowsPerFile: 10}, ParquetOptions{}, schemaOf(o), nil); !errors.Is(err, ErrChunkPath) {
		t.Errorf("chunks to stdout: error %v, want ErrChunkPath", err)
	}
	if _, err := NewParquetFiles(FileOptions{Path: "x.parquet"}, ParquetOptions{Compression: "lzo"}, schemaOf(o), nil); !errors.Is(err, ErrCompression) || !strings.Contains(err.Error(), `"lzo"`) {
		t.Errorf("compression lzo: error %v, want ErrCompression naming it", err)
	}
	if err := write(FileOptions{Path: filepath.Join(t.TempDir(), "x.parquet"), ColumnsToAnonymize: []string{"nope"}}, 1); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("anonymizing a missing column: error %v", err)
	}
	// No flow, no file (as for CSV).
	empty := filepath.Join(t.TempDir(), "empty.parquet")
	if err := write(FileOptions{Path: empty}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("a file was created without flows: %v", err)
	}
}

// The key-value metadata holds what the caller passed; created_by is set.
func TestParquetMetadata(t *testing.T) {
	o := flows.DefaultOptions()
	path := filepath.Join(t.TempDir(), "m.parquet")
	p, err := NewParquetFiles(FileOptions{Path: path}, ParquetOptions{
		Metadata:  map[string]string{"nfmeter.version": "v1.2.3", "nfmeter.option.idle-timeout": "120"},
		CreatedBy: "nfmeter version v1.2.3",
	}, schemaOf(o), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range syntheticFlows(3) {
		if err := p.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pf := mustOpenParquet(t, path)
	for k, want := range map[string]string{"nfmeter.version": "v1.2.3", "nfmeter.option.idle-timeout": "120"} {
		if got, ok := pf.Lookup(k); !ok || got != want {
			t.Errorf("metadata %s = %q (%v), want %q", k, got, ok, want)
		}
	}
	if got := pf.Metadata().CreatedBy; got != "nfmeter version v1.2.3" {
		t.Errorf("created_by %q", got)
	}
	if pf.NumRows() != 3 {
		t.Errorf("%d rows, want 3", pf.NumRows())
	}
}

// Memory does not grow with the number of flows: once a few row groups
// have been written, writing many more leaves the heap where it was.
func TestParquetMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 120,000 flows")
	}
	o := flows.DefaultOptions()
	o.StatisticalAnalysis, o.SPLTAnalysis = true, 10
	tmpl := syntheticFlows(1000)
	for _, f := range tmpl {
		f.Stats = &flows.Stats{}
		f.Stats.Bi.MeanPS = float64(f.ID) / 3
	}
	s := flows.NewSchema(&o, tmpl[0])
	var out countingWriter
	p, err := NewParquet(&out, nil, ParquetOptions{RowGroupFlows: 4096})
	if err != nil {
		t.Fatal(err)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var at20k uint64
	for i := range 120_000 {
		if i == 20_000 {
			at20k = heap()
		}
		f := tmpl[i%len(tmpl)]
		f.ID = uint64(i)
		if err := p.Write(f, s); err != nil {
			t.Fatal(err)
		}
	}
	end := heap()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	growth := int64(end) - int64(at20k)
	t.Logf("heap after 20,000 flows %d KiB, after 120,000 %d KiB; file %d bytes", at20k>>10, end>>10, out.n)
	// 100,000 more flows hold about 90 MB as column values; the footer's
	// per-row-group entries are about 25 KB per group.
	if growth > 4<<20 {
		t.Errorf("heap grew by %d KiB over 100,000 flows", growth>>10)
	}
}
