package sysvis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// readTick is how often the ring buffer is drained.
const readTick = 5 * time.Millisecond

// seedRecheck is how often the BPF backends check whether the sockets that
// existed before they started (found by one poll) still exist.
const seedRecheck = 5 * time.Second

// sysvisMaps are the maps every kernel backend uses.
type sysvisMaps struct {
	Events   *ebpf.Map `ebpf:"socket_events"`
	Counters *ebpf.Map `ebpf:"sv_counters"`
}

// tracepointObjects are the tracepoint backend's programs.
type tracepointObjects struct {
	sysvisMaps
	Create   *ebpf.Program `ebpf:"nfm_sv_create"`
	Connect4 *ebpf.Program `ebpf:"nfm_sv_connect4"`
	Connect6 *ebpf.Program `ebpf:"nfm_sv_connect6"`
	Sendmsg4 *ebpf.Program `ebpf:"nfm_sv_sendmsg4"`
	Sendmsg6 *ebpf.Program `ebpf:"nfm_sv_sendmsg6"`
	Recvmsg4 *ebpf.Program `ebpf:"nfm_sv_recvmsg4"`
	Recvmsg6 *ebpf.Program `ebpf:"nfm_sv_recvmsg6"`
	Bind4    *ebpf.Program `ebpf:"nfm_sv_bind4"`
	Bind6    *ebpf.Program `ebpf:"nfm_sv_bind6"`
	Release  *ebpf.Program `ebpf:"nfm_sv_release"`
	State    *ebpf.Program `ebpf:"nfm_sv_state"`
	Send     *ebpf.Program `ebpf:"nfm_sv_send"`
	Recv     *ebpf.Program `ebpf:"nfm_sv_recv"`
}

// kprobeObjects are the kprobe backend's programs.
type kprobeObjects struct {
	sysvisMaps
	Connect *ebpf.Program `ebpf:"nfm_sv_kp_conn"`
	Accept  *ebpf.Program `ebpf:"nfm_sv_kp_accept"`
	UDP4    *ebpf.Program `ebpf:"nfm_sv_kp_udp4"`
	UDP6    *ebpf.Program `ebpf:"nfm_sv_kp_udp6"`
	Release *ebpf.Program `ebpf:"nfm_sv_kp_rel"`
}

// fentryObjects are the fentry backend's programs.
type fentryObjects struct {
	sysvisMaps
	Connect *ebpf.Program `ebpf:"nfm_sv_fe_conn"`
	Accept  *ebpf.Program `ebpf:"nfm_sv_fe_accept"`
	UDP4    *ebpf.Program `ebpf:"nfm_sv_fe_udp4"`
	UDP6    *ebpf.Program `ebpf:"nfm_sv_fe_udp6"`
	Release *ebpf.Program `ebpf:"nfm_sv_fe_rel"`
}

// closer is what a backend closes at the end: programs, maps, links.
type closer interface{ Close() error }

// kernelBackend is one of the BPF backends.
type kernelBackend struct {
	kind string
	o    Options

	objs    []closer // programs and maps
	links   []link.Link
	unmount func()
	maps    sysvisMaps
	tp      *tracepointObjects // the tracepoint backend's programs
	rd      *ringbuf.Reader
	seed    *poller
	offset  int64 // CLOCK_REALTIME - CLOCK_MONOTONIC, ns

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func (b *kernelBackend) Name() string { return b.kind }

// loadSpec loads the sysvis object's programs named in the fields of to
// (one of the *Objects types), with the knobs set from o.
func loadSpec(o *Options, to any) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := bpfobj.LoadSysvis()
	if err != nil {
		return fmt.Errorf("load sysvis spec: %w", err)
	}
	var cookie uint64
	if !o.AllNetNS {
		if cookie, err = netnsCookie(); err != nil {
			return err
		}
	}
	if err := spec.Variables[bpfobj.SysvisVarCfgNetnsCookie].Set(cookie); err != nil {
		return fmt.Errorf("set %s: %w", bpfobj.SysvisVarCfgNetnsCookie, err)
	}
	ring := o.RingBytes
	if ring == 0 {
		ring = DefaultRingBytes
	}
	if ring < os.Getpagesize() || ring&(ring-1) != 0 {
		return fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", ring, os.Getpagesize())
	}
	spec.Maps[bpfobj.SysvisMapSocketEvents].MaxEntries = uint32(ring)
	if err := spec.LoadAndAssign(to, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("load sysvis programs: %+v", ve)
		}
		return fmt.Errorf("load sysvis programs: %w", err)
	}
	return nil
}

// attach loads and attaches the backend's programs.
func (b *kernelBackend) attach() error {
	switch b.kind {
	case BackendTracepoint:
		var objs tracepointObjects
		if err := loadSpec(&b.o, &objs); err != nil {
			return err
		}
		b.maps, b.tp = objs.sysvisMaps, &objs
		b.objs = append(b.objs, objs.Events, objs.Counters, objs.Create, objs.Connect4, objs.Connect6,
			objs.Sendmsg4, objs.Sendmsg6, objs.Recvmsg4, objs.Recvmsg6, objs.Bind4, objs.Bind6, objs.Release,
			objs.State, objs.Send, objs.Recv)
		root, unmount, err := cgroup2Root()
		if err != nil {
			return fmt.Errorf("cgroup v2: %w", err)
		}
		b.unmount = unmount
		for _, c := range []struct {
			p  *ebpf.Program
			at ebpf.AttachType
		}{
			{objs.Create, ebpf.AttachCGroupInetSockCreate},
			{objs.Connect4, ebpf.AttachCGroupInet4Connect},
			{objs.Connect6, ebpf.AttachCGroupInet6Connect},
			{objs.Sendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
			{objs.Sendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
			{objs.Recvmsg4, ebpf.AttachCGroupUDP4Recvmsg},
			{objs.Recvmsg6, ebpf.AttachCGroupUDP6Recvmsg},
			{objs.Bind4, ebpf.AttachCGroupInet4PostBind},
			{objs.Bind6, ebpf.AttachCGroupInet6PostBind},
			{objs.Release, ebpf.AttachCgroupInetSockRelease},
		} {
			l, err := link.AttachCgroup(link.CgroupOptions{Path: root, Attach: c.at, Program: c.p})
			if err != nil {
				return fmt.Errorf("attach %s to cgroup %s: %w", c.at, root, err)
			}
			b.links = append(b.links, l)
		}
		for _, p := range []*ebpf.Program{objs.State, objs.Send, objs.Recv} {
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				return fmt.Errorf("attach tp_btf %s: %w", p, err)
			}
			b.links = append(b.links, l)
		}
	case BackendKprobe:
		if runtime.GOARCH != "amd64" {
			return fmt.Errorf("the kprobe programs read x86-64 registers, this is %s: %w", runtime.GOARCH, ErrUnsupported)
		}
		var objs kprobeObjects
		if err := loadSpec(&b.o, &objs); err != nil {
			return err
		}
		b.maps = objs.sysvisMaps
		b.objs = append(b.objs, objs.Events, objs.Counters, objs.Connect, objs.Accept, objs.UDP4, objs.UDP6, objs.Release)
		for _, k := range []struct {
			sym string
			p   *ebpf.Program
			ret bool
		}{
			{"tcp_connect", objs.Connect, false},
			{"inet_csk_accept", objs.Accept, true},
			{"udp_sendmsg", objs.UDP4, false},
			{"udpv6_sendmsg", objs.UDP6, false},
			{"inet_release", objs.Release, false},
		} {
			attach := link.Kprobe
			if k.ret {
				attach = link.Kretprobe
			}
			l, err := attach(k.sym, k.p, nil)
			if err != nil {
				return fmt.Errorf("attach kprobe %s: %w", k.sym, err)
			}
			b.links = append(b.links, l)
		}
	case BackendFentry:
		var objs fentryObjects
		if err := loadSpec(&b.o, &objs); err != nil {
			return err
		}
		b.maps = objs.sysvisMaps
		b.objs = append(b.objs, objs.Events, objs.Counters, objs.Connect, objs.Accept, objs.UDP4, objs.UDP6, objs.Release)
		for _, p := range []*ebpf.Program{objs.Connect, objs.Accept, objs.UDP4, objs.UDP6, objs.Release} {
			l, err := link.AttachTracing(link.TracingOptions{Program: p})
			if err != nil {
				return fmt.Errorf("attach %s: %w", p, err)
			}
			b.links = append(b.links, l)
		}
	default:
		return fmt.Errorf("unknown backend %q", b.kind)
	}
	return nil
}

// Start loads and attaches the programs, seeds sink with the sockets that
// already exist, and reports events until ctx is done or Close.
func (b *kernelBackend) Start(ctx context.Context, sink Sink) error {
	var mono, real unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &real)
	b.offset = real.Nano() - mono.Nano()
	if err := b.attach(); err != nil {
		b.release()
		return fmt.Errorf("backend %s: %w", b.kind, err)
	}
	rd, err := ringbuf.NewReader(b.maps.Events)
	if err != nil {
		b.release()
		return fmt.Errorf("backend %s: ring buffer reader: %w", b.kind, err)
	}
	b.rd = rd
	// Sockets that existed before the programs were attached: one poll.
	// Failing it costs only their attribution.
	if p, err := newPoller(b.o.logger()); err != nil {
		b.o.logger().Warn("sysvis: cannot list existing sockets", "err", err)
	} else if err := p.poll(nopCaughtUp{sink}, true); err != nil {
		b.o.logger().Warn("sysvis: cannot list existing sockets", "err", err)
		p.close()
	} else {
		b.seed = p
	}
	ctx, b.cancel = context.WithCancel(ctx)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.read(ctx, sink)
	}()
	if b.seed != nil {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.recheckSeed(ctx, sink)
		}()
	}
	return nil
}

// nopCaughtUp passes events on but not CaughtUp: the seeding poll says
// nothing about the BPF events still in the ring buffer.
type nopCaughtUp struct{ Sink }

func (nopCaughtUp) CaughtUp(time.Time) {}

// recheckSeed reports the close of the seeded sockets, the only ones the
// programs did not see open.
func (b *kernelBackend) recheckSeed(ctx context.Context, sink Sink) {
	t := time.NewTicker(seedRecheck)
	defer t.Stop()
	for len(b.seed.known) > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.seed.poll(nopCaughtUp{sink}, false); err != nil {
			b.o.logger().Warn("sysvis: recheck existing sockets", "err", err)
		}
	}
}

// read drains the ring buffer into sink. The ring is caught up with a time
// when it was empty at that time, or once the bytes it held then are read.
func (b *kernelBackend) read(ctx context.Context, sink Sink) {
	var rec ringbuf.Record
	var consumed, target uint64
	var markAt time.Time
	for ctx.Err() == nil {
		if markAt.IsZero() {
			now := time.Now()
			if avail := b.rd.AvailableBytes(); avail == 0 {
				sink.CaughtUp(now)
			} else {
				markAt, target = now, consumed+uint64(avail)
			}
		}
		// The programs do not wake the reader (see event_send in
		// bpf/sysvis.c) until the ring is half full: read every tick.
		b.rd.SetDeadline(time.Now().Add(readTick))
		err := b.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			b.o.logger().Error("sysvis: read ring buffer", "err", err)
			return
		}
		consumed += uint64(len(rec.RawSample)+8+7) &^ 7 // record header, 8-byte aligned
		if !markAt.IsZero() && consumed >= target {
			sink.CaughtUp(markAt)
			markAt = time.Time{}
		}
		if ev, ok := b.decode(rec.RawSample); ok {
			sink.Add(ev)
		}
	}
}

// decode converts a socket_event record.
func (b *kernelBackend) decode(raw []byte) (Event, bool) {
	var r bpfobj.SysvisSocketEvent
	if len(raw) < int(unsafe.Sizeof(r)) {
		return Event{}, false
	}
	r = *(*bpfobj.SysvisSocketEvent)(unsafe.Pointer(&raw[0]))
	return eventOf(&r, b.offset)
}

// eventOf converts a socket_event with the CLOCK_MONOTONIC to wall-clock
// offset (ns).
func eventOf(r *bpfobj.SysvisSocketEvent, offset int64) (Event, bool) {
	ev := Event{
		Time:     time.Unix(0, int64(r.TimeNs)+offset),
		Socket:   r.SockId,
		Protocol: r.Protocol,
		Process:  flows.Process{PID: int(r.Tgid), Name: commString(r.Comm)},
		Hook:     hookNames[bpfobj.SysvisSocketHook(r.Hook)],
	}
	switch bpfobj.SysvisEventKind(r.Kind) {
	case bpfobj.SysvisEventKindEVENT_OPEN:
		ev.Kind = Open
	case bpfobj.SysvisEventKindEVENT_CLOSE:
		ev.Kind = Close
		return ev, true
	default:
		return Event{}, false
	}
	addr := func(b [16]uint8) netip.Addr {
		if r.IpVersion == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b).Unmap()
	}
	ev.Local = netip.AddrPortFrom(addr(r.LocalAddr), r.LocalPort)
	if r.RemotePort != 0 || r.RemoteAddr != [16]uint8{} {
		ev.Remote = netip.AddrPortFrom(addr(r.RemoteAddr), r.RemotePort)
	}
	return ev, true
}

// hookNames names the socket_hook values.
var hookNames = map[bpfobj.SysvisSocketHook]string{
	bpfobj.SysvisSocketHookHOOK_STATE:    "inet_sock_set_state",
	bpfobj.SysvisSocketHookHOOK_SEND:     "sock_send_length",
	bpfobj.SysvisSocketHookHOOK_SENDMSG:  "sendmsg",
	bpfobj.SysvisSocketHookHOOK_RECVMSG:  "recvmsg",
	bpfobj.SysvisSocketHookHOOK_BIND:     "post_bind",
	bpfobj.SysvisSocketHookHOOK_RELEASE:  "sock_release",
	bpfobj.SysvisSocketHookHOOK_CONNECT:  "tcp_connect",
	bpfobj.SysvisSocketHookHOOK_ACCEPT:   "inet_csk_accept",
	bpfobj.SysvisSocketHookHOOK_UDP_SEND: "udp_sendmsg",
}

func commString(c [16]int8) string {
	var b [16]byte
	n := 0
	for ; n < len(c) && c[n] != 0; n++ {
		b[n] = byte(c[n])
	}
	return string(b[:n])
}

// Stats returns the programs' counters (zero when they cannot be read).
func (b *kernelBackend) Stats() Stats {
	var s Stats
	if b.maps.Counters == nil {
		return s
	}
	for i, dst := range []*uint64{&s.Events, &s.Lost} {
		var per []uint64
		if err := b.maps.Counters.Lookup(uint32(i), &per); err != nil {
			return Stats{}
		}
		for _, v := range per {
			*dst += v
		}
	}
	return s
}

// release detaches and frees everything attached or loaded so far.
func (b *kernelBackend) release() {
	for _, l := range b.links {
		l.Close()
	}
	b.links = nil
	for _, o := range b.objs {
		if o != nil {
			o.Close()
		}
	}
	b.objs = nil
	if b.unmount != nil {
		b.unmount()
		b.unmount = nil
	}
}

func (b *kernelBackend) Close() error {
	b.once.Do(func() {
		if b.cancel != nil {
			b.cancel()
			b.wg.Wait() // read returns within a tick
			b.rd.Close()
		}
		if b.seed != nil {
			b.seed.close()
		}
		b.release()
	})
	return nil
}
