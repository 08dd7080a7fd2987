package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/userspace/flows/flowstest"
)

// TestMain lets the test binary act as nfmeter for the subprocess tests.
func TestMain(m *testing.M) {
	if os.Getenv("NFMETER_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// writeBigPcap writes n frames spread over many UDP flows.
func writeBigPcap(tb testing.TB, path string, n int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var hdr []byte
	hdr = binary.LittleEndian.AppendUint32(hdr, 0xa1b2c3d4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = append(hdr, make([]byte, 8)...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 65535)
	hdr = binary.LittleEndian.AppendUint32(hdr, 1)
	w.Write(hdr)
	dst := netip.MustParseAddrPort("10.9.0.1:53")
	frame := flowstest.UDP(netip.MustParseAddrPort("10.8.0.1:1"), dst, 20)
	rec := make([]byte, 16)
	for i := range n {
		binary.BigEndian.PutUint16(frame[14+20:], uint16(i%5000+1)) // source port: 5000 flows
		binary.LittleEndian.PutUint32(rec[0:], uint32(1600000000+i/100000))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i%100000*10))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		w.Write(rec)
		w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// interruptedRun is what an interrupted nfmeter run reported.
type interruptedRun struct {
	read   int // packets read before the interrupt (summary line)
	nflows int // flows written (summary line)
	total  int // packets in the capture
}

// runInterrupted meters ever larger generated captures into out with
// extra flags, sending SIGINT once the first progress update shows
// metering under way, until one run is cut before its end. It checks the
// exit status and the summary line, and skips the test when metering
// always finishes first.
func runInterrupted(t *testing.T, out string, extra ...string) interruptedRun {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "big.pcap")
	for n := 4_000_000; n <= 64_000_000; n *= 2 {
		writeBigPcap(t, in, n)
		args := append([]string{"--pcap", in, "-o", out, "--progress", "always", "--n-meters", "1"}, extra...)
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "NFMETER_TEST_AS_MAIN=1")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stderr)
		var log strings.Builder
		buf := make([]byte, 256)
		sent := false
		for {
			k, rerr := r.Read(buf)
			log.Write(buf[:k])
			if !sent && strings.Contains(log.String(), "packets") {
				cmd.Process.Signal(syscall.SIGINT)
				sent = true
			}
			if rerr != nil {
				break
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if err == nil {
			t.Logf("%d packets finished before the interrupt; trying a larger capture", n)
			os.Remove(in)
			continue
		}
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Fatalf("exit: %v; stderr: %s", err, log.String())
		}
		m := regexp.MustCompile(`(\d+) packets \((\d+) ignored, (\d+) filtered\), (\d+) flows`).FindStringSubmatch(log.String())
		if m == nil {
			t.Fatalf("no summary line: %s", log.String())
		}
		run := interruptedRun{total: n}
		run.read, _ = strconv.Atoi(m[1])
		run.nflows, _ = strconv.Atoi(m[4])
		if run.read >= n {
			t.Errorf("read %d of %d packets: the interrupt did not stop reading", run.read, n)
		}
		t.Logf("interrupted after %d of %d packets; %d flows written", run.read, n, run.nflows)
		return run
	}
	t.Skip("metering was always faster than the interrupt")
	return interruptedRun{}
}

// Ctrl-C writes every flow metered so far, then exits 130.
func TestInterruptFlushesEveryFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a large capture")
	}
	out := filepath.Join(t.TempDir(), "big.csv")
	run := runInterrupted(t, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines)-1 != run.nflows || run.nflows == 0 {
		t.Fatalf("%d rows in the file, summary says %d flows", len(lines)-1, run.nflows)
	}
	hdr := splitCSV(lines[0])
	pk := -1
	for i, h := range hdr {
		if h == "bidirectional_packets" {
			pk = i
		}
	}
	total := 0
	for _, l := range lines[1:] {
		f := splitCSV(l)
		if len(f) != len(hdr) {
			t.Fatalf("incomplete row %q", l)
		}
		v, _ := strconv.Atoi(f[pk])
		total += v
	}
	if total != run.read {
		t.Errorf("flows hold %d packets, %d were read before the interrupt", total, run.read)
	}
}

// A second signal ends a run that cannot finish after the first: here the
// output is a FIFO that nobody reads, so creating it blocks for ever.
func TestSecondSignalEndsBlockedRun(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "out.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	cmd := exec.Command(os.Args[0], "--pcap", filepath.Join("..", "..", "testdata", "demo.pcap"), "-o", fifo, "--progress", "never", "--n-dissections", "0")
	cmd.Env = append(os.Environ(), "NFMETER_TEST_AS_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// GIVEN a run blocked on its output, WHEN it gets SIGINT, THEN it is
	// still blocked (it waits to write every flow)...
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		t.Fatalf("ended on the first signal (%v): the run was not blocked as the test needs", err)
	case <-time.After(500 * time.Millisecond):
	}
	// ...AND WHEN it gets a second SIGINT, THEN it ends at once.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("exit: %v, want death by SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGINT did not end the run blocked on its output")
	}
}
