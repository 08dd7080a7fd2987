//go:build cgo

package export

import (
	"database/sql"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/ndpi"
	"github.com/nfmeter/nfmeter/userspace/plugins"
)

// duckCSV reads a Parquet file with DuckDB, an independent reader, and
// prints it the way NFStream's to_csv prints flows: the header, then one
// line per row with ints as digits, doubles as Python reprs, strings and
// lists quoted, NULL as an empty field. A Parquet file holding the same
// values as a CSV export therefore reads back as the same bytes.
func duckCSV(tb testing.TB, path string) string {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT * FROM read_parquet(?)", path)
	if err != nil {
		tb.Fatalf("duckdb read_parquet(%s): %v", path, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(strings.Join(cols, ",") + "\n")
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		var line []byte
		for i, v := range vals {
			if i > 0 {
				line = append(line, ',')
			}
			line = appendDuckField(tb, line, v)
		}
		b.Write(append(line, '\n'))
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("duckdb read_parquet(%s): %v", path, err)
	}
	return b.String()
}

func appendDuckField(tb testing.TB, b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return AppendPyFloat(b, x)
	case bool:
		return appendPyBool(b, x)
	case string:
		return appendQuoted(b, x)
	case []any:
		var l []byte
		l = append(l, '[')
		for i, e := range x {
			if i > 0 {
				l = append(l, ',', ' ')
			}
			switch y := e.(type) {
			case int64:
				l = strconv.AppendInt(l, y, 10)
			case float64:
				l = AppendPyFloat(l, y)
			case string:
				l = appendPyStrRepr(l, y)
			default:
				tb.Fatalf("unexpected list element %T", e)
			}
		}
		return appendQuoted(b, string(append(l, ']')))
	}
	tb.Fatalf("unexpected DuckDB value %T", v)
	return b
}

// duckQuery returns the first row of a DuckDB query.
func duckQuery(tb testing.TB, query string, args ...any) []any {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query, args...)
	if err != nil {
		tb.Fatalf("duckdb %s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		tb.Fatalf("duckdb %s: no row", query)
	}
	if err := rows.Scan(ptrs...); err != nil {
		tb.Fatal(err)
	}
	return vals
}

// mustExport writes fl with both exporters and returns the CSV text and
// the Parquet file read back by DuckDB.
func mustExport(tb testing.TB, o flows.Options, fl []*flows.Flow, popts ParquetOptions) (csvText, parquetText string) {
	tb.Helper()
	dir := tb.TempDir()
	schema := func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }
	c, err := NewCSVFiles(FileOptions{Path: filepath.Join(dir, "flows.csv")}, schema, nil)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewParquetFiles(FileOptions{Path: filepath.Join(dir, "flows.parquet")}, popts, schema, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fl {
		if err := c.Write(f); err != nil {
			tb.Fatal(err)
		}
		if err := p.Write(f); err != nil {
			tb.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := p.Close(); err != nil {
		tb.Fatal(err)
	}
	if len(fl) == 0 {
		return "", ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "flows.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b), duckCSV(tb, filepath.Join(dir, "flows.parquet"))
}

// firstLineDiff says where two texts first differ.
func firstLineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\nparquet %s\n    csv %s", i+1, gl, wl)
		}
	}
	return ""
}

// conformanceOptions are the CSV conformance tests' settings: golden/full
// (statistics, SPLT 10, nDPI when built in) and golden/timeouts.
func conformanceOptions() map[string]flows.Options {
	full := flows.DefaultOptions()
	full.StatisticalAnalysis, full.SPLTAnalysis = true, 10
	if ndpi.Available() {
		full.NewDissector = ndpi.NewDissector(ndpi.Options{NDissections: full.NDissections})
	} else {
		full.NDissections = 0
	}
	timeouts := flows.DefaultOptions()
	timeouts.NDissections, timeouts.StatisticalAnalysis, timeouts.SPLTAnalysis = 0, true, 5
	timeouts.IdleTimeout, timeouts.ActiveTimeout, timeouts.AccountingMode = 5, 10, 3
	return map[string]flows.Options{"full": full, "timeouts": timeouts}
}

// Issue 6, acceptance 1: for every conformance capture, DuckDB reads from
// the Parquet file exactly the values of the CSV export, lists included.
func TestParquetConformance(t *testing.T) {
	dir := testutil.ConformanceDir(t)
	pcaps, err := filepath.Glob(filepath.Join(dir, "nfstream", "pcaps", "*"))
	if err != nil {
		t.Fatal(err)
	}
	synth, _ := filepath.Glob(filepath.Join(dir, "synthetic", "*.pcap"))
	pcaps = append(pcaps, synth...)
	for name, o := range conformanceOptions() {
		t.Run(name, func(t *testing.T) {
			same, nflows := 0, 0
			for _, pcap := range pcaps {
				fl := testutil.MeterFile(t, pcap, o)
				csvText, pqText := mustExport(t, o, fl, ParquetOptions{})
				if pqText != csvText {
					t.Errorf("%s: %s", filepath.Base(pcap), firstLineDiff(pqText, csvText))
					continue
				}
				same++
				nflows += len(fl)
			}
			t.Logf("%d/%d captures (%d flows): Parquet read by DuckDB equals the CSV", same, len(pcaps), nflows)
		})
	}
}

// Plugin columns are typed from their values and nullable; the values
// read back equal the CSV's (DHCP: strings, ints, lists of ints, None;
// MDNS: lists of strings; JA4: strings or None; SPLT: lists of ints).
func TestParquetPluginColumns(t *testing.T) {
	dir := testutil.ConformanceDir(t)
	for _, tc := range []struct {
		name  string
		pcap  string
		plug  []flows.Plugin
		types map[string]string
	}{
		{"dhcp", "dhcp.pcap", []flows.Plugin{&plugins.DHCP{}},
			map[string]string{"udps.dhcp_12": "VARCHAR", "udps.dhcp_options": "BIGINT[]", "udps.dhcp_msg_type": "VARCHAR"}},
		{"mdns", "mdns.pcap", []flows.Plugin{&plugins.MDNS{}}, map[string]string{"udps.mdns_ptr": "VARCHAR[]"}},
		{"ja4+splt", "443-curl.pcap", []flows.Plugin{&plugins.JA4{}, &plugins.SPLT{SequenceLength: 5}},
			map[string]string{"udps.ja4": "VARCHAR", "udps.splt_ps": "BIGINT[]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := flows.DefaultOptions()
			o.NDissections = 0
			o.Plugins = tc.plug
			fl := testutil.MeterFile(t, filepath.Join(dir, "nfstream", "pcaps", tc.pcap), o)
			csvText, pqText := mustExport(t, o, fl, ParquetOptions{})
			if pqText != csvText {
				t.Fatalf("%s", firstLineDiff(pqText, csvText))
			}
			path := filepath.Join(t.TempDir(), "p.parquet")
			writeParquet(t, path, o, fl, ParquetOptions{})
			for col, want := range tc.types {
				got := duckQuery(t, "SELECT typeof(\""+col+"\") FROM read_parquet(?) LIMIT 1", path)[0]
				if got != want {
					t.Errorf("%s: DuckDB type %v, want %s", col, got, want)
				}
			}
		})
	}
}

// writeParquet writes fl to path.
func writeParquet(tb testing.TB, path string, o flows.Options, fl []*flows.Flow, popts ParquetOptions) {
	tb.Helper()
	p, err := NewParquetFiles(FileOptions{Path: path}, popts, func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fl {
		if err := p.Write(f); err != nil {
			tb.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		tb.Fatal(err)
	}
}

// A plugin column that is None in the first flows takes the type of its
// first value; one that is always None is a nullable STRING; values that
// do not fit the inferred type are an error naming the column and flow.
func TestParquetPluginTypeInference(t *testing.T) {
	o := flows.DefaultOptions()
	o.NDissections = 0
	fl := syntheticFlows(10)
	for i, f := range fl {
		if i >= 3 {
			f.UDPS.Set("late", int32(i))
		} else {
			f.UDPS.Set("late", nil)
		}
		f.UDPS.Set("never", nil)
		f.UDPS.Set("ratio", float64(i)/4)
		f.UDPS.Set("flag", i%2 == 0)
		f.UDPS.Set("big", big.NewInt(int64(i)))
		f.UDPS.Set("names", []string{"a", `b"c`, "d'e"})
	}
	csvText, pqText := mustExport(t, o, fl, ParquetOptions{})
	if pqText != csvText {
		t.Fatalf("%s", firstLineDiff(pqText, csvText))
	}
	path := filepath.Join(t.TempDir(), "p.parquet")
	writeParquet(t, path, o, fl, ParquetOptions{})
	got := duckQuery(t, `SELECT typeof("udps.late"), typeof("udps.never"), typeof("udps.ratio"), typeof("udps.flag"), typeof("udps.big"), typeof("udps.names") FROM read_parquet(?) LIMIT 1`, path)
	want := []any{"BIGINT", "VARCHAR", "DOUBLE", "BOOLEAN", "VARCHAR", "VARCHAR[]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("types %v, want %v", got, want)
	}

	// GIVEN an integer column WHEN a later flow holds a string THEN the
	// write fails naming the column and the flow.
	bad := syntheticFlows(3)
	for i, f := range bad {
		if i == 2 {
			f.UDPS.Set("n", "three")
		} else {
			f.UDPS.Set("n", i)
		}
	}
	p, err := NewParquetFiles(FileOptions{Path: filepath.Join(t.TempDir(), "bad.parquet")}, ParquetOptions{}, func(first *flows.Flow) *flows.Schema { return flows.NewSchema(&o, first) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range bad {
		if err = p.Write(f); err != nil {
			break
		}
	}
	if err == nil {
		err = p.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "udps.n") || !strings.Contains(err.Error(), "flow 2") {
		t.Fatalf("error %v, want one naming udps.n and flow 2", err)
	}
}

// Anonymized columns hold the same keyed hashes as the CSV's, and every
// compression reads back with the same values.
func TestParquetAnonymizeAndCompressions(t *testing.T) {
	o := conformanceOptions()["timeouts"]
	fl := testutil.MeterFile(t, testutil.ConformancePcap(t, "quic.pcap"), o)
	anon := NewAnonymizerWithKey([]string{"src_ip", "dst_port", "splt_ps", "bidirectional_mean_ps"}, [64]byte{7})
	s := flows.NewSchema(&o, fl[0])
	var csvBuf strings.Builder
	c := NewCSV(&csvBuf, anon)
	for _, f := range fl {
		if err := c.Write(f, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, comp := range ParquetCompressions() {
		path := filepath.Join(t.TempDir(), comp+".parquet")
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewParquet(out, anon, ParquetOptions{Compression: comp, RowGroupFlows: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fl {
			if err := p.Write(f, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		out.Close()
		if got := duckCSV(t, path); got != csvBuf.String() {
			t.Errorf("%s: %s", comp, firstLineDiff(got, csvBuf.String()))
		}
	}
}
