package quic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"crypto/hkdf"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// RFC 9001 Appendix A.1: keys of the client Initial for DCID 8394c8f03e515708.
func TestInitialKeysRFC9001(t *testing.T) {
	dcid := unhex(t, "8394c8f03e515708")
	initial, err := hkdf.Extract(sha256.New, dcid, saltV1)
	if err != nil {
		t.Fatal(err)
	}
	client := expandLabel(initial, "client in", 32)
	for _, tc := range []struct {
		label string
		n     int
		want  string
	}{
		{"quic key", 16, "1f369613dd76d5467730efcbe3b1a22d"},
		{"quic iv", 12, "fa044b2f42a3fd3b46fb255c"},
		{"quic hp", 16, "9f50449e04a0e810283a1e9933adedd2"},
	} {
		if got := expandLabel(client, tc.label, tc.n); !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("%s = %x, want %s", tc.label, got, tc.want)
		}
	}
	if want := unhex(t, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"); !bytes.Equal(client, want) {
		t.Errorf("client_initial_secret = %x", client)
	}
}

// Out-of-order CRYPTO pieces complete the hello only once all are there.
func TestCryptoReassembly(t *testing.T) {
	hello := []byte{1, 0, 0, 6, 3, 3, 'a', 'b', 'c', 'd'}
	var a Assembler
	a.addCrypto(6, hello[6:])
	if a.ClientHello() != nil {
		t.Fatal("complete with the start missing")
	}
	a.addCrypto(0, hello[:3])
	if a.ClientHello() != nil {
		t.Fatal("complete with a hole")
	}
	a.addCrypto(3, hello[3:6])
	if !bytes.Equal(a.ClientHello(), hello) {
		t.Fatalf("got %x", a.ClientHello())
	}
}

func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0xc3, 0xff, 0, 0, 0x1d, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x41, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Assembler
		a.AddDatagram(b)
		if h := a.ClientHello(); h != nil {
			ParseClientHello(h)
		}
		ParseClientHello(b)
	})
}
