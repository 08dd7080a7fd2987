//go:build linux

package kmeter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
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

// clsactFilter is a TC filter attached through netlink, for kernels without
// TCX. Unlike links it survives the process; Close removes it. Its netlink
// handle was opened in the network namespace of the attach, so Close works
// from any thread.
type clsactFilter struct {
	nl     *netlink.Handle
	filter *netlink.BpfFilter
	qdisc  *netlink.GenericQdisc // non-nil when we added the clsact qdisc
}

func (c *clsactFilter) Close() error {
	defer c.nl.Close()
	err := c.nl.FilterDel(c.filter)
	if c.qdisc != nil {
		if qerr := c.nl.QdiscDel(c.qdisc); qerr != nil && err == nil && !errors.Is(qerr, unix.ENOENT) {
			err = qerr
		}
	}
	return err
}

// attachTC attaches prog to the ingress or egress of ifindex with a TCX link,
// or with a clsact filter when TCX is unavailable or forceClsact is set.
func attachTC(prog *ebpf.Program, iface *net.Interface, egress, forceClsact bool, haveQdisc *bool) (detacher, string, error) {
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
	nl, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, "", fmt.Errorf("netlink for %s: %w", iface.Name, err)
	}
	c := &clsactFilter{nl: nl}
	if !*haveQdisc {
		q := &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: iface.Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
		switch err := nl.QdiscAdd(q); {
		case err == nil:
			c.qdisc = q
		case errors.Is(err, unix.EEXIST):
		default:
			nl.Close()
			return nil, "", fmt.Errorf("add clsact qdisc to %s: %w", iface.Name, err)
		}
		*haveQdisc = true
	}
	c.filter = &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: iface.Index, Parent: parent, Handle: 1, Protocol: unix.ETH_P_ALL, Priority: 1},
		Fd:           prog.FD(),
		Name:         "nfm_tc",
		DirectAction: true,
	}
	if err := nl.FilterAdd(c.filter); err != nil {
		if c.qdisc != nil {
			_ = nl.QdiscDel(c.qdisc)
		}
		nl.Close()
		return nil, "", fmt.Errorf("attach clsact %s filter to %s: %w", dir, iface.Name, err)
	}
	return c, "clsact", nil
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
// the process dies.
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
	haveQdisc := false
	if h == HookXDP {
		d, mode, err := attachXDP(m.objs.NfmXdp, iface, ao.GenericXDP)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
		att.XDPMode = mode
	} else {
		d, kind, err := attachTC(m.objs.NfmTc, iface, false, ao.Clsact, &haveQdisc)
		if err != nil {
			return fail(err)
		}
		ds = append(ds, d)
		att.TC = kind
	}
	d, kind, err := attachTC(m.objs.NfmTc, iface, true, ao.Clsact, &haveQdisc)
	if err != nil {
		return fail(err)
	}
	ds = append(ds, d)
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
