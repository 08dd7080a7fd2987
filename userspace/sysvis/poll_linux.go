package sysvis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// unownedTries is how many polls a socket without a process (a kernel
// socket, or one whose process has just exited) is looked for in /proc.
const unownedTries = 3

// poller reads the socket tables with sock_diag and finds their processes
// in /proc: the poll backend, and the seed of the BPF backends.
type poller struct {
	log     *slog.Logger
	d       *diag
	proc    procScanner
	known   map[uint64]int // cookie -> tries left to find its process (0: reported or given up)
	seen    map[uint64]bool
	want    map[uint32]struct{}
	pending []diagSocket
	noUDP   bool          // the kernel has no udp_diag
	events  atomic.Uint64 // Open events reported
}

func newPoller(log *slog.Logger) (*poller, error) {
	d, err := openDiag()
	if err != nil {
		return nil, err
	}
	return &poller{log: log, d: d, proc: procScanner{root: "/proc"}, known: map[uint64]int{},
		seen: map[uint64]bool{}, want: map[uint32]struct{}{}}, nil
}

func (p *poller) close() error { return p.d.close() }

// poll reports the sockets that appeared since the last poll (when
// addNew) and the ones that disappeared, then that sink is caught up.
func (p *poller) poll(sink Sink, addNew bool) error {
	start := time.Now()
	clear(p.seen)
	p.pending = p.pending[:0]
	for _, q := range [...]struct{ family, proto uint8 }{
		{unix.AF_INET, unix.IPPROTO_TCP}, {unix.AF_INET6, unix.IPPROTO_TCP},
		{unix.AF_INET, unix.IPPROTO_UDP}, {unix.AF_INET6, unix.IPPROTO_UDP},
	} {
		if q.proto == unix.IPPROTO_UDP && p.noUDP {
			continue
		}
		err := p.d.dump(q.family, q.proto, func(s *diagSocket) {
			if s.inode == 0 {
				return // no process holds it any more (TIME_WAIT, orphan)
			}
			p.seen[s.cookie] = true
			if tries, ok := p.known[s.cookie]; addNew && (!ok || tries > 0) {
				p.pending = append(p.pending, *s)
			}
		})
		if err != nil {
			if q.proto == unix.IPPROTO_UDP && (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP)) {
				p.noUDP = true
				p.log.Warn("sysvis: the kernel cannot list UDP sockets (no udp_diag): UDP flows are not attributed by polling")
				continue
			}
			return err
		}
	}
	if len(p.pending) > 0 {
		clear(p.want)
		for i := range p.pending {
			p.want[p.pending[i].inode] = struct{}{}
		}
		owners := p.proc.owners(p.want)
		for i := range p.pending {
			s := &p.pending[i]
			proc, ok := owners[s.inode]
			if !ok {
				tries, known := p.known[s.cookie]
				if !known {
					tries = unownedTries
				}
				p.known[s.cookie] = tries - 1 // at 0: given up, never reported
				continue
			}
			p.known[s.cookie] = 0
			p.events.Add(1)
			sink.Add(Event{Kind: Open, Time: start, Socket: s.cookie, Protocol: s.protocol,
				Local: s.local, Remote: s.remote, Process: proc, Hook: "poll"})
		}
	}
	for c := range p.known {
		if !p.seen[c] {
			delete(p.known, c)
			sink.Add(Event{Kind: Close, Time: start, Socket: c, Hook: "poll"})
		}
	}
	sink.CaughtUp(start)
	return nil
}

// pollBackend is the poll backend: NFStream's approach.
type pollBackend struct {
	o      Options
	p      *poller
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func (b *pollBackend) Name() string { return BackendPoll }

func (b *pollBackend) Start(ctx context.Context, sink Sink) error {
	p, err := newPoller(b.o.logger())
	if err != nil {
		return err
	}
	if err := p.poll(sink, true); err != nil {
		p.close()
		return fmt.Errorf("poll sockets: %w", err)
	}
	b.p = p
	ctx, b.cancel = context.WithCancel(ctx)
	interval := b.o.PollInterval
	if interval == 0 {
		interval = DefaultPollInterval
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.loop(ctx, sink, interval)
	}()
	return nil
}

func (b *pollBackend) loop(ctx context.Context, sink Sink, interval time.Duration) {
	var tick *time.Ticker
	if interval > 0 {
		tick = time.NewTicker(interval)
		defer tick.Stop()
	}
	for {
		if tick != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		} else if ctx.Err() != nil {
			return
		} else {
			runtime.Gosched()
		}
		if err := b.p.poll(sink, true); err != nil {
			b.o.logger().Warn("sysvis: poll sockets", "err", err)
		}
	}
}

func (b *pollBackend) Stats() Stats {
	if b.p == nil {
		return Stats{}
	}
	return Stats{Events: b.p.events.Load()}
}

func (b *pollBackend) Close() error {
	var err error
	b.once.Do(func() {
		if b.cancel != nil {
			b.cancel()
			b.wg.Wait()
			err = b.p.close()
		}
	})
	return err
}
