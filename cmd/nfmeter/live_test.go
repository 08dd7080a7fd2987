//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nfmeter/nfmeter/internal/testutil"
	"github.com/nfmeter/nfmeter/pcapreplay"
	"github.com/nfmeter/nfmeter/userspace/flows"
)

// vethMTU is the largest MTU with which a veth end still runs XDP natively
// (one page per frame); frames longer than vethMTU+14 cannot cross.
const vethMTU = 3500

// liveFlowArgs are the flow options of the parity runs: timeouts that never
// fire, so a flow is the same whether its packets came at capture speed or
// replay speed, every statistic, SPLT and nDPI, and no snap-length cut.
var liveFlowArgs = []string{
	"--idle-timeout", "100000000", "--active-timeout", "100000000",
	"--statistical-analysis", "--splt-analysis", "10", "--n-dissections", "20",
	"--snapshot-length", "65535", "--progress", "never", "--quiet",
}

// replayable writes the frames of an Ethernet capture that can cross the
// veth pair unchanged (complete, 14 to vethMTU+14 bytes) to a new pcap and
// returns their number; 0 for other link types.
func replayable(tb testing.TB, src, dst string) int {
	tb.Helper()
	r, err := pcapreplay.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var frames [][]byte
	var times [][2]int64
	var p pcapreplay.Packet
	for {
		err := r.Next(&p)
		if err != nil {
			if err != io.EOF && flows.Recoverable(err) {
				continue
			}
			break
		}
		if p.LinkType != flows.DLTEthernet {
			return 0
		}
		if int(p.WireLen) != len(p.Data) || len(p.Data) < 14 || len(p.Data) > vethMTU+14 {
			continue
		}
		frames = append(frames, append([]byte(nil), p.Data...))
		times = append(times, [2]int64{p.Sec, p.Usec})
	}
	if len(frames) == 0 {
		return 0
	}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(times[i][0]))
		b = binary.LittleEndian.AppendUint32(b, uint32(int32(times[i][1])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return len(frames)
}

// Live parity (issue 4, acceptance 1): every Ethernet conformance capture
// replayed into one end of a veth pair and metered on the other with
// --mode xdp, tc and afpacket gives the flows of the offline run of the
// same frames, on every column that does not depend on arrival times.
// The metering runs in a child test inside the namespace (so that the
// whole process, BPF links and sockets included, lives there).
func TestLiveParity(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	dir := t.TempDir()
	paths := []string{filepath.Join("..", "..", "testdata", "demo.pcap")}
	if c := testutil.ConformanceDir(t); c != "" {
		all, _ := filepath.Glob(filepath.Join(c, "nfstream", "pcaps", "*.pcap*"))
		sort.Strings(all)
		paths = append(paths, all...)
	} else {
		t.Log("conformance captures absent: parity on testdata/demo.pcap only")
	}
	var list []string
	for _, p := range paths {
		name := filepath.Base(p)
		pc := filepath.Join(dir, name+".pcap")
		if replayable(t, p, pc) == 0 {
			continue
		}
		ref := pc + ".offline.csv"
		args := append([]string{"--pcap", pc, "-o", ref, "--n-meters", "1"}, liveFlowArgs...)
		if code, _, stderr := runCLI(args...); code != 0 {
			t.Fatalf("offline %s: exit %d: %s", name, code, stderr)
		}
		list = append(list, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(list, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	ns := mustNetNSMTU(t, vethMTU)
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestLiveParityChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "NFMETER_PARITY_DIR="+dir)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "exact") || strings.Contains(line, "FAIL") || strings.Contains(line, "parity_") || strings.HasPrefix(strings.TrimSpace(line), "live_test") {
			t.Log(line)
		}
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestLiveParityChild is TestLiveParity's metering half; it runs only in
// the namespace the parent made.
func TestLiveParityChild(t *testing.T) {
	dir := os.Getenv("NFMETER_PARITY_DIR")
	if dir == "" {
		t.Skip("run by TestLiveParity inside its network namespace")
	}
	b, err := os.ReadFile(filepath.Join(dir, "list"))
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(string(b), "\n")
	for _, mode := range []string{"xdp", "tc", "afpacket"} {
		exact := 0
		var bad []string
		for _, name := range names {
			pc := filepath.Join(dir, name+".pcap")
			out := filepath.Join(dir, name+"."+mode+".csv")
			if err := meterReplay(t, mode, pc, out); err != nil {
				t.Fatalf("%s %s: %v", mode, name, err)
			}
			want, _ := os.ReadFile(pc + ".offline.csv")
			got, _ := os.ReadFile(out)
			d, err := testutil.CompareFlowCSV(want, got, testutil.TimeColumn, 1e-9)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, name, err)
			}
			if d.Exact() {
				exact++
			} else {
				bad = append(bad, fmt.Sprintf("%s: %s", name, d))
			}
		}
		t.Logf("parity_%s: %d/%d captures exact", mode, exact, len(names))
		for _, s := range bad {
			t.Errorf("--mode %s: %s", mode, s)
		}
	}
}

// meterReplay meters vb with mode while pc is replayed into va, then stops
// the meter (as SIGINT would) and leaves its flows in out.
func meterReplay(t *testing.T, mode, pc, out string) error {
	ready := out + ".ready"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"--interface", "vb", "--mode", mode, "-o", out, "--ready-file", ready, "--n-meters", "1"}, liveFlowArgs...)
		done <- run(ctx, args, io.Discard, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case code := <-done:
			return fmt.Errorf("meter exited with %d before attaching: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("meter not ready after 20 s: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var rerr bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--pcap", pc, "--interface", "va", "--topspeed"}, io.Discard, &rerr); code != 0 {
		return fmt.Errorf("replay exited with %d: %s", code, rerr.String())
	}
	time.Sleep(100 * time.Millisecond) // frames in flight reach the meter
	cancel()
	if code := <-done; code != exitInterrupted {
		return fmt.Errorf("meter exited with %d: %s", code, stderr.String())
	}
	return nil
}
