package corpus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeCorpus makes a corpus directory holding the given files.
func fakeCorpus(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "nfstream", "pcaps"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindEnv(t *testing.T) {
	dir := fakeCorpus(t, "nfstream/pcaps/b.pcap", "nfstream/pcaps/a.pcapng", "nfstream/pcaps/c.cap",
		"synthetic/x.pcap", "synthetic/x.out")
	t.Setenv(Env, dir)
	got, err := Find()
	if err != nil || got != dir {
		t.Fatalf("Find() = %q, %v; want %q", got, err, dir)
	}
	if got := Dir(t); got != dir {
		t.Errorf("Dir = %q, want %q", got, dir)
	}
	var names []string
	for _, p := range Captures(dir) {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"a.pcapng", "b.pcap", "c.cap"}; !slices.Equal(names, want) {
		t.Errorf("Captures = %v, want %v", names, want)
	}
	if s := Synthetic(dir); len(s) != 1 || filepath.Base(s[0]) != "x.pcap" {
		t.Errorf("Synthetic = %v", s)
	}
	if p := Pcap(t, "b.pcap"); p != filepath.Join(dir, "nfstream", "pcaps", "b.pcap") {
		t.Errorf("Pcap = %q", p)
	}
}

func TestFindEnvMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	t.Setenv(Env, missing)
	_, err := Find()
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), Env) {
		t.Fatalf("Find() error %v, want one naming %s and $%s", err, missing, Env)
	}
}

// Without the variable the corpus is ../shared/conformance from the
// module root, whether or not it exists there.
func TestFindDefault(t *testing.T) {
	t.Setenv(Env, "")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(filepath.Dir(root), "shared", "conformance")
	got, err := Find()
	if err != nil {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Find() error %v does not name %s", err, want)
		}
		return
	}
	if got != want {
		t.Errorf("Find() = %q, want %q", got, want)
	}
}

// Dir and Pcap skip, not fail, when the corpus or the capture is missing.
func TestSkips(t *testing.T) {
	for name, fn := range map[string]func(t *testing.T){
		"no corpus": func(t *testing.T) {
			t.Setenv(Env, filepath.Join(t.TempDir(), "none"))
			Dir(t)
		},
		"no capture": func(t *testing.T) {
			t.Setenv(Env, fakeCorpus(t))
			Pcap(t, "absent.pcap")
		},
	} {
		var skipped bool
		t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			fn(t)
			t.Error("returned instead of skipping")
		})
		if !skipped {
			t.Errorf("%s: not skipped", name)
		}
	}
}
