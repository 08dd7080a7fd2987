// Package corpus finds the read-only NFStream conformance corpus for
// nfmeter's tests and lists its captures. It imports only the standard
// library, so that the tests of every package, pcapreplay and flows
// included, can use it without an import cycle.
//
// The corpus is the directory named by $NFMETER_CONFORMANCE_DIR or, when
// that is unset, shared/conformance beside the module: ../shared/conformance
// from the directory holding go.mod. A directory is a corpus when it has
// nfstream/pcaps. [Find] reports a missing corpus as an error, for tests
// that only take seeds or extra cases from it; [Dir] and [Pcap] skip the
// test instead.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Env is the environment variable that names the corpus directory.
const Env = "NFMETER_CONFORMANCE_DIR"

// Find returns the corpus directory: $NFMETER_CONFORMANCE_DIR when set,
// else ../shared/conformance from the module root (found by walking up
// from the working directory to go.mod). Its error says where it looked.
func Find() (string, error) {
	if dir := os.Getenv(Env); dir != "" {
		if err := check(dir); err != nil {
			return "", fmt.Errorf("conformance corpus not found at %s ($%s): %w", dir, Env, err)
		}
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("conformance corpus not found (set %s): %w", Env, err)
	}
	dir := filepath.Join(filepath.Dir(root), "shared", "conformance")
	if err := check(dir); err != nil {
		return "", fmt.Errorf("conformance corpus not found at %s (set %s): %w", dir, Env, err)
	}
	return dir, nil
}

// Dir returns [Find]'s directory, or skips tb with its error.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := Find()
	if err != nil {
		tb.Skip(err)
	}
	return dir
}

// Pcap returns the path of the NFStream capture name (nfstream/pcaps/name),
// skipping tb when the corpus or the capture is absent.
func Pcap(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(Dir(tb), "nfstream", "pcaps", name)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("capture %s not in the conformance corpus: %v", name, err)
	}
	return p
}

// Captures returns the NFStream captures of the corpus at dir: every file
// of nfstream/pcaps, sorted by name.
func Captures(dir string) []string {
	return glob(dir, "nfstream", "pcaps", "*")
}

// Synthetic returns the synthetic edge-case captures of the corpus at dir
// (synthetic/*.pcap), sorted by name.
func Synthetic(dir string) []string {
	return glob(dir, "synthetic", "*.pcap")
}

// glob lists the files of dir matching the path elems; the patterns are
// constants, so filepath.Glob cannot fail on them.
func glob(dir string, elems ...string) []string {
	m, _ := filepath.Glob(filepath.Join(append([]string{dir}, elems...)...))
	return m
}

// check reports whether dir is a corpus: a directory with nfstream/pcaps.
func check(dir string) error {
	fi, err := os.Stat(filepath.Join(dir, "nfstream", "pcaps"))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", filepath.Join(dir, "nfstream", "pcaps"))
	}
	return nil
}

// moduleRoot returns the nearest directory holding go.mod at or above the
// working directory (a test's package directory).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod at or above %s", wd)
		}
	}
}
