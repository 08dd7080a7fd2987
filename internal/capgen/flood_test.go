package capgen_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfmeter/nfmeter/internal/capgen"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// floodKeys decodes the flood capture's flows.
func floodKeys(t *testing.T, crafted bool) []flows.Key {
	t.Helper()
	var buf bytes.Buffer
	if err := capgen.WriteFlood(&buf, 500, crafted, 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flood.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := pcapreplay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var (
		p    pcapreplay.Packet
		d    flows.Decoded
		keys []flows.Key
	)
	for {
		if err := r.Next(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return keys
			}
			t.Fatal(err)
		}
		if !flows.Decode(&d, p.Data, p.LinkType, p.WireLen, false) {
			t.Fatalf("packet %d not decoded", len(keys))
		}
		k, srcIsLo := flows.KeyOf(&d)
		if !srcIsLo || d.Protocol != 17 || d.IPVersion != 6 {
			t.Fatalf("packet %d: %+v", len(keys), d)
		}
		keys = append(keys, k)
	}
}

// The crafted flood is distinct flows that all share one Key.Hash; the
// random one's hashes are all different.
func TestFloodCollides(t *testing.T) {
	for _, crafted := range []bool{true, false} {
		keys := floodKeys(t, crafted)
		if len(keys) != 500 {
			t.Fatalf("crafted %v: %d packets, want 500", crafted, len(keys))
		}
		seen, hashes := map[flows.Key]bool{}, map[uint64]bool{}
		for _, k := range keys {
			seen[k] = true
			hashes[k.Hash()] = true
		}
		want := 500
		if crafted {
			want = 1
		}
		if len(seen) != 500 || len(hashes) != want {
			t.Errorf("crafted %v: %d distinct keys, %d distinct hashes; want 500 and %d", crafted, len(seen), len(hashes), want)
		}
	}
}
