package pcapreplay

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// benchCapture builds an in-memory capture of n packets of mixed sizes.
func benchCapture(ng bool, n int) []byte {
	data := payload(1514)
	if ng {
		b := newNg(le).idb(1, 0, tsresol(9))
		for i := range n {
			size := 60 + i*97%1455
			b.epb(0, 1700000000e9+uint64(i)*1000, uint32(size), data[:size])
		}
		return b.bytes()
	}
	b := newLEPcap(65535, 1)
	for i := range n {
		size := 60 + i*97%1455
		b.record(1700000000+uint32(i/1000), uint32(i%1000*1000), uint32(size), data[:size])
	}
	return b.bytes()
}

// BenchmarkReader measures Next over in-memory captures and, when the
// corpus is present, over conformance files on disk.
func BenchmarkReader(b *testing.B) {
	for _, ng := range []bool{false, true} {
		name := "memory-pcap"
		if ng {
			name = "memory-pcapng"
		}
		b.Run(name, func(b *testing.B) {
			capture := benchCapture(ng, 20000)
			open := func() *Reader {
				r, err := newReader(bytes.NewReader(capture), name, int64(len(capture)), Options{})
				if err != nil {
					b.Fatal(err)
				}
				return r
			}
			benchNext(b, open)
		})
	}
	dir, err := corpus.Find()
	if err != nil {
		return
	}
	for _, file := range []string{"anydesk.pcap", "anydesk-2.pcap"} {
		path := filepath.Join(dir, "nfstream", "pcaps", file)
		if !fileExists(path) {
			continue
		}
		b.Run("file-"+file, func(b *testing.B) {
			benchNext(b, func() *Reader { return mustOpen(b, path) })
		})
	}
}

// benchNext calls Next b.N times, reopening at the end of the capture,
// and reports packets per second.
func benchNext(b *testing.B, open func() *Reader) {
	r := open()
	var p Packet
	var bytesRead int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		err := r.Next(&p)
		if err == io.EOF {
			r.Close()
			r = open()
			err = r.Next(&p)
		}
		if err != nil {
			b.Fatal(err)
		}
		bytesRead += int64(p.CapLen)
	}
	b.StopTimer()
	r.Close()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "packets/s")
		b.ReportMetric(float64(bytesRead)/s/1e6, "MB/s")
	}
}
