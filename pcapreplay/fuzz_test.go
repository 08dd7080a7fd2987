package pcapreplay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
)

// seedCaptures are conformance captures whose first bytes seed the fuzz
// targets: both classic byte orders, pcapng of both byte orders, and
// several link types.
var seedCaptures = []string{
	"fuzz-2021-06-07-c6c72a0a56.pcap",
	"alexa-app.pcapng",
	"dhcp_big_endian.pcapng",
	"dhcp_little_endian.pcapng",
	"KakaoTalk_chat.pcap",
	"BGP_redist.pcap",
	"rdp.pcap",
	"1kxun.pcap",
	"reasm_crash_anon.pcapng",
}

// seedPrefix is how much of each conformance capture is used as a seed.
const seedPrefix = 4096

// addSeeds adds the synthetic captures and the first bytes of some
// conformance captures to a fuzz corpus.
func addSeeds(f *testing.F) {
	for _, c := range syntheticCases() {
		f.Add(c.data[:min(len(c.data), 2*seedPrefix)])
	}
	dir, err := corpus.Find()
	if err != nil {
		return
	}
	for _, name := range seedCaptures {
		data, err := os.ReadFile(filepath.Join(dir, "nfstream", "pcaps", name))
		if err != nil {
			continue // the corpus may be partial
		}
		f.Add(data[:min(len(data), seedPrefix)])
	}
}

// FuzzReader reads arbitrary bytes as a capture, as libpcap does and
// with resynchronisation: it must never panic, loop, or return anything
// but packets consistent with their headers, io.EOF, *OpenError and
// *ReadError. A file that reads without error reads the same both ways.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		exact := checkRead(t, data, Options{})
		resync := checkRead(t, data, Options{Resync: true})
		if !strings.Contains(exact, "err\n") && exact != resync {
			t.Fatalf("an undamaged file reads differently with Resync at %s", firstDiff(exact, resync))
		}
	})
}

// checkRead reads data with opts, checks every result, and returns the
// dump of what was read.
func checkRead(t *testing.T, data []byte, opts Options) string {
	t.Helper()
	r, err := newReader(bytes.NewReader(data), "fuzz", int64(len(data)), opts)
	if err != nil {
		if _, ok := errors.AsType[*OpenError](err); !ok {
			t.Fatalf("newReader error %T: %v", err, err)
		}
		return "openerr\n"
	}
	var sb strings.Builder
	var p Packet
	// Every call consumes at least 8 bytes, so this bounds the calls.
	for range len(data) + 2 {
		err := r.Next(&p)
		if err == io.EOF {
			if got := r.BytesRead(); got > int64(len(data)) {
				t.Fatalf("BytesRead %d > input %d", got, len(data))
			}
			return sb.String()
		}
		if err != nil {
			if _, ok := errors.AsType[*ReadError](err); !ok {
				t.Fatalf("Next error %T: %v", err, err)
			}
			sb.WriteString("err\n")
			continue
		}
		if int(p.CapLen) != len(p.Data) {
			t.Fatalf("CapLen %d but %d bytes of data", p.CapLen, len(p.Data))
		}
		if p.Offset < 0 || p.Offset >= int64(len(data)) {
			t.Fatalf("Offset %d outside input of %d bytes", p.Offset, len(data))
		}
		fmt.Fprintf(&sb, "pkt %d %d.%d %d %d %016x\n", p.Offset, p.Sec, p.Usec, p.CapLen, p.WireLen, fnv64(p.Data))
	}
	t.Fatalf("no io.EOF after %d calls", len(data)+2)
	return ""
}
