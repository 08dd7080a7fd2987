//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nfmeter/nfmeter/internal/testutil"
)

// Issue 11, item 3: super-packets are counted whole. A TCP transfer between
// two network namespaces over a veth pair whose GSO/GRO limits allow BIG
// TCP (185,000 bytes, IPv4 and IPv6) is metered on the sender's interface,
// whose egress sees the super-packets: the bytes of the flow's sending
// direction are what the sender's TCP sent (its tcpi_bytes_sent: what it
// wrote, plus any retransmission) plus the headers of each packet (66 bytes
// in IPv4, 86 in IPv6, with TCP timestamps; the SYN's options 8 more; an
// IPv6 hop-by-hop jumbo header 8 more where the stack adds one). The sizes
// used to be cut to 16 bits (a 185,000-byte frame counted 54,072). The snap
// length holds any packet of 16-bit length (--snapshot-length 65600):
// NFStream ignores an IPv6 packet cut by it, but not a super-packet, whose
// length field is 0.
func TestLiveSuperPacketSizes(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	const big = 185000
	const total = 16 << 20
	meterNS, peerNS := bigTCPPair(t, big)
	for _, mode := range []string{"tc", "afpacket"} {
		for _, v := range []struct {
			name, addr string
			hdr        int
		}{{"IPv4", "10.77.0.2", 66}, {"IPv6", "fd77::2", 86}} {
			var (
				out    string
				sent   uint64
				stderr *bytes.Buffer
			)
			// A capture ring that overflowed (counted as dropped
			// in the summary) misses bytes: try again, a few times.
			for try := 0; ; try++ {
				var cmd *exec.Cmd
				out = filepath.Join(t.TempDir(), "out.csv")
				cmd, stderr = startMeter(t, meterNS, io.Discard, "--mode", mode, "--n-meters", "1", "-o", out, "--snapshot-length", "65600",
					"--idle-timeout", "100000", "--active-timeout", "100000", "--statistical-analysis", "--progress", "never")
				sent = transfer(t, peerNS, meterNS, net.JoinHostPort(v.addr, "5201"), total)
				cmd.Process.Signal(os.Interrupt)
				if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != exitInterrupted {
					t.Fatalf("nfmeter: %v: %s", err, stderr)
				}
				if strings.Contains(stderr.String(), " 0 dropped") || try == 4 {
					break
				}
				t.Logf("--mode %s %s: capture drops, again: %s", mode, v.name, stderr)
			}
			row := flowRow(t, out, "5201")
			bytes, packets, maxPS := row["src2dst_bytes"], row["src2dst_packets"], row["src2dst_max_ps"]
			payload := int64(bytes) - int64(packets)*int64(v.hdr)
			t.Logf("--mode %s %s: %d packets, %d bytes, largest %d; %d payload bytes for %d sent",
				mode, v.name, packets, bytes, maxPS, payload, sent)
			if maxPS <= 65535 {
				t.Errorf("--mode %s %s: largest packet %d bytes: no super-packet was seen", mode, v.name, maxPS)
			}
			if payload < int64(sent) || payload > int64(sent)+8+8*int64(packets) {
				t.Errorf("--mode %s %s: %d bytes in %d packets, want %d sent plus %d a packet (and the SYN's options, jumbo headers); nfmeter: %s",
					mode, v.name, bytes, packets, sent, v.hdr, stderr)
			}
		}
	}
}

// bigTCPPair creates two network namespaces joined by a veth pair, vb (the
// metered side, 10.77.0.1 and fd77::1) and va (10.77.0.2, fd77::2), with GSO
// and GRO limits of size bytes for IPv4 and IPv6.
func bigTCPPair(t *testing.T, size int) (meterNS, peerNS string) {
	t.Helper()
	meterNS = fmt.Sprintf("nfm-gso-m-%d", os.Getpid())
	peerNS = fmt.Sprintf("nfm-gso-p-%d", os.Getpid())
	for _, ns := range []string{meterNS, peerNS} {
		testutil.MustCmd(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	testutil.MustCmd(t, "ip", "-n", meterNS, "link", "add", "vb", "type", "veth", "peer", "name", "va", "netns", peerNS)
	for _, e := range []struct{ ns, dev, v4, v6 string }{
		{meterNS, "vb", "10.77.0.1/24", "fd77::1/64"},
		{peerNS, "va", "10.77.0.2/24", "fd77::2/64"},
	} {
		testutil.MustCmd(t, "ip", "-n", e.ns, "addr", "add", e.v4, "dev", e.dev)
		testutil.MustCmd(t, "ip", "-n", e.ns, "addr", "add", e.v6, "dev", e.dev, "nodad")
		testutil.MustCmd(t, "ip", "-n", e.ns, "link", "set", e.dev, "gso_max_size", strconv.Itoa(size), "gro_max_size", strconv.Itoa(size))
		testutil.InNetNS(t, e.ns, func() {
			l, err := netlink.LinkByName(e.dev)
			if err == nil {
				err = netlink.LinkSetGSOIPv4MaxSize(l, size)
			}
			if err == nil {
				err = netlink.LinkSetGROIPv4MaxSize(l, size)
			}
			if err != nil {
				t.Fatalf("%s: IPv4 GSO/GRO limits: %v", e.dev, err)
			}
		})
		testutil.MustCmd(t, "ip", "-n", e.ns, "link", "set", e.dev, "up")
		testutil.MustCmd(t, "ip", "-n", e.ns, "link", "set", "lo", "up")
	}
	return meterNS, peerNS
}

// transfer sends n bytes over TCP from a socket in network namespace from
// to a listener at addr in namespace to, waits until they were read and
// returns the payload bytes the sender's TCP sent (retransmissions too).
func transfer(t *testing.T, to, from, addr string, n int) uint64 {
	t.Helper()
	var ln net.Listener
	var err error
	testutil.InNetNS(t, to, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		k, _ := io.Copy(io.Discard, c)
		got <- k
	}()
	var c net.Conn
	testutil.InNetNS(t, from, func() { c, err = net.Dial("tcp", addr) })
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:256<<10]
	for left := n; left > 0; left -= len(buf) {
		if _, err := c.Write(buf[:min(left, len(buf))]); err != nil {
			t.Fatal(err)
		}
		// Paced, so that a capture ring does not overflow: a drop
		// would be counted, but these bytes would be missing.
		time.Sleep(5 * time.Millisecond)
	}
	c.(*net.TCPConn).CloseWrite()
	if k := <-got; k != int64(n) {
		t.Fatalf("receiver read %d bytes, want %d", k, n)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	if cerr := raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("tcp_info: %v", err)
	}
	return info.Bytes_sent
}

// flowRow returns the numeric columns of the only flow to dstPort in the
// CSV file path.
func flowRow(t *testing.T, path, dstPort string) map[string]uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	header := splitCSV(lines[0])
	var row map[string]uint64
	for _, l := range lines[1:] {
		r := map[string]uint64{}
		cols := splitCSV(l)
		port := ""
		for i, h := range header {
			if h == "dst_port" {
				port = cols[i]
			}
			if v, err := strconv.ParseUint(cols[i], 10, 64); err == nil {
				r[h] = v
			}
		}
		if port == dstPort {
			if row != nil {
				t.Fatalf("more than one flow to port %s in %s", dstPort, b)
			}
			row = r
		}
	}
	if row == nil {
		t.Fatalf("no flow to port %s in %s", dstPort, b)
	}
	return row
}
