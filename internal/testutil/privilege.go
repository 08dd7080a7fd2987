package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequirePrivilege skips tb unless the process is root and every tool is on
// PATH, naming what is missing. With NFMETER_TEST_REQUIRE_BPF=1 (the
// privileged CI lane) it fails instead, so that a skip cannot hide a break.
func RequirePrivilege(tb testing.TB, tools ...string) {
	tb.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root (CAP_BPF, CAP_NET_ADMIN)"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil && why == "" {
			why = fmt.Sprintf("needs %s: %v", tool, err)
		}
	}
	if why != "" {
		SkipOrFail(tb, why)
	}
}

// SkipOrFail skips tb with the reason, or fails it when
// NFMETER_TEST_REQUIRE_BPF=1.
func SkipOrFail(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("NFMETER_TEST_REQUIRE_BPF") == "1" {
		tb.Fatalf("%s (NFMETER_TEST_REQUIRE_BPF=1 forbids skipping)", why)
	}
	tb.Skip(why)
}
