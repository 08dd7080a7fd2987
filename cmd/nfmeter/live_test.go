//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

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
	b := pcapFile(1, frames, func(i int) (uint32, uint32) { return uint32(times[i][0]), uint32(int32(times[i][1])) })
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
	var list, udp []string
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
		if carriesUDP(t, ref) {
			udp = append(udp, name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "udp"), []byte(strings.Join(udp, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(list, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	runChildInNetNS(t, mustNetNSMTU(t, vethMTU), "TestLiveParityChild", "NFMETER_PARITY_DIR="+dir, func(line string) bool {
		return strings.Contains(line, "parity_") || strings.Contains(line, "--mode")
	})
}

// runChildInNetNS runs test child of this binary inside ns with env set,
// logs the lines of its output that keep selects, and fails with the whole
// output if the child fails.
func runChildInNetNS(t *testing.T, ns, child, env string, keep func(string) bool) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+child+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if keep(line) || strings.Contains(line, "FAIL") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", child, err, out)
	}
}

// Stopping right after the last frame was sent loses nothing: the
// AF_PACKET path reads what its ring still holds before ending.
func TestLiveStopDrains(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	dir := t.TempDir()
	pc := filepath.Join("..", "..", "testdata", "demo.pcap")
	ref := filepath.Join(dir, "offline.csv")
	if code, _, stderr := runCLI(append([]string{"--pcap", pc, "-o", ref, "--n-meters", "1"}, liveFlowArgs...)...); code != 0 {
		t.Fatal(stderr)
	}
	runChildInNetNS(t, mustNetNSMTU(t, vethMTU), "TestLiveStopChild", "NFMETER_STOP_DIR="+dir, func(line string) bool {
		return strings.Contains(line, "stop_")
	})
}

func TestLiveStopChild(t *testing.T) {
	dir := os.Getenv("NFMETER_STOP_DIR")
	if dir == "" {
		t.Skip("run by TestLiveStopDrains inside its network namespace")
	}
	pc := filepath.Join("..", "..", "testdata", "demo.pcap")
	want, _ := os.ReadFile(filepath.Join(dir, "offline.csv"))
	for i := range 5 {
		out := filepath.Join(dir, fmt.Sprintf("live%d.csv", i))
		if err := meterReplay(t, "afpacket", pc, out, 0, 1); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		d, err := testutil.CompareFlowCSV(want, got, testutil.TimeColumn, 1e-9)
		if err != nil || !d.Exact() {
			t.Fatalf("run %d, stopped at once: %v %v", i, err, d)
		}
	}
	t.Log("stop_afpacket: 5/5 runs stopped right after the replay are exact")
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
	all := strings.Split(string(b), "\n")
	b, err = os.ReadFile(filepath.Join(dir, "udp"))
	if err != nil {
		t.Fatal(err)
	}
	udp := strings.Split(string(b), "\n")
	for _, run := range liveParityRuns {
		names := all
		if run.udpOnly {
			names = udp
		}
		exact := 0
		var bad []string
		for _, name := range names {
			pc := filepath.Join(dir, name+".pcap")
			out := filepath.Join(dir, fmt.Sprintf("%s.%s-%d.csv", name, run.mode, run.meters))
			if err := meterReplay(t, run.mode, pc, out, 100*time.Millisecond, run.meters); err != nil {
				t.Fatalf("%s %s: %v", run, name, err)
			}
			want, _ := os.ReadFile(pc + ".offline.csv")
			got, _ := os.ReadFile(out)
			d, err := testutil.CompareFlowCSV(want, got, testutil.TimeColumn, 1e-9)
			if err != nil {
				t.Fatalf("%s %s: %v", run, name, err)
			}
			if d.Exact() {
				exact++
			} else {
				bad = append(bad, fmt.Sprintf("%s: %s", name, d))
			}
		}
		t.Logf("parity_%s_n%d: %d/%d captures exact", run.mode, run.meters, exact, len(names))
		for _, s := range bad {
			t.Errorf("%s: %s", run, s)
		}
	}
}

// liveParityRun is one setting of the live parity test.
type liveParityRun struct {
	mode    string
	meters  int  // --n-meters
	udpOnly bool // only the captures with a UDP flow
}

func (r liveParityRun) String() string {
	return fmt.Sprintf("--mode %s --n-meters %d", r.mode, r.meters)
}

// liveParityRuns are the settings of the live parity test. AF_PACKET runs
// with one meter and with fanout groups of 2 and 4 sockets: the flows must
// not depend on which socket the kernel hands each direction to (issue
// 11, item 2: the kernel hashes a first IPv4 fragment without its ports,
// and before the fix 5 captures with 2 sockets, 7 with 4, differed). The
// groups run on the captures with a UDP flow (DNS, QUIC, fragmented
// datagrams: where the kernel's hash and nfmeter's key part), which keeps
// the test within go test's default 10 minutes; all 167 captures were
// exact with every setting when this was written.
var liveParityRuns = []liveParityRun{
	{"xdp", 1, false}, {"tc", 1, false}, {"afpacket", 1, false},
	{"afpacket", 2, true}, {"afpacket", 4, true},
}

// carriesUDP reports whether the flow CSV at path has a UDP flow.
func carriesUDP(tb testing.TB, path string) bool {
	tb.Helper()
	header, rows := readFlowCSV(tb, path)
	col := slices.Index(header, "protocol")
	if col < 0 {
		tb.Fatalf("%s: no protocol column", path)
	}
	for _, r := range rows {
		if r[col] == "17" {
			return true
		}
	}
	return false
}

// meterReplay meters vb with mode and nMeters meters while pc is replayed
// into va, waits settle, then stops the meter (as SIGINT would) and leaves its flows in
// out.
func meterReplay(t *testing.T, mode, pc, out string, settle time.Duration, nMeters int) error {
	ready := out + ".ready"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"--interface", "vb", "--mode", mode, "-o", out, "--ready-file", ready, "--n-meters", fmt.Sprint(nMeters)}, liveFlowArgs...)
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
	time.Sleep(settle) // frames in flight reach the meter
	cancel()
	if code := <-done; code != exitInterrupted {
		return fmt.Errorf("meter exited with %d: %s", code, stderr.String())
	}
	return nil
}

// startMeter runs nfmeter (this test binary as main) on vb inside ns and
// waits until it has attached.
func startMeter(t *testing.T, ns string, stdout io.Writer, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	all := append([]string{"netns", "exec", ns, os.Args[0], "--interface", "vb", "--ready-file", ready}, args...)
	cmd := exec.Command("ip", all...)
	cmd.Env = append(os.Environ(), "NFMETER_TEST_AS_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(ready); err == nil {
			return cmd, &stderr
		}
		if i == 400 {
			t.Fatalf("nfmeter did not attach in 20 s: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nfmLinks counts the BPF links of nfmeter's programs on interface index
// ifindex.
func nfmLinks(t *testing.T, ifindex uint32) int {
	t.Helper()
	n := 0
	it := new(link.Iterator)
	for it.Next() {
		l := it.Take()
		info, err := l.Info()
		l.Close() // a link fd held here would keep the link alive
		if err != nil {
			continue
		}
		var idx uint32
		if x := info.XDP(); x != nil {
			idx = x.Ifindex
		} else if tc := info.TCX(); tc != nil {
			idx = tc.Ifindex
		} else {
			continue
		}
		prog, err := ebpf.NewProgramFromID(info.Program)
		if err != nil {
			continue
		}
		pi, err := prog.Info()
		prog.Close()
		if err == nil && strings.HasPrefix(pi.Name, "nfm_") && idx == ifindex {
			n++
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func nsIfindex(t *testing.T, ns, dev string) uint32 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/ifindex").Output()
	if err != nil {
		t.Fatal(err)
	}
	var idx uint32
	fmt.Sscan(string(out), &idx)
	return idx
}

// Issue 4, acceptance 5: nfmeter attaches with links, so SIGKILL (no
// chance to clean up) leaves nothing on the interface.
func TestLiveSIGKILLLeavesNothingAttached(t *testing.T) {
	testutil.RequirePrivilege(t, "ip", "tc")
	ns := mustNetNSMTU(t, vethMTU)
	idx := nsIfindex(t, ns, "vb")
	for _, mode := range []string{"xdp", "tc"} {
		cmd, _ := startMeter(t, ns, io.Discard, "--mode", mode, "-o", filepath.Join(t.TempDir(), "out.csv"), "--quiet")
		show, _ := exec.Command("ip", "-n", ns, "link", "show", "vb").Output()
		links := nfmLinks(t, idx)
		if links != 2 || (mode == "xdp") != strings.Contains(string(show), "xdp") {
			t.Fatalf("--mode %s: %d links attached, want 2 (ip link: %s)", mode, links, show)
		}
		cmd.Process.Kill()
		cmd.Wait()
		for i := 0; nfmLinks(t, idx) != 0; i++ {
			if i == 100 {
				t.Fatalf("--mode %s: links still attached 5 s after SIGKILL", mode)
			}
			time.Sleep(50 * time.Millisecond)
		}
		show, _ = exec.Command("ip", "-n", ns, "link", "show", "vb").Output()
		if strings.Contains(string(show), "xdp") {
			t.Fatalf("--mode %s: XDP still on vb after SIGKILL: %s", mode, show)
		}
		t.Logf("--mode %s: 2 links while running, 0 after SIGKILL", mode)
	}

	// Kernels without TCX attach clsact filters, which outlive the
	// process: SIGKILL leaves them, the next start removes them (they are
	// nfmeter's by priority, name and the dead owner in the handle) and
	// attaches its own, and a clean stop leaves nothing, not even the
	// clsact qdisc the killed run added.
	t.Setenv("NFMETER_TC_ATTACH", "clsact")
	cmd, _ := startMeter(t, ns, io.Discard, "--mode", "tc", "-o", filepath.Join(t.TempDir(), "out.csv"), "--quiet")
	if n := nfmFilters(t, ns); n != 2 {
		t.Fatalf("clsact: %d nfm_tc filters attached, want 2", n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	cmd, stderr := startMeter(t, ns, io.Discard, "--mode", "tc", "-o", filepath.Join(t.TempDir(), "out.csv"), "--quiet")
	if n := nfmFilters(t, ns); n != 2 {
		t.Fatalf("clsact after SIGKILL: %d nfm_tc filters attached, want 2 (the stale ones replaced): %s", n, stderr)
	}
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Fatalf("clsact: nfmeter: %v: %s", err, stderr)
	}
	if n := nfmFilters(t, ns); n != 0 {
		t.Fatalf("clsact: %d nfm_tc filters left after a clean stop", n)
	}
	if q, _ := exec.Command("tc", "-n", ns, "qdisc", "show", "dev", "vb").Output(); strings.Contains(string(q), "clsact") {
		t.Fatalf("clsact: qdisc left after a clean stop: %s", q)
	}
	t.Log("clsact: 2 filters while running, replaced after SIGKILL, 0 and no qdisc after a clean stop")
}

// nfmFilters counts the nfm_tc filters on vb in network namespace ns,
// ingress and egress.
func nfmFilters(t *testing.T, ns string) int {
	t.Helper()
	n := 0
	for _, dir := range []string{"ingress", "egress"} {
		out, err := exec.Command("tc", "-n", ns, "filter", "show", "dev", "vb", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("tc filter show %s: %v: %s", dir, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "nfm_tc") { // tc prints one line a filter
				n++
			}
		}
	}
	return n
}

// Issue 4, acceptance 4 (CLI side): a kernel table too small for the
// capture loses nothing, and the packets that did not fit are counted
// exactly in --performance-report and the summary.
func TestLiveMapFullReported(t *testing.T) {
	testutil.RequirePrivilege(t, "ip")
	dir := t.TempDir()
	pc := filepath.Join("..", "..", "testdata", "demo.pcap")
	ref := filepath.Join(dir, "offline.csv")
	if code, _, stderr := runCLI(append([]string{"--pcap", pc, "-o", ref}, liveFlowArgs...)...); code != 0 {
		t.Fatal(stderr)
	}
	// With timeouts that never fire, flows are written in creation order:
	// the table holds the first 4, every packet of the others is refused.
	want, _ := os.ReadFile(ref)
	lines := strings.Split(strings.TrimSpace(string(want)), "\n")
	header := splitCSV(lines[0])
	col := -1
	for i, h := range header {
		if h == "bidirectional_packets" {
			col = i
		}
	}
	var wantFull uint64
	for _, l := range lines[5:] {
		var n uint64
		fmt.Sscan(splitCSV(l)[col], &n)
		wantFull += n
	}
	ns := mustNetNSMTU(t, vethMTU)
	out := filepath.Join(dir, "live.csv")
	var report bytes.Buffer
	cmd, stderr := startMeter(t, ns, &report, append([]string{"--mode", "xdp", "-o", out, "--kernel-max-flows", "4",
		"--performance-report", "1"}, liveFlowArgs[:len(liveFlowArgs)-1]...)...)
	rep := exec.Command("ip", "netns", "exec", ns, os.Args[0], "replay", "--pcap", pc, "--interface", "va", "--topspeed")
	rep.Env = append(os.Environ(), "NFMETER_TEST_AS_MAIN=1")
	if b, err := rep.CombinedOutput(); err != nil {
		t.Fatalf("replay: %v: %s", err, b)
	}
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != exitInterrupted {
		t.Fatalf("nfmeter: %v: %s", err, stderr)
	}
	got, _ := os.ReadFile(out)
	d, err := testutil.CompareFlowCSV(want, got, testutil.TimeColumn, 1e-9)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Exact() {
		t.Errorf("flows differ from the offline run: %s", d)
	}
	// The last report line is printed at stop, after every flow.
	rl := strings.Split(strings.TrimSpace(report.String()), "\n")
	var last performanceReport
	if err := json.Unmarshal([]byte(rl[len(rl)-1]), &last); err != nil {
		t.Fatalf("report %q: %v", report.String(), err)
	}
	if last.Counters["map_full"] != wantFull || last.FlowsExpired != uint64(len(lines)-1) || last.PacketsDropped != 0 {
		t.Errorf("report %s: want map_full %d, flows_expired %d, nothing dropped", rl[len(rl)-1], wantFull, len(lines)-1)
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf(`"map_full":%d`, wantFull)) {
		t.Errorf("summary does not report map_full %d: %s", wantFull, stderr)
	}
	t.Logf("table of 4 flows, %d flows: %d packets refused by the table, all metered in userspace", len(lines)-1, wantFull)
}
