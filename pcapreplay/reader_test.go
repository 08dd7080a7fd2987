package pcapreplay

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// rec is the comparable part of a Packet, or an expected error.
type rec struct {
	sec, usec int64
	capLen    uint32
	wireLen   uint32
	linkType  int
	err       error // sentinel the ReadError wraps, for error entries
	more      bool  // expected Recoverable for error entries
}

// mustReadAll reads r to io.EOF, returning packets and errors in order.
func mustReadAll(tb testing.TB, r *Reader) []rec {
	tb.Helper()
	var out []rec
	var p Packet
	for range 1000000 {
		err := r.Next(&p)
		if err == io.EOF {
			return out
		}
		if err != nil {
			re, ok := errors.AsType[*ReadError](err)
			if !ok {
				tb.Fatalf("Next: %T %v, want *ReadError", err, err)
			}
			out = append(out, rec{err: sentinelOf(re), more: re.Recoverable()})
			continue
		}
		if int(p.CapLen) != len(p.Data) {
			tb.Fatalf("CapLen %d, len(Data) %d", p.CapLen, len(p.Data))
		}
		out = append(out, rec{sec: p.Sec, usec: p.Usec, capLen: p.CapLen, wireLen: p.WireLen, linkType: p.LinkType})
	}
	tb.Fatal("Next never returned io.EOF")
	return nil
}

// sentinelOf returns the sentinel error err wraps.
func sentinelOf(err error) error {
	for _, s := range []error{ErrTruncated, ErrCapLen, ErrLinkTypeMismatch, ErrSnapLenMismatch,
		ErrUnknownInterface, ErrUnsupported, ErrMalformed} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// synth returns the synthetic case of that name.
func synth(tb testing.TB, name string) []byte {
	tb.Helper()
	for _, c := range syntheticCases() {
		if c.name == name {
			return c.data
		}
	}
	tb.Fatalf("no synthetic case %q", name)
	return nil
}

func TestRead(t *testing.T) {
	pkt := func(sec, usec int64, capLen, wireLen uint32) rec {
		return rec{sec: sec, usec: usec, capLen: capLen, wireLen: wireLen, linkType: 1}
	}
	fail := func(err error, more bool) rec { return rec{err: err, more: more} }
	tests := []struct {
		name string
		want []rec
	}{
		{"le-micro.pcap", []rec{pkt(1700000000, 123456, 60, 60), pkt(1700000001, 999999, 60, 1514)}},
		{"be-micro.pcap", []rec{pkt(1700000000, 123456, 60, 60), pkt(1700000002, 5, 60, 60)}},
		{"le-nano.pcap", []rec{pkt(1700000000, 123456, 60, 60), pkt(1700000000, 0, 60, 60),
			pkt(1700000000, -1, 60, 60)}},
		{"be-nano.pcap", []rec{pkt(1700000000, 999999, 60, 60)}},
		{"negative-ts.pcap", []rec{pkt(1953631157, -1404616, 60, 4093509168),
			pkt(-1<<31, -1<<31, 60, 60)}},
		// Big-endian files are byte-swapped on libpcap's hosts, and the
		// swapped timestamp fields come out unsigned.
		{"be-negative-ts.pcap", []rec{pkt(1953631157, 0xffea9138, 60, 60),
			pkt(1<<31, 1<<31, 60, 60)}},
		{"be-nano-negative.pcap", []rec{pkt(0xfffffff0, 0xfffffc17/1000, 60, 60)}},
		{"snap-zero.pcap", []rec{pkt(1, 2, 70000, 70000)}},
		{"snap-cut.pcap", []rec{pkt(1, 2, 64, 100), pkt(3, 4, 60, 60)}},
		// libpcap rejects the record header only and reads its data as
		// the next record.
		{"caplen-over-max.pcap", []rec{pkt(1, 2, 60, 60), fail(ErrCapLen, true),
			pkt(5, 6, 60, 60), pkt(7, 8, 60, 60)}},
		{"dbus-big.pcap", []rec{{sec: 1, usec: 2, capLen: 300000, wireLen: 300000, linkType: dltDBus}}},
		{"version-2.2.pcap", []rec{pkt(1, 2, 60, 100)}},
		{"version-2.3.pcap", []rec{pkt(1, 2, 60, 100), pkt(3, 4, 60, 100)}},
		{"version-543.pcap", []rec{pkt(1, 2, 60, 100)}},
		{"linktype-fcs.pcap", []rec{pkt(1, 2, 60, 60)}},
		{"linktype-raw.pcap", []rec{{sec: 1, usec: 2, capLen: 60, wireLen: 60, linkType: 12}}},
		{"linktype-106.pcap", []rec{{sec: 1, usec: 2, capLen: 60, wireLen: 60, linkType: 19}}},
		{"linktype-113.pcap", []rec{{sec: 1, usec: 2, capLen: 60, wireLen: 60, linkType: 113}}},
		{"kuznetzov.pcap", []rec{pkt(1, 2, 64, 64), pkt(3, 4, 60, 60)}},
		{"trunc-header.pcap", []rec{pkt(1, 2, 60, 60), fail(ErrTruncated, false)}},
		{"trunc-data.pcap", []rec{pkt(1, 2, 60, 60), fail(ErrTruncated, false)}},
		{"trunc-snap-cut.pcap", []rec{fail(ErrTruncated, false)}},
		{"header-only.pcap", nil},

		// 10^-9 with a +100 s offset, then 2^-10.
		{"ng-le.pcapng", []rec{pkt(1700000100, 123456, 60, 60), pkt(1700000000, 999023, 70, 70),
			pkt(100, 0, 61, 61)}},
		{"ng-be.pcapng", []rec{pkt(1700000100, 123456, 60, 60), pkt(1700000000, 999023, 70, 70),
			pkt(100, 0, 61, 61)}},
		// Simple packets: time 0, cut to the snapshot length, and an
		// error when the block is shorter than that.
		{"ng-spb.pcapng", []rec{pkt(0, 0, 64, 100), pkt(0, 0, 10, 10), fail(ErrMalformed, true)}},
		{"ng-pb.pcapng", []rec{pkt(1700000000, 123000, 60, 60)}},
		{"ng-sections.pcapng", []rec{pkt(1700000000, 123456, 60, 60), pkt(1700000000, 123456, 60, 60),
			fail(ErrUnknownInterface, true), fail(ErrMalformed, true), pkt(1700000000, 123456, 60, 60)}},
		{"ng-linktype-mismatch.pcapng", []rec{fail(ErrLinkTypeMismatch, true), pkt(0, 1, 60, 60),
			fail(ErrUnknownInterface, true), pkt(0, 3, 60, 60)}},
		// libpcap compares DLT_RAW (12) of the first interface with
		// LINKTYPE_RAW (101) of the second.
		{"ng-raw-two-idb.pcapng", []rec{fail(ErrLinkTypeMismatch, true),
			{usec: 1, capLen: 60, wireLen: 60, linkType: 12}, fail(ErrUnknownInterface, true)}},
		{"ng-snaplen-mismatch.pcapng", []rec{fail(ErrSnapLenMismatch, true), fail(ErrSnapLenMismatch, true),
			pkt(0, 1, 60, 60), fail(ErrUnknownInterface, true), fail(ErrUnknownInterface, true)}},
		{"ng-caplen-over-snap.pcapng", []rec{fail(ErrCapLen, true), pkt(0, 2, 60, 60)}},
		{"ng-caplen-over-max.pcapng", []rec{fail(ErrCapLen, true), pkt(0, 2, 60, 60)}},
		{"ng-unknown-blocks.pcapng", []rec{pkt(0, 5, 60, 60)}},
		{"ng-bad-trailer.pcapng", []rec{pkt(0, 1, 60, 60), fail(ErrMalformed, true), pkt(0, 3, 60, 60)}},
		{"ng-epb-short.pcapng", []rec{fail(ErrMalformed, true), pkt(0, 2, 60, 60)}},
		{"ng-epb-caplen-beyond-block.pcapng", []rec{fail(ErrMalformed, true), pkt(0, 2, 60, 60)}},
		{"ng-trunc.pcapng", []rec{pkt(0, 1, 60, 60), fail(ErrTruncated, false)}},
		{"ng-trunc-header.pcapng", []rec{pkt(0, 1, 60, 60), fail(ErrTruncated, false)}},
		// The big-endian section's length reads as 469762048 in little
		// endian: libpcap skips the 8-byte block header and then finds a
		// block longer than the rest of the file.
		{"ng-shb-other-order.pcapng", []rec{pkt(0, 1, 60, 60), fail(ErrMalformed, true),
			fail(ErrTruncated, false)}},
		{"ng-tsoffset.pcapng", []rec{pkt(1700000000-1<<63, 123456, 60, 60), pkt(1700000000-100, 123456, 60, 60)}},
		{"ng-tsresol-bad.pcapng", []rec{fail(ErrMalformed, true), fail(ErrMalformed, true),
			fail(ErrMalformed, true), pkt(0, 1, 60, 60)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := mustWriteFile(t, tt.name, synth(t, tt.name))
			got := mustReadAll(t, mustOpen(t, path))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("record %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestTruncatedError(t *testing.T) {
	tests := []struct {
		name   string
		offset int64
		msg    string
	}{
		{"trunc-data.pcap", 100, "truncated record (header says 98 bytes, 40 left)"},
		{"trunc-header.pcap", 100, "truncated record (record header has 10 of 16 bytes)"},
		{"ng-trunc.pcapng", 140, "truncated record (header says 92 bytes, 42 left)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := mustWriteFile(t, tt.name, synth(t, tt.name))
			r := mustOpen(t, path)
			var p Packet
			if err := r.Next(&p); err != nil {
				t.Fatalf("first Next: %v", err)
			}
			err := r.Next(&p)
			re, ok := errors.AsType[*ReadError](err)
			if !ok {
				t.Fatalf("second Next: %v, want *ReadError", err)
			}
			if re.File != path || re.Offset != tt.offset || re.Recoverable() || !errors.Is(err, ErrTruncated) {
				t.Errorf("got %+v (recoverable %v), want file %q offset %d", re, re.Recoverable(), path, tt.offset)
			}
			want := `read capture "` + path + `" at byte ` + itoa(tt.offset) + ": " + tt.msg
			if err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
			if err := r.Next(&p); err != io.EOF {
				t.Errorf("after truncation: %v, want io.EOF", err)
			}
		})
	}
}

func itoa(n int64) string {
	var b []byte
	return string(appendInt(b, n))
}

func appendInt(b []byte, n int64) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name string
		path string
		is   error
		msg  string // suffix after `open capture "<path>": `
	}{
		{"missing", filepath.Join(dir, "nope.pcap"), fs.ErrNotExist, "no such file or directory"},
		{"directory", dir, ErrIsDirectory, "is a directory"},
		{"empty", write("empty.pcap", nil), ErrEmpty, "empty file"},
		{"garbage", write("x.pcap", synth(t, "garbage.pcap")), ErrNotCapture,
			"not a pcap or pcapng file (magic 0x68656c6c)"},
		{"tiny", write("tiny.pcap", synth(t, "tiny.pcap")), ErrTruncated,
			"truncated record (file header has 2 of 4 bytes)"},
		{"shb type only", write("crlf.pcapng", synth(t, "crlf.pcapng")), ErrNotCapture,
			"not a pcap or pcapng file (magic 0x0a0d0d0a)"},
		{"short header", write("short.pcap", synth(t, "short-file-header.pcap")), ErrTruncated,
			"truncated record (pcap file header has 10 of 24 bytes)"},
		{"pcap too old", write("v1.pcap", synth(t, "version-1.0.pcap")), ErrUnsupported,
			"unsupported capture format: pcap version 1.0 is too old"},
		{"pcap version", write("v25.pcap", synth(t, "version-2.5.pcap")), ErrUnsupported,
			"unsupported capture format: pcap version 2.5"},
		{"pcapng version", write("v11.pcapng", synth(t, "ng-version-1.1.pcapng")), ErrUnsupported,
			"unsupported capture format: pcapng version 1.1"},
		{"pcapng no idb", write("noidb.pcapng", synth(t, "ng-no-idb.pcapng")), ErrMalformed,
			"malformed capture: no interface description block"},
		{"pcapng packet first", write("epb.pcapng", synth(t, "ng-epb-before-idb.pcapng")), ErrMalformed,
			"block at byte 28: malformed capture: packet block before any interface description block"},
		{"pcapng shb length", write("shb.pcapng", synth(t, "ng-shb-too-long.pcapng")), ErrMalformed,
			"malformed capture: section header block length 2097152"},
		{"pcapng bad option", write("opt.pcapng", synth(t, "ng-first-idb-bad-option.pcapng")), ErrMalformed,
			"block at byte 28: malformed capture: if_tsresol 10^-99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.path)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			oe, ok := errors.AsType[*OpenError](err)
			if !ok || oe.File != tt.path || !errors.Is(err, tt.is) {
				t.Fatalf("Open: %T %v, want *OpenError for %q wrapping %v", err, err, tt.path, tt.is)
			}
			if want := `open capture "` + tt.path + `": ` + tt.msg; err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
		})
	}
	if _, err := Open(); err == nil {
		t.Error("Open() without paths succeeded")
	}
	good := write("good.pcap", synth(t, "le-micro.pcap"))
	garbage := write("garbage.pcap", synth(t, "garbage.pcap"))
	if _, err := Open(good, garbage); !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), garbage) {
		t.Errorf("Open with a later garbage file: %v, want ErrNotCapture naming it", err)
	}
}

func TestMultiFile(t *testing.T) {
	a := mustWriteFile(t, "a.pcap", synth(t, "linktype-113.pcap"))
	b := mustWriteFile(t, "b.pcapng", synth(t, "ng-le.pcapng"))
	bad := mustWriteFile(t, "bad.pcap", synth(t, "version-2.5.pcap"))
	c := mustWriteFile(t, "c.pcap", synth(t, "trunc-data.pcap"))
	d := mustWriteFile(t, "d.pcap", synth(t, "linktype-raw.pcap"))
	r := mustOpen(t, a, b, bad, c, d)
	var total int64
	for _, path := range []string{a, b, bad, c, d} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	if r.TotalBytes() != total {
		t.Errorf("TotalBytes %d, want %d", r.TotalBytes(), total)
	}
	if r.LinkType() != 113 || r.BytesRead() != 24 {
		t.Errorf("after Open: LinkType %d BytesRead %d, want 113 and 24", r.LinkType(), r.BytesRead())
	}
	type step struct {
		file     string
		linkType int
		err      string // substring of the error, "" for a packet
	}
	want := []step{
		{a, 113, ""},
		{b, 1, ""}, {b, 1, ""}, {b, 1, ""},
		{bad, 1, `open capture "` + bad + `": unsupported capture format: pcap version 2.5`},
		{c, 1, ""}, {c, 1, "truncated record"},
		{d, 12, ""},
	}
	var p Packet
	for i, w := range want {
		err := r.Next(&p)
		switch {
		case w.err == "" && err != nil:
			t.Fatalf("step %d: %v", i, err)
		case w.err == "" && (p.File != w.file || p.LinkType != w.linkType || r.LinkType() != w.linkType):
			t.Errorf("step %d: packet from %q link type %d (reader %d), want %q %d",
				i, p.File, p.LinkType, r.LinkType(), w.file, w.linkType)
		case w.err != "" && (err == nil || !strings.Contains(err.Error(), w.err)):
			t.Errorf("step %d: error %v, want one containing %q", i, err, w.err)
		}
	}
	if err := r.Next(&p); err != io.EOF {
		t.Fatalf("after the last file: %v, want io.EOF", err)
	}
	if r.BytesRead() != total {
		t.Errorf("BytesRead %d at the end, want %d", r.BytesRead(), total)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestTimeMs(t *testing.T) {
	tests := []struct {
		name      string
		sec, usec int64
		want      uint64
	}{
		{"plain", 1700000000, 123456, 1700000000123},
		{"sub-millisecond dropped", 1, 1999, 1001},
		{"negative usec", 1953631157, -1404616, 1953631155596},
		{"negative usec above -1000", 5, -999, 5000},
		{"usec above a second", 5, 2500000, 7500},
		{"negative sec wraps", -1, 0, 1<<64 - 1000},
		{"zero", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Packet{Sec: tt.sec, Usec: tt.usec}
			if got := p.TimeMs(); got != tt.want {
				t.Errorf("TimeMs() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNextAllocs(t *testing.T) {
	b := newLEPcap(65535, 1)
	data := payload(1514)
	for i := range 3000 {
		b.record(uint32(i), uint32(i), uint32(60+i%1400), data[:60+i%1400])
	}
	ng := newNg(le).idb(1, 0, tsresol(9))
	for i := range 3000 {
		ng.epb(0, uint64(i)*1e9, uint32(60+i%1400), data[:60+i%1400])
	}
	paths := []string{
		mustWriteFile(t, "many.pcap", b.bytes()),
		mustWriteFile(t, "many.pcapng", ng.bytes()),
	}
	if dir, err := corpus.Find(); err == nil {
		for _, name := range []string{"alexa-app.pcapng", "1kxun.pcap"} {
			if path := filepath.Join(dir, "nfstream", "pcaps", name); fileExists(path) {
				paths = append(paths, path)
			}
		}
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := mustOpen(t, path)
			var p Packet
			allocs := testing.AllocsPerRun(1000, func() {
				if err := r.Next(&p); err != nil {
					t.Fatalf("Next: %v", err)
				}
			})
			if allocs != 0 {
				t.Errorf("Next allocates %.1f times per packet, want 0", allocs)
			}
		})
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
