package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	maybeLaunch()
	os.Exit(m.Run())
}

func TestRunChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("peak RSS is measured on Linux only")
	}
	for _, name := range []string{"true", "false", "sh"} {
		if _, err := exec.LookPath(name); err != nil {
			t.Skipf("%s not found", name)
		}
	}
	// Grow this process well beyond what the child needs: the child's
	// figure must not inherit it.
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	s, err := runChild(context.Background(), nil, nil, "true")
	runtime.KeepAlive(big)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("true through the launcher: peak RSS %d KiB", s.rssKiB)
	if s.rssKiB <= 0 || s.rssKiB > 64<<10 || s.wall <= 0 {
		t.Errorf("true: %+v, want a peak RSS of a few MiB", s)
	}
	if _, err := runChild(context.Background(), nil, nil, "false"); err == nil {
		t.Error("false: no error")
	}
	var out bytes.Buffer
	if _, err := runChild(context.Background(), &out, &out, "sh", "-c", "echo hello; echo err >&2"); err != nil || !strings.Contains(out.String(), "hello") || !strings.Contains(out.String(), "err") {
		t.Errorf("sh: %v, output %q", err, out.String())
	}
	if _, err := runChild(context.Background(), nil, &out, "/nonexistent/command"); err == nil {
		t.Error("missing command: no error")
	}
}
