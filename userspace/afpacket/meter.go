package afpacket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync/atomic"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows"
)

// MeterOptions configures a [Meter].
type MeterOptions struct {
	// Flow are the engine's options. Flow.NMeters is the number of sockets
	// in the fanout group (0: one per CPU, at most 8), read in parallel
	// and metered by one streamer with the engine's parallel pipeline of
	// as many meters, so that the flows and their labels are those of an
	// offline run whatever the number (see the package documentation).
	Flow flows.Options
	// Socket configures every socket. A zero Snaplen means
	// Flow.SnapshotLength; the fanout fields are the meter's, and
	// FanoutKeepFragments is always set (NFStream meters the first
	// fragment of a datagram and ignores the others, as offline).
	// PollTimeout is the interval of the idle ticks and how long a
	// stopping meter waits for frames still coming; the sockets of a
	// group of several wait a few milliseconds at a time, so that the
	// merge of their frames moves on.
	Socket Options
}

// Meter meters the live traffic of an interface with the userspace
// engine: an AF_PACKET fanout group of sockets read in parallel, their
// frames merged in time order into one [flows.Streamer], its flows
// numbered by [flows.Merge]. Flows of a quiet interface expire on time
// (the poll timeout is an idle tick).
// It has the shape of the kernel path's meter: [Meter.Flows],
// [Meter.Counters], [Meter.Close].
type Meter struct {
	ifname  string
	group   *Group
	sts     []*flows.Streamer
	fi      *fanIn // the sockets merged, with more than one; nil for one socket
	maxN    uint64
	stopped atomic.Int64 // unix ns when Flows' ctx was cancelled; 0 before
}

// NewMeter opens the fanout group on ifname and prepares its readers and
// the streamer. Option errors are the engine's [*flows.ParamError]s.
func NewMeter(ifname string, o MeterOptions) (*Meter, error) {
	n := o.Flow.Meters()
	so := o.Socket
	if so.Snaplen == 0 {
		so.Snaplen = o.Flow.SnapshotLength
	}
	so.FanoutKeepFragments = true
	poll := so.PollTimeout
	if n > 1 {
		if poll == 0 {
			poll = DefaultPollTimeout
		}
		so.PollTimeout = fanInPoll // the readers' watermarks move on this often
	}
	g, err := OpenFanout(ifname, n, so)
	if err != nil {
		return nil, err
	}
	m := &Meter{ifname: ifname, group: g, maxN: o.Flow.MaxNFlows}
	fo := o.Flow
	fo.MaxNFlows = 0 // counted over the merged flows
	var src flows.Source
	if n > 1 {
		bt := so.BlockTimeout
		if bt == 0 {
			bt = DefaultBlockTimeout
		}
		m.fi = newFanIn(g.Sockets(), poll, bt, &m.stopped)
		src = m.fi
		fo.NMeters = n // the engine's parallel pipeline: n-1 decoders
	} else {
		src = &liveSource{s: g.Sockets()[0], stopped: &m.stopped}
		fo.NMeters = 1
	}
	st, err := flows.NewStreamer(src, fo)
	if err != nil {
		g.Close()
		return nil, err
	}
	m.sts = append(m.sts, st)
	return m, nil
}

// String describes the capture, for logs.
func (m *Meter) String() string {
	return fmt.Sprintf("AF_PACKET (TPACKET_V3, fanout of %d) on %s", len(m.group.Sockets()), m.ifname)
}

// Flows meters until ctx is cancelled, yielding every finished flow with
// ids 0, 1, 2, ... up to Flow.MaxNFlows. On cancellation the sockets
// deliver what their rings still hold (for at most [DrainLimit]), then
// every flow still open is yielded, and Flows returns without error. An
// error of a socket or a streamer ends the capture and is yielded. Iterate
// once.
func (m *Meter) Flows(ctx context.Context) iter.Seq2[*flows.Flow, error] {
	ps := make([]flows.Producer, len(m.sts))
	for i, st := range m.sts {
		ps[i] = st
	}
	merged := flows.Merge(context.WithoutCancel(ctx), ps, m.maxN)
	return func(yield func(*flows.Flow, error) bool) {
		stopWatch := context.AfterFunc(ctx, func() { m.stopped.Store(time.Now().UnixNano()) })
		defer stopWatch()
		if m.fi != nil {
			m.fi.start()
			defer m.fi.stop()
		}
		merged(yield)
	}
}

// Counters are a [Meter]'s totals: the engine's and the sockets'.
type Counters struct {
	Read      uint64 // frames the sockets delivered
	Processed uint64 // frames metered
	Ignored   uint64 // frames NFStream ignores (not IP, truncated, ...)
	Filtered  uint64 // frames rejected by the BPF filter
	Flows     uint64 // flows the streamer ended (more than Flows yields after max_nflows)
	// PerMeter is the share of each socket (NFStream's meters): the frames
	// it delivered to the engine, or, with one socket, the frames metered.
	PerMeter []uint64
	// Late counts the frames of a fanout group that came from their
	// socket later than its watermark had promised (an earlier frame
	// after a later one): they were metered when they came, not in time
	// order. Always 0 with one socket.
	Late    uint64
	Sockets Stats // the sockets' counters, summed
}

// Counters returns the meter's counters. The engine's are always filled
// in; an error reading the sockets' leaves Sockets zero.
func (m *Meter) Counters() (Counters, error) {
	var c Counters
	for _, st := range m.sts {
		sc := st.Counters()
		p := sc.PacketsProcessed.Load()
		c.Read += sc.PacketsRead.Load()
		c.Processed += p
		c.Ignored += sc.PacketsIgnored.Load()
		c.Filtered += sc.PacketsFiltered.Load()
		c.Flows += sc.Flows.Load()
		c.PerMeter = append(c.PerMeter, p)
	}
	if m.fi != nil {
		c.Late = m.fi.late()
		c.PerMeter = m.fi.perSocket()
	}
	gs, err := m.group.Stats()
	if err != nil {
		return c, err
	}
	c.Sockets = gs
	return c, nil
}

// Close closes the sockets (see [Socket.Close]); a Flows iteration then
// ends. Closing twice does nothing.
func (m *Meter) Close() error { return m.group.Close() }

// DrainLimit bounds how long the sockets of a stopping [Meter] keep
// delivering frames that are still coming.
const DrainLimit = time.Second

// liveSource is a socket as the streamer's source: the poll timeout
// becomes [flows.ErrIdle], so that flows expire while the interface is
// quiet. Once the meter stops (the time it began is in stopped), it reads
// what the ring still holds and then ends (io.EOF), within DrainLimit.
type liveSource struct {
	s       *Socket
	stopped *atomic.Int64 // unix ns; 0 while running
}

func (l *liveSource) Next(f *flows.Frame) error {
	err := l.s.Next(f)
	if since := l.stopped.Load(); since != 0 {
		if errors.Is(err, ErrTimeout) || time.Now().UnixNano()-since > int64(DrainLimit) {
			return io.EOF
		}
	}
	if errors.Is(err, ErrTimeout) {
		return flows.Idle(f, time.Now())
	}
	return err
}
