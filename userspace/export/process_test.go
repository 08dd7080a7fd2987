package export

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// With plugin columns and system visibility, the plugin columns are
// optional and typed from their values and the process columns, after
// them, are required INT64 and STRING (the plugin columns are no longer
// the last ones).
func TestParquetProcessAfterPluginColumns(t *testing.T) {
	fl := syntheticFlows(10)
	for i, f := range fl {
		if i == 0 {
			f.UDPS.Set("n", nil) // typed from the next flows
		} else {
			f.UDPS.Set("n", int64(i))
		}
		if i%3 == 0 {
			f.SetProcess(flows.Process{PID: 100 + i, Name: "p"})
		}
	}
	o := flows.DefaultOptions()
	o.SystemVisibilityMode = 1
	b := writeParquetBytes(t, o, fl, false)
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	fields := pf.Schema().Fields()
	n := len(fields)
	type col struct {
		name     string
		optional bool
		typ      string
	}
	var got []col
	for _, f := range fields[n-3:] {
		got = append(got, col{f.Name(), f.Optional(), f.Type().String()})
	}
	want := []col{{"udps.n", true, "INT(64"}, {"system_process_pid", false, "INT(64"}, {"system_process_name", false, "STRING"}}
	for i := range want {
		if got[i].name != want[i].name || got[i].optional != want[i].optional || !strings.HasPrefix(got[i].typ, want[i].typ) {
			t.Errorf("column %d: %+v, want %+v", n-3+i, got[i], want[i])
		}
	}
	rows := make([]parquet.Row, len(fl))
	r := pf.RowGroups()[0].Rows()
	defer r.Close()
	if k, _ := r.ReadRows(rows); k != len(fl) {
		t.Fatalf("%d rows read, want %d", k, len(fl))
	}
	for i, row := range rows {
		pid := row[n-2].Int64()
		wantPID := int64(-1)
		if i%3 == 0 {
			wantPID = int64(100 + i)
		}
		if pid != wantPID {
			t.Errorf("flow %d: pid %d, want %d", i, pid, wantPID)
		}
	}
}
