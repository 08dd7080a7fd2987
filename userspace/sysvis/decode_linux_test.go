package sysvis

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/userspace/bpfobj"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

func comm16(s string) (c [16]int8) {
	for i := range len(s) {
		c[i] = int8(s[i])
	}
	return c
}

// socket_event records become Events: IPv4, IPv6, IPv4-mapped IPv6 (a
// dual-stack socket talking IPv4), bound sockets, closes.
func TestEventOf(t *testing.T) {
	v4 := func(s string) (b [16]uint8) { a := netip.MustParseAddr(s).As4(); copy(b[:], a[:]); return }
	v6 := func(s string) [16]uint8 { return netip.MustParseAddr(s).As16() }
	open := uint8(bpfobj.SysvisEventKindEVENT_OPEN)
	tests := []struct {
		name string
		r    bpfobj.SysvisSocketEvent
		want Event
	}{
		{"tcp4", bpfobj.SysvisSocketEvent{LocalAddr: v4("10.0.0.1"), RemoteAddr: v4("10.0.0.2"), LocalPort: 40000, RemotePort: 80,
			Kind: open, Hook: uint8(bpfobj.SysvisSocketHookHOOK_STATE), Protocol: 6, IpVersion: 4, Tgid: 42, Comm: comm16("curl"), SockId: 7, TimeNs: 1e9},
			Event{Kind: Open, Time: time.Unix(11, 0), Socket: 7, Protocol: 6, Local: ap("10.0.0.1:40000"), Remote: ap("10.0.0.2:80"),
				Process: flows.Process{PID: 42, Name: "curl"}, Hook: "inet_sock_set_state"}},
		{"udp6 mapped", bpfobj.SysvisSocketEvent{LocalAddr: v6("::"), RemoteAddr: v6("::ffff:10.0.0.9"), LocalPort: 5000, RemotePort: 53,
			Kind: open, Hook: uint8(bpfobj.SysvisSocketHookHOOK_SENDMSG), Protocol: 17, IpVersion: 6, Tgid: 1, Comm: comm16("a-15-bytes-name")},
			Event{Kind: Open, Time: time.Unix(10, 0), Protocol: 17, Local: ap("[::]:5000"), Remote: ap("10.0.0.9:53"),
				Process: flows.Process{PID: 1, Name: "a-15-bytes-name"}, Hook: "sendmsg"}},
		{"bound", bpfobj.SysvisSocketEvent{LocalAddr: v6("fd00::1"), LocalPort: 22, Kind: open, Hook: uint8(bpfobj.SysvisSocketHookHOOK_BIND), Protocol: 6, IpVersion: 6, Tgid: 3},
			Event{Kind: Open, Time: time.Unix(10, 0), Protocol: 6, Local: ap("[fd00::1]:22"), Process: flows.Process{PID: 3}, Hook: "post_bind"}},
		{"close", bpfobj.SysvisSocketEvent{Kind: uint8(bpfobj.SysvisEventKindEVENT_CLOSE), SockId: 9, Protocol: 6, Tgid: 3, Hook: uint8(bpfobj.SysvisSocketHookHOOK_RELEASE)},
			Event{Kind: Close, Time: time.Unix(10, 0), Socket: 9, Protocol: 6, Process: flows.Process{PID: 3}, Hook: "sock_release"}},
	}
	for _, tt := range tests {
		got, ok := eventOf(&tt.r, 10e9)
		if !ok || !got.Time.Equal(tt.want.Time) {
			t.Errorf("%s: ok %v, time %v, want %v", tt.name, ok, got.Time, tt.want.Time)
		}
		got.Time = tt.want.Time
		if got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	if _, ok := eventOf(&bpfobj.SysvisSocketEvent{Kind: 99}, 0); ok {
		t.Error("unknown kind accepted")
	}
	var b kernelBackend
	if _, ok := b.decode(make([]byte, 79)); ok {
		t.Error("short record accepted")
	}
}

// inet_diag_msg records decode to both ends, the cookie and the inode.
func TestParseDiagMsg(t *testing.T) {
	m := make([]byte, sizeofInetDiagMsg)
	m[0], m[1] = unix.AF_INET6, 1
	binary.BigEndian.PutUint16(m[4:], 443)
	binary.BigEndian.PutUint16(m[6:], 51000)
	a := netip.MustParseAddr("::ffff:10.1.2.3").As16()
	copy(m[8:], a[:])
	b := netip.MustParseAddr("2001:db8::7").As16()
	copy(m[24:], b[:])
	binary.NativeEndian.PutUint32(m[44:], 0x89abcdef)
	binary.NativeEndian.PutUint32(m[48:], 0x01234567)
	binary.NativeEndian.PutUint32(m[68:], 4242)
	var s diagSocket
	parseDiagMsg(m, unix.IPPROTO_TCP, &s)
	want := diagSocket{protocol: 6, state: 1, local: ap("10.1.2.3:443"), remote: ap("[2001:db8::7]:51000"), cookie: 0x0123456789abcdef, inode: 4242}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	// A listening IPv4 socket has no peer.
	m = make([]byte, sizeofInetDiagMsg)
	m[0] = unix.AF_INET
	binary.BigEndian.PutUint16(m[4:], 22)
	parseDiagMsg(m, unix.IPPROTO_TCP, &s)
	if s.local != ap("0.0.0.0:22") || s.remote.IsValid() {
		t.Errorf("listener: %+v", s)
	}
}

// The /proc scan finds the process of each socket inode and its command
// name, and skips other links and unreadable processes.
func TestProcScannerOwners(t *testing.T) {
	root := t.TempDir()
	mk := func(pid, comm string, links map[string]string) {
		fd := filepath.Join(root, pid, "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, pid, "comm"), []byte(comm+"\n"), 0o644)
		for n, target := range links {
			if err := os.Symlink(target, filepath.Join(fd, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("100", "curl", map[string]string{"0": "/dev/null", "3": "socket:[5000]", "4": "pipe:[6000]"})
	mk("200", "sshd", map[string]string{"7": "socket:[7000]", "8": "socket:[notanumber]"})
	os.MkdirAll(filepath.Join(root, "self"), 0o755)
	p := procScanner{root: root}
	got := p.owners(map[uint32]struct{}{5000: {}, 7000: {}, 8000: {}})
	want := map[uint32]flows.Process{5000: {PID: 100, Name: "curl"}, 7000: {PID: 200, Name: "sshd"}}
	if len(got) != len(want) || got[5000] != want[5000] || got[7000] != want[7000] {
		t.Errorf("got %v, want %v", got, want)
	}
}
