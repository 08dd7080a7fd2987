// Package sysvistest runs processes whose identity is known (pid, command
// name, network namespace) and which open known sockets, for tests of
// system visibility: clients that connect to a server and exit, and echo
// servers, both being the calling test binary started again in a role.
//
// A test binary that uses it calls [RunRole] first thing in TestMain (or in
// a test function selected with -test.run, passed as args to [RunClient]
// and [StartServer]).
package sysvistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of a role.
const (
	envRole   = "NFMETER_SYSVISTEST_ROLE" // "client" or "server"
	envNet    = "NFMETER_SYSVISTEST_NET"
	envAddr   = "NFMETER_SYSVISTEST_ADDR"
	envLinger = "NFMETER_SYSVISTEST_LINGER"
)

// noRaceExitSleep spares helper processes of a -race test binary the race
// runtime's one-second sleep at exit.
const noRaceExitSleep = "GORACE=atexit_sleep_ms=0"

// Networks a [Client] can use.
const (
	TCP4       = "tcp4"
	TCP6       = "tcp6"
	UDP4       = "udp4"        // connected UDP socket (connect, write, read)
	UDP6       = "udp6"        // connected UDP socket
	UDP4SendTo = "udp4-sendto" // unconnected UDP socket (sendto, recvfrom)
	UDP6SendTo = "udp6-sendto"
)

// RunRole runs the role this process was started in by [RunClient] or
// [StartServer] and exits; it returns at once in any other process.
func RunRole() {
	switch os.Getenv(envRole) {
	case "client":
		os.Exit(runClient())
	case "server":
		os.Exit(runServer())
	case "fdserver":
		os.Exit(runFDServer())
	}
}

// Client is a client process: it opens one socket to Server, sends a
// message, reads the echo, stays Linger, then exits.
type Client struct {
	// Name is the command name (comm) of the process: RunClient starts the
	// test binary through a symbolic link of that name (at most 15 bytes).
	Name    string
	Network string
	Server  netip.AddrPort
	Linger  time.Duration
	// NetNS is the network namespace to run in (ip netns exec); "" for the
	// caller's.
	NetNS string

	// Set by RunClient.
	PID           int
	Local         netip.AddrPort // the client's end of the socket
	Start, Exited time.Time      // when the process was started and had exited
}

// RunClient runs c to completion; args are the test binary's arguments
// that lead it to [RunRole].
func RunClient(tb testing.TB, c *Client, args ...string) {
	tb.Helper()
	if len(c.Name) > 15 {
		tb.Fatalf("client name %q: a command name has at most 15 bytes", c.Name)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	bin := filepath.Join(dir, c.Name)
	if err := os.Symlink(exe, bin); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	if c.NetNS != "" {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", c.NetNS, bin}, args...)...)
	}
	cmd.Env = append(os.Environ(), envRole+"=client", envNet+"="+c.Network, envAddr+"="+c.Server.String(),
		envLinger+"="+c.Linger.String(), noRaceExitSleep)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	c.Start = time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c.PID = cmd.Process.Pid // ip netns exec execs the command: same process
	err = cmd.Wait()
	c.Exited = time.Now()
	if err != nil {
		tb.Fatalf("client %s (%s to %s): %v: %s", c.Name, c.Network, c.Server, err, errb.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if s, ok := strings.CutPrefix(line, "local="); ok {
			if c.Local, err = netip.ParseAddrPort(s); err != nil {
				tb.Fatalf("client %s: %v", c.Name, err)
			}
		}
	}
	if !c.Local.IsValid() {
		tb.Fatalf("client %s printed no local address: %q %q", c.Name, out.String(), errb.String())
	}
}

func runClient() int {
	netw, addr := os.Getenv(envNet), os.Getenv(envAddr)
	linger, _ := time.ParseDuration(os.Getenv(envLinger))
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	msg := []byte("nfmeter sysvis test")
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	var local net.Addr
	switch netw {
	case TCP4, TCP6, UDP4, UDP6:
		c, err := net.DialTimeout(netw, addr, 5*time.Second)
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		local = c.LocalAddr()
		c.SetDeadline(deadline)
		if _, err := c.Write(msg); err != nil {
			return fail(err)
		}
		if _, err := io.ReadAtLeast(c, buf, 1); err != nil {
			return fail(err)
		}
	case UDP4SendTo, UDP6SendTo:
		n := strings.TrimSuffix(netw, "-sendto")
		c, err := net.ListenPacket(n, ":0")
		if err != nil {
			return fail(err)
		}
		defer c.Close()
		ua, err := net.ResolveUDPAddr(n, addr)
		if err != nil {
			return fail(err)
		}
		c.SetDeadline(deadline)
		if _, err := c.WriteTo(msg, ua); err != nil {
			return fail(err)
		}
		if _, _, err := c.ReadFrom(buf); err != nil {
			return fail(err)
		}
		// The socket is bound to any address: name the one used.
		port := c.LocalAddr().(*net.UDPAddr).Port
		src, err := sourceFor(n, addr)
		if err != nil {
			return fail(err)
		}
		local = &net.UDPAddr{IP: src, Port: port}
	default:
		return fail(fmt.Errorf("unknown network %q", netw))
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("local=%s\n", netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	time.Sleep(linger)
	return 0
}

// sourceFor returns the source address the kernel picks towards addr.
func sourceFor(network, addr string) (net.IP, error) {
	c, err := net.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// StartServer starts an echo server for TCP and UDP, IPv4 and IPv6, on
// port, inside network namespace ns (through ip netns exec; "" for the
// caller's), and stops it at cleanup. args lead the test binary to
// [RunRole].
func StartServer(tb testing.TB, ns string, port uint16, args ...string) {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	var cmd *exec.Cmd
	if ns == "" {
		cmd = exec.Command(exe, args...)
	} else {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, exe}, args...)...)
	}
	cmd.Env = append(os.Environ(), envRole+"=server", envAddr+"="+strconv.Itoa(int(port)), noRaceExitSleep)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close() // the server exits when its stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			tb.Fatalf("server: %v: %s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("server not ready after 10 s: %s", errb.String())
	}
}

func runServer() int {
	port := os.Getenv(envAddr)
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	u, err := net.ListenPacket("udp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			u.WriteTo(buf[:n], from)
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // until the parent closes stdin
	return 0
}

// StartWorker starts a process named name (at most 15 bytes) that accepts
// connections on l, which the caller opened, and echoes: a pre-forked
// server's worker. It is stopped at cleanup; its pid is returned.
func StartWorker(tb testing.TB, l *net.TCPListener, name string, args ...string) int {
	tb.Helper()
	f, err := l.File()
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), name)
	if err := os.Symlink(exe, bin); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), envRole+"=fdserver", noRaceExitSleep)
	cmd.ExtraFiles = []*os.File{f} // fd 3
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		tb.Fatalf("worker: %q %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd.Process.Pid
}

func runFDServer() int {
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}
