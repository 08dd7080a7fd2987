package pcapreplay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// FrameWriter sends frames, like [Injector].
type FrameWriter interface {
	Write(frame []byte) error
}

// ReplayOptions sets the pace of [Replay]. With neither PPS nor TopSpeed
// the capture's own timing is kept.
type ReplayOptions struct {
	PPS      float64 // packets per second, 0 for the capture's timing
	TopSpeed bool    // as fast as possible
	// Sleep and Now are the clock (tests inject a fake one); nil uses time.
	Sleep func(time.Duration)
	Now   func() time.Time
}

// ReplayStats counts what Replay did.
type ReplayStats struct {
	Packets, Bytes uint64
	Skipped        uint64 // records that were not Ethernet or could not be read
}

// Replay sends every Ethernet frame of r to w at the chosen pace until the
// capture ends or ctx is cancelled.
func Replay(ctx context.Context, r *Reader, w FrameWriter, o ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	if o.PPS < 0 {
		return st, fmt.Errorf("replay: pps %v must be >= 0", o.PPS)
	}
	sleep, now := o.Sleep, o.Now
	if sleep == nil {
		sleep = time.Sleep
	}
	if now == nil {
		now = time.Now
	}
	var (
		p         Packet
		start     time.Time
		firstTime time.Duration
		started   bool
	)
	for {
		if st.Packets&255 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		err := r.Next(&p)
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			var re *ReadError
			if errors.As(err, &re) && re.Recoverable() {
				st.Skipped++
				continue
			}
			return st, err
		}
		if p.LinkType != 1 {
			st.Skipped++
			continue
		}
		if !started {
			start, firstTime, started = now(), time.Duration(p.Sec)*time.Second+time.Duration(p.Usec)*time.Microsecond, true
		}
		switch {
		case o.TopSpeed:
		case o.PPS > 0:
			due := start.Add(time.Duration(float64(st.Packets) / o.PPS * float64(time.Second)))
			if d := due.Sub(now()); d > 0 {
				sleep(d)
			}
		default:
			at := time.Duration(p.Sec)*time.Second + time.Duration(p.Usec)*time.Microsecond - firstTime
			if d := start.Add(at).Sub(now()); d > 0 {
				sleep(d)
			}
		}
		if err := w.Write(p.Data); err != nil {
			return st, err
		}
		st.Packets++
		st.Bytes += uint64(len(p.Data))
	}
}
