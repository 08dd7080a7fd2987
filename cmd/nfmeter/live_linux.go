//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"

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
					"flows_swept": c.Expired, "punted_busy": c.Busy,
				},
			}
		},
		close: sync.OnceValue(m.Close),
	}, nil
}

// startAFPacket meters the interface with the userspace engine over an
// AF_PACKET fanout group, one socket and streamer per meter.
func startAFPacket(ctx context.Context, cfg *config, opts flows.Options) (*liveRun, error) {
	m, err := afpacket.NewMeter(cfg.iface, afpacket.MeterOptions{
		Flow:   opts,
		Socket: afpacket.Options{Snaplen: int(cfg.snapshotLength), Promiscuous: cfg.promisc, SocketBufferSize: int(cfg.socketBufferSize)},
	})
	if err != nil {
		return nil, flagError(fmt.Errorf("--interface %s: %w", cfg.iface, err))
	}
	return &liveRun{
		desc:  m.String(),
		flows: m.Flows(ctx),
		stats: func() liveStats {
			c, err := m.Counters()
			st := liveStats{Processed: c.Processed, Ignored: c.Ignored + c.Filtered, Balance: c.PerMeter}
			if err == nil {
				st.Dropped = c.Sockets.Dropped
				st.Losses = map[string]uint64{"kernel_dropped": c.Sockets.Dropped, "ring_freezes": c.Sockets.Freezes, "truncated": c.Sockets.Truncated, "late_frames": c.Late}
			}
			return st
		},
		close: sync.OnceValue(m.Close),
	}, nil
}
