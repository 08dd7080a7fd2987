package export

import (
	"testing"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// BenchmarkCSVRow formats the bench flows (statistics and SPLT 10) into
// CSV lines in memory: the row path alone, without the buffered writer.
func BenchmarkCSVRow(b *testing.B) {
	o, fl := mustBenchFlows(b)
	s := flows.NewSchema(&o, fl[0])
	c := NewCSV(nil, nil)
	c.SetSchema(s)
	var line []byte
	var size int64
	cpu0 := cpuTime()
	for b.Loop() {
		size = 0
		for _, f := range fl {
			line = c.AppendFlow(line[:0], f)
			size += int64(len(line))
		}
	}
	reportPerFlow(b, cpu0, len(fl), size)
}

// BenchmarkFiles writes the bench flows through the chunked-file sinks
// (to a discarding stdout), serially and with format workers.
func BenchmarkFiles(b *testing.B) {
	o, fl := mustBenchFlows(b)
	schema := schemaOf(o)
	for _, tc := range []struct {
		name    string
		parquet bool
		workers int
	}{{"csv", false, 0}, {"csv-workers2", false, 2}, {"parquet", true, 0}, {"parquet-workers2", true, 2}} {
		b.Run(tc.name, func(b *testing.B) {
			var out countingWriter
			cpu0 := cpuTime()
			for b.Loop() {
				out = countingWriter{}
				fo := FileOptions{Path: "-", Workers: tc.workers}
				var sink interface {
					Write(*flows.Flow) error
					Close() error
				}
				var err error
				if tc.parquet {
					sink, err = NewParquetFiles(fo, ParquetOptions{}, schema, &out)
				} else {
					sink, err = NewCSVFiles(fo, schema, &out)
				}
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range fl {
					if err := sink.Write(f); err != nil {
						b.Fatal(err)
					}
				}
				if err := sink.Close(); err != nil {
					b.Fatal(err)
				}
			}
			reportPerFlow(b, cpu0, len(fl), out.n)
		})
	}
}

// Formatting a CSV row allocates nothing, whatever the schema.
func TestCSVRowAllocs(t *testing.T) {
	o, fl := mustBenchFlows(t)
	for _, tc := range []struct {
		name string
		opt  func(*flows.Options)
	}{
		{"default", func(o *flows.Options) { o.StatisticalAnalysis, o.SPLTAnalysis = false, 0 }},
		{"stats+splt", func(*flows.Options) {}},
		{"process", func(o *flows.Options) { o.SystemVisibilityMode = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			tc.opt(&o)
			c := NewCSV(nil, nil)
			c.SetSchema(flows.NewSchema(&o, fl[0]))
			line := c.AppendFlow(nil, fl[0])
			i := 0
			if n := testing.AllocsPerRun(1000, func() {
				line = c.AppendFlow(line[:0], fl[i%len(fl)])
				i++
			}); n != 0 {
				t.Errorf("%v allocations per row, want 0", n)
			}
		})
	}
}
