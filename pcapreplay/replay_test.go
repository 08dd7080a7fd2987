package pcapreplay

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

type countWriter struct{ n, bytes int }

func (w *countWriter) Write(b []byte) error { w.n++; w.bytes += len(b); return nil }

// fakeClock advances only when Replay sleeps.
type fakeClock struct {
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(d time.Duration) {
	c.now = c.now.Add(d)
	c.slept += d
}

func TestReplayPacing(t *testing.T) {
	demo := filepath.Join("..", "testdata", "demo.pcap")
	tests := []struct {
		name string
		opts ReplayOptions
		// wantSlept is the total sleep: 225 gaps at 1000 pps, none at top
		// speed, the capture's span with its own timing.
		wantSlept time.Duration
	}{
		{"pps", ReplayOptions{PPS: 1000}, 225 * time.Millisecond},
		{"topspeed", ReplayOptions{TopSpeed: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(demo)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			clk := &fakeClock{now: time.Unix(0, 0)}
			tt.opts.Sleep, tt.opts.Now = clk.Sleep, clk.Now
			var w countWriter
			st, err := Replay(context.Background(), r, &w, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Packets != 226 || w.n != 226 || uint64(w.bytes) != st.Bytes {
				t.Fatalf("sent %d packets (%d written)", st.Packets, w.n)
			}
			if d := clk.slept - tt.wantSlept; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("slept %v, want %v", clk.slept, tt.wantSlept)
			}
		})
	}
	t.Run("capture timing", func(t *testing.T) {
		r, err := Open(demo)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var first, last time.Duration
		var p Packet
		for i := 0; r.Next(&p) == nil; i++ {
			ts := time.Duration(p.Sec)*time.Second + time.Duration(p.Usec)*time.Microsecond
			if i == 0 {
				first = ts
			}
			last = ts
		}
		r2, _ := Open(demo)
		defer r2.Close()
		clk := &fakeClock{now: time.Unix(0, 0)}
		var w countWriter
		if _, err := Replay(context.Background(), r2, &w, ReplayOptions{Sleep: clk.Sleep, Now: clk.Now}); err != nil {
			t.Fatal(err)
		}
		if clk.slept != last-first {
			t.Errorf("slept %v, want the capture's span %v", clk.slept, last-first)
		}
	})
}
