//go:build cgo

package main

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// duckCount returns the rows and the packets of a Parquet flow file, read
// by DuckDB.
func duckCount(tb testing.TB, path string) (rows, packets int64) {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.QueryRow("SELECT count(*), coalesce(sum(bidirectional_packets), 0) FROM read_parquet(?)", path).Scan(&rows, &packets)
	if err != nil {
		tb.Fatalf("duckdb read_parquet(%s): %v", path, err)
	}
	return rows, packets
}

// Issue 6, acceptance 2: Ctrl-C during a long Parquet export leaves a
// valid file (footer written) holding every flow metered so far. Flows
// expire every second of capture time, so row groups are written while
// metering goes on, on the exporter's own goroutine (--n-meters 2).
func TestInterruptParquetReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large capture")
	}
	out := filepath.Join(t.TempDir(), "big.parquet")
	run := runInterrupted(t, out, "--active-timeout", "1", "--n-meters", "2", "--statistical-analysis", "--splt-analysis", "10")
	rows, packets := duckCount(t, out)
	if rows != int64(run.nflows) || rows == 0 {
		t.Fatalf("DuckDB reads %d rows, the summary says %d flows", rows, run.nflows)
	}
	if packets != int64(run.read) {
		t.Errorf("flows hold %d packets, %d were read before the interrupt", packets, run.read)
	}
}
