//go:build linux

package kmeter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Hook selects where the programs run.
type Hook int

const (
	// HookXDP runs the XDP program on ingress (native mode, generic when the
	// driver has none) and the TC program on egress.
	HookXDP Hook = iota
	// HookTC runs the TC program on ingress and egress.
	HookTC
)

func (h Hook) String() string {
	if h == HookTC {
		return "tc"
	}
	return "xdp"
}

// Support is what the running kernel offers the kernel path, found by
// feature probes (never by kernel version).
type Support struct {
	XDP      error // nil when XDP programs load
	SchedCLS error // nil when TC programs load
	RingBuf  error // nil when BPF ring buffers exist
}

// TCX links are probed when attaching: link.AttachTCX reports
// ebpf.ErrNotSupported and the programs go through clsact instead.

// Usable reports whether the kernel path can run with hook h, and why not.
func (s Support) Usable(h Hook) error {
	switch {
	case s.RingBuf != nil:
		return fmt.Errorf("bpf ring buffer: %w", s.RingBuf)
	case s.SchedCLS != nil:
		return fmt.Errorf("tc bpf programs: %w", s.SchedCLS)
	case h == HookXDP && s.XDP != nil:
		return fmt.Errorf("xdp programs: %w", s.XDP)
	}
	return nil
}

// Probe asks the kernel what it supports.
func Probe() Support {
	return Support{
		XDP:      features.HaveProgramType(ebpf.XDP),
		SchedCLS: features.HaveProgramType(ebpf.SchedCLS),
		RingBuf:  features.HaveMapType(ebpf.RingBuf),
	}
}

// Attachment describes what was attached, for logs and reports.
type Attachment struct {
	Interface string
	Hook      Hook
	XDPMode   string // "native" or "generic" (HookXDP)
	TC        string // "tcx" or "clsact"
}

func (a Attachment) String() string {
	if a.Hook == HookXDP {
		return fmt.Sprintf("xdp (%s) ingress + %s egress on %s", a.XDPMode, a.TC, a.Interface)
	}
	return fmt.Sprintf("%s ingress + egress on %s", a.TC, a.Interface)
}

// detacher undoes one attachment.
type detacher interface{ Close() error }

// Filters on a clsact qdisc (kernels without TCX) outlive the process
// that attached them, so nfmeter marks its own: priority clsactPrio (its
// own, so that another tool's filters never collide with nfmeter's), handle
// the program's ID (unique while the program lives), and the name
// "nfm_tc:<pid>" of the process that holds the program. A start removes the
// filters so marked whose process no longer holds their program (the
// leftovers of a run that was killed), and never any other filter.
const (
	clsactPrio   = 0x4e46 // "NF"
	clsactPrefix = "nfm_tc:"
)

// clsact is nfmeter's part of the clsact qdisc of one interface: its
// filters, and the qdisc itself when nfmeter added it (or found it holding
// only stale nfmeter filters). Unlike links, filters survive the process;
// Close removes them, then the qdisc if it is nfmeter's and empty. Its
// netlink handle was opened in the network namespace of the attach, so
// Close works from any thread.
type clsact struct {
	nl       *netlink.Handle
	link     netlink.Link
	ownQdisc bool
	filters  []*netlink.BpfFilter
	stale    int // stale filters removed at open
}

func clsactQdisc(ifindex int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
}

// openClsact makes sure iface has a clsact qdisc and removes the stale
// nfmeter filters on it.
func openClsact(iface *net.Interface) (*clsact, error) {
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink for %s: %w", iface.Name, err)
	}
	c := &clsact{nl: nl, link: &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: iface.Index, Name: iface.Name}}}
	switch err := nl.QdiscAdd(clsactQdisc(iface.Index)); {
	case err == nil:
		c.ownQdisc = true
	case errors.Is(err, unix.EEXIST):
		if err := c.removeStale(); err != nil {
			nl.Close()
			return nil, fmt.Errorf("remove stale clsact filters from %s: %w", iface.Name, err)
		}
		// A qdisc left with nothing but a killed run's filters was
		// most likely added by that run: remove it at the end too.
		if n, err := c.nFilters(); c.stale > 0 && err == nil && n == 0 {
			c.ownQdisc = true
		}
	default:
		nl.Close()
		return nil, fmt.Errorf("add clsact qdisc to %s: %w", iface.Name, err)
	}
	return c, nil
}

// removeStale removes the nfmeter filters whose process no longer holds
// their program.
func (c *clsact) removeStale() error {
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := c.nl.FilterList(c.link, parent)
		if err != nil {
			return err
		}
		for _, f := range fs {
			bf, ok := f.(*netlink.BpfFilter)
			if !ok || bf.Priority != clsactPrio || !strings.HasPrefix(bf.Name, clsactPrefix) {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimPrefix(bf.Name, clsactPrefix))
			if err != nil || holdsProg(pid, bf.Id) {
				continue
			}
			if err := c.nl.FilterDel(bf); err != nil && !errors.Is(err, unix.ENOENT) {
				return err
			}
			c.stale++
		}
	}
	return nil
}

// nFilters counts the filters of every kind on the qdisc.
func (c *clsact) nFilters() (int, error) {
	n := 0
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := c.nl.FilterList(c.link, parent)
		if err != nil {
			return 0, err
		}
		n += len(fs)
	}
	return n, nil
}

// holdsProg reports whether process pid has a file descriptor of the BPF
// program with ID id (its fdinfo says prog_id).
func holdsProg(pid, id int) bool {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := fmt.Sprintf("\nprog_id:\t%d\n", id)
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err == nil && strings.Contains(string(b), want) {
			return true
		}
	}
	return false
}

// add attaches prog as an nfmeter filter on parent.
func (c *clsact) add(prog *ebpf.Program, parent uint32) error {
	info, err := prog.Info()
	if err != nil {
		return fmt.Errorf("program info: %w", err)
	}
	id, ok := info.ID()
	if !ok {
		return fmt.Errorf("program info: %w", ebpf.ErrNotSupported)
	}
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: c.link.Attrs().Index, Parent: parent, Handle: uint32(id), Protocol: unix.ETH_P_ALL, Priority: clsactPrio},
		Fd:           prog.FD(),
		Name:         clsactPrefix + strconv.Itoa(os.Getpid()),
		DirectAction: true,
	}
	if err := c.nl.FilterAdd(f); err != nil {
		return err
	}
	c.filters = append(c.filters, f)
	return nil
}

// Close removes the filters, then the qdisc when it is nfmeter's and no
// other filter was added to it meanwhile.
func (c *clsact) Close() error {
	defer c.nl.Close()
	var errs []error
	for _, f := range slices.Backward(c.filters) {
		if err := c.nl.FilterDel(f); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, err)
		}
	}
	if c.ownQdisc {
		if n, err := c.nFilters(); err == nil && n == 0 {
			if err := c.nl.QdiscDel(clsactQdisc(c.link.Attrs().Index)); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// attachTC attaches prog to the ingress or egress of iface with a TCX link,
// or with a clsact filter when TCX is unavailable or forceClsact is set. The
// clsact filters of one attach share *cls, opened on first use; attachTC
// returns a nil detacher for them (cls is the detacher).
func attachTC(prog *ebpf.Program, iface *net.Interface, egress, forceClsact bool, cls **clsact) (detacher, string, error) {
	dir := "ingress"
	at := ebpf.AttachTCXIngress
	parent := uint32(netlink.HANDLE_MIN_INGRESS)
	if egress {
		dir, at, parent = "egress", ebpf.AttachTCXEgress, netlink.HANDLE_MIN_EGRESS
	}
	if !forceClsact {
		l, err := link.AttachTCX(link.TCXOptions{Interface: iface.Index, Program: prog, Attach: at})
		if err == nil {
			return l, "tcx", nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, "", fmt.Errorf("attach tcx %s to %s: %w", dir, iface.Name, err)
		}
	}
	var d detacher
	if *cls == nil {
		c, err := openClsact(iface)
		if err != nil {
			return nil, "", err
		}
		*cls, d = c, c
	}
	if err := (*cls).add(prog, parent); err != nil {
		if d != nil {
			_ = (*cls).Close()
			*cls = nil
		}
		return nil, "", fmt.Errorf("attach clsact %s filter to %s: %w", dir, iface.Name, err)
	}
	return d, "clsact", nil
}

// attachXDP attaches prog in native mode, or generic mode when the driver
// cannot run XDP itself.
func attachXDP(prog *ebpf.Program, iface *net.Interface, forceGeneric bool) (detacher, string, error) {
	if !forceGeneric {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index, Flags: link.XDPDriverMode})
		if err == nil {
			return l, "native", nil
		}
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index, Flags: link.XDPGenericMode})
	if err != nil {
		return nil, "", fmt.Errorf("attach xdp to %s: %w", iface.Name, err)
	}
	return l, "generic", nil
}

// AttachOptions select fallbacks explicitly (tests use them to exercise
// the paths a kernel would pick only when it lacks a feature).
type AttachOptions struct {
	GenericXDP bool // skip native XDP
	Clsact     bool // use clsact filters even where TCX exists
}

// Attach attaches the programs to interface ifname with hook h. Links are
// used wherever the kernel has them, so that nothing stays attached when
// the process dies. Where clsact filters are used instead, a process that
// dies without Detach leaves them, and the next Attach to the interface
// removes them (see clsactPrio).
func (m *Meter) Attach(ifname string, h Hook, ao AttachOptions) (Attachment, error) {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return Attachment{}, fmt.Errorf("interface %s: %w", ifname, err)
	}
	if b, err := os.ReadFile("/sys/class/net/" + ifname + "/type"); err == nil {
		// ARPHRD_ETHER and ARPHRD_LOOPBACK frames start with an Ethernet
		// header; the programs parse nothing else.
		if t := strings.TrimSpace(string(b)); t != "1" && t != "772" {
			return Attachment{}, fmt.Errorf("interface %s: link type %s is not Ethernet: use AF_PACKET capture", ifname, t)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	att := Attachment{Interface: ifname, Hook: h}
	var ds []detacher
	fail := func(err error) (Attachment, error) {
		for _, d := range slices.Backward(ds) {
			_ = d.Close()
		}
		return Attachment{}, err
	}
	var cls *clsact
	if h == HookXDP {
		d, mode, err := attachXDP(m.objs.NfmXdp, iface, ao.GenericXDP)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
		att.XDPMode = mode
	} else {
		d, kind, err := attachTC(m.objs.NfmTc, iface, false, ao.Clsact, &cls)
		if err != nil {
			return fail(err)
		}
		if d != nil {
			ds = append(ds, d)
		}
		att.TC = kind
	}
	d, kind, err := attachTC(m.objs.NfmTc, iface, true, ao.Clsact, &cls)
	if err != nil {
		return fail(err)
	}
	if d != nil {
		ds = append(ds, d)
	}
	att.TC = kind
	m.attached = append(m.attached, ds...)
	m.att = att
	m.log.Debug("kernel path attached", "attachment", att.String())
	return att, nil
}

// Detach removes every attachment; packets are no longer seen.
func (m *Meter) Detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, d := range slices.Backward(m.attached) {
		if err := d.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	m.attached = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach from %s: %w", m.att.Interface, err)
	}
	return nil
}
