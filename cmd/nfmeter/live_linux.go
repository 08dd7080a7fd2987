//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/afpacket"
	"github.com/nfmeter/nfmeter/userspace/flows"
	"github.com/nfmeter/nfmeter/userspace/kmeter"
)

// startLive attaches the capture path --mode asks for (auto: the kernel
// path with XDP, then with TC, then AF_PACKET).
func startLive(ctx context.Context, cfg *config, opts flows.Options, logf func(string, ...any)) (*liveRun, error) {
	if _, err := net.InterfaceByName(cfg.iface); err != nil {
		return nil, fmt.Errorf("--interface %s: no such network interface", cfg.iface)
	}
	run, err := startMode(ctx, cfg, opts, logf)
	if err != nil && errors.Is(err, unix.EPERM) {
		err = fmt.Errorf("%w (live capture needs root, or CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON and CAP_NET_RAW)", err)
	}
	return run, err
}

func startMode(ctx context.Context, cfg *config, opts flows.Options, logf func(string, ...any)) (*liveRun, error) {
	switch cfg.mode {
	case "xdp":
		return startKernel(ctx, cfg, opts, kmeter.HookXDP, logf)
	case "tc":
		return startKernel(ctx, cfg, opts, kmeter.HookTC, logf)
	case "afpacket":
		return startAFPacket(ctx, cfg, opts)
	}
	if err := kmeter.Supports(&opts); err != nil {
		logf("%s: using AF_PACKET", unsupported(err))
		return startAFPacket(ctx, cfg, opts)
	}
	sup := kmeter.Probe()
	for _, h := range []kmeter.Hook{kmeter.HookXDP, kmeter.HookTC} {
		if err := sup.Usable(h); err != nil {
			logf("kernel path with %s unavailable: %v", h, err)
			continue
		}
		run, err := startKernel(ctx, cfg, opts, h, logf)
		if err == nil {
			return run, nil
		}
		logf("kernel path with %s: %v", h, err)
	}
	logf("falling back to AF_PACKET")
	return startAFPacket(ctx, cfg, opts)
}

// startKernel starts the kernel path with hook h; its warnings go to
// logf.
func startKernel(ctx context.Context, cfg *config, opts flows.Options, h kmeter.Hook, logf func(string, ...any)) (*liveRun, error) {
	ko := cfg.kernelOptions()
	ko.Flow = opts
	ko.Logger = slog.New(logfHandler{func(format string, a ...any) { logf("warning: kernel path: "+format, a...) }})
	m, err := kmeter.New(ko)
	if errors.Is(err, kmeter.ErrUnsupported) {
		return nil, fmt.Errorf("--mode %s: %s: use --mode afpacket", h, unsupported(err))
	}
	if err != nil {
		return nil, fmt.Errorf("--mode %s: %w", h, err)
	}
	// NFMETER_TC_ATTACH=clsact takes the path of kernels without TCX
	// (tests use it; so can a host whose TCX links misbehave).
	att, err := m.Attach(cfg.iface, h, kmeter.AttachOptions{Clsact: os.Getenv("NFMETER_TC_ATTACH") == "clsact"})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("--interface %s: %w", cfg.iface, err)
	}
	return &liveRun{
		desc:  att.String(),
		flows: m.Flows(ctx),
		stats: func() liveStats {
			c, err := m.Counters()
			if err != nil {
				return liveStats{}
			}
			processed := c.Seen - c.Ignored - c.PuntIgnored - c.PuntLost
			return liveStats{
				Processed: processed,
				Ignored:   c.Ignored + c.PuntIgnored,
				Dropped:   c.PuntLost,
				Balance:   []uint64{processed},
				Losses: map[string]uint64{
					"frames_seen": c.Seen, "frames_punted": c.Punted, "punted_applied": c.Applied,
					"map_full": c.MapFull, "userspace_flows": c.PuntFlows,
					"punted_frames_lost": c.PuntLost, "packet_copies_lost": c.PacketLost,
					"ended_flows_lost": c.FlowEndLost, "splt_gaps": c.SPLTGaps,
				},
			}
		},
		close: sync.OnceValue(m.Close),
	}, nil
}

// idleSocket turns the socket's poll timeout into flows.ErrIdle, so that
// flows expire while the interface is quiet. Once stopping (the time it
// began is in stop), it reads what the ring still holds and then ends the
// source, within drainLimit.
type idleSocket struct {
	s    *afpacket.Socket
	stop *atomic.Int64 // unix ns; 0 while running
}

// drainLimit bounds how long a stopping socket keeps reading frames that
// are still coming.
const drainLimit = time.Second

func (i idleSocket) Next(p *pcapreplay.Packet) error {
	err := i.s.Next(p)
	if since := i.stop.Load(); since != 0 {
		if errors.Is(err, afpacket.ErrTimeout) || time.Now().UnixNano()-since > int64(drainLimit) {
			return io.EOF
		}
	}
	if errors.Is(err, afpacket.ErrTimeout) {
		return flows.Idle(p, time.Now())
	}
	return err
}

// startAFPacket opens one AF_PACKET socket per meter in a fanout group,
// each metered by its own streamer, as NFStream's meters are.
func startAFPacket(ctx context.Context, cfg *config, opts flows.Options) (*liveRun, error) {
	n := int(cfg.nMeters)
	if n == 0 {
		n = min(runtime.GOMAXPROCS(0), 8)
	}
	g, err := afpacket.OpenFanout(cfg.iface, n, afpacket.Options{
		Snaplen: int(cfg.snapshotLength), Promiscuous: cfg.promisc, SocketBufferSize: int(cfg.socketBufferSize),
		// Fragments stay fragments: NFStream meters the first and ignores
		// the others, as offline.
		FanoutKeepFragments: true,
	})
	if err != nil {
		return nil, fmt.Errorf("--interface %s: %w", cfg.iface, err)
	}
	o := opts
	o.NMeters = 1
	o.MaxNFlows = 0
	var sts []*flows.Streamer
	stop := new(atomic.Int64)
	for _, s := range g.Sockets() {
		st, err := flows.NewStreamer(idleSocket{s, stop}, o)
		if err != nil {
			g.Close()
			return nil, flagError(err)
		}
		sts = append(sts, st)
	}
	return &liveRun{
		desc:  fmt.Sprintf("AF_PACKET (TPACKET_V3, fanout of %d) on %s", n, cfg.iface),
		flows: mergeStreamers(ctx, stop, sts, opts.MaxNFlows),
		stats: func() liveStats {
			var st liveStats
			for _, s := range sts {
				c := s.Counters()
				p := c.PacketsProcessed.Load()
				st.Processed += p
				st.Ignored += c.PacketsIgnored.Load() + c.PacketsFiltered.Load()
				st.Balance = append(st.Balance, p)
			}
			if gs, err := g.Stats(); err == nil {
				st.Dropped = gs.Dropped
				st.Losses = map[string]uint64{"kernel_dropped": gs.Dropped, "ring_freezes": gs.Freezes, "truncated": gs.Truncated}
			}
			return st
		},
		close: sync.OnceValue(g.Close),
	}, nil
}

// mergeStreamers runs each streamer on its own goroutine and yields their
// flows with one id sequence. Cancelling ctx sets stop: the sources read
// what was already captured and end, and the streamers emit every open
// flow; that is not an error.
func mergeStreamers(ctx context.Context, stop *atomic.Int64, sts []*flows.Streamer, maxN uint64) iter.Seq2[*flows.Flow, error] {
	return func(yield func(*flows.Flow, error) bool) {
		inner, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-ctx.Done():
				stop.Store(time.Now().UnixNano())
			case <-inner.Done():
			}
		}()
		type item struct {
			f   *flows.Flow
			err error
		}
		ch := make(chan item, 256)
		var wg sync.WaitGroup
		for _, st := range sts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f, err := range st.Flows(inner) {
					if err != nil && errors.Is(err, context.Canceled) {
						return
					}
					ch <- item{f, err}
					if err != nil {
						return
					}
				}
			}()
		}
		go func() {
			wg.Wait()
			close(ch)
		}()
		var id uint64
		stopped := false
		for it := range ch {
			if stopped {
				continue
			}
			if it.err != nil {
				stopped = true
				cancel()
				yield(nil, it.err)
				continue
			}
			it.f.ID = id
			id++
			if !yield(it.f, nil) || (maxN > 0 && id >= maxN) {
				stopped = true
				cancel()
			}
		}
	}
}
