package ndpi

import (
	"context"
	"testing"

	"github.com/nfmeter/nfmeter/internal/corpus"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

func TestCompatName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Skype_Teams.SkypeCall", "Skype_Teams.Skype_TeamsCall"},
		{"DCE_RPC", "RPC"},
		{"IPsec", "IPSec"},
		{"Z39.50", "Z3950"},
		{"TLS.Google", "TLS.Google"},
		{"Unknown", "Unknown"},
	}
	for _, tt := range tests {
		if got := compatName(tt.in); got != tt.want {
			t.Errorf("compatName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompatConfidence(t *testing.T) {
	for in, want := range map[int]int{0: 0, 1: 1, 2: 0, 3: 5, 4: 6} {
		if got := compatConfidence(in); got != want {
			t.Errorf("compatConfidence(%d) = %d, want %d", in, got, want)
		}
	}
}

// NFStream's test_fingerprint_extraction: facebook.pcap is TLS.Facebook,
// SocialNetwork, not guessed, DPI, with known SNIs, JA3 and JA3S.
func TestFacebookFingerprints(t *testing.T) {
	if !Available() {
		t.Skip("nDPI not built in (needs cgo and libndpi-dev)")
	}
	r, err := pcapreplay.Open(corpus.Pcap(t, "facebook.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o := flows.DefaultOptions()
	o.NewDissector = NewDissector(Options{NDissections: o.NDissections})
	st, err := flows.NewStreamer(r, o)
	if err != nil {
		t.Fatal(err)
	}
	sni := map[string]bool{"facebook.com": true, "www.facebook.com": true}
	ja3 := map[string]bool{"bfcc1a3891601edb4f137ab7ab25b840": true, "5c60e71f1b8cd40e4d40ed5b6d666e3f": true}
	ja3s := map[string]bool{"2d1eb5817ece335c24904f516ad5da12": true, "96681175a9547081bf3d417f1a572091": true}
	n := 0
	for f, err := range st.Flows(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		a := f.App
		if a == nil || a.Name != "TLS.Facebook" || a.CategoryName != "SocialNetwork" || a.IsGuessed != 0 || a.Confidence != 6 {
			t.Errorf("flow %d: %+v", f.ID, a)
			continue
		}
		if !sni[a.RequestedServerName] || !ja3[a.ClientFingerprint] || !ja3s[a.ServerFingerprint] {
			t.Errorf("flow %d: sni %q ja3 %q ja3s %q", f.ID, a.RequestedServerName, a.ClientFingerprint, a.ServerFingerprint)
		}
	}
	if n != 2 {
		t.Errorf("%d flows, want 2", n)
	}
}
