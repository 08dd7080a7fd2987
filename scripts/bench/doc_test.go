package main

import "testing"

func TestSpliceSection(t *testing.T) {
	doc := "# T\n\nUse `<!-- bench:begin -->` and `<!-- bench:end -->`.\n\n<!-- bench:begin -->\nold\nlines\n<!-- bench:end -->\ntail\n"
	got, err := spliceSection([]byte(doc), "new")
	if err != nil {
		t.Fatal(err)
	}
	want := "# T\n\nUse `<!-- bench:begin -->` and `<!-- bench:end -->`.\n\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\ntail\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// Idempotent.
	again, err := spliceSection(got, "new")
	if err != nil || string(again) != want {
		t.Errorf("second splice: %v\n%s", err, again)
	}
	for _, bad := range []string{"", "<!-- bench:end -->\n<!-- bench:begin -->\n", "x <!-- bench:begin -->\n<!-- bench:end -->\n"} {
		if _, err := spliceSection([]byte(bad), "s"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1360033: "1,360,033", -5000: "-5,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProfilePath(t *testing.T) {
	for _, c := range []struct{ base, name, want string }{
		{"/tmp/meter.prof", "A", "/tmp/meter.prof"},
		{"/tmp/meter.prof", "B", "/tmp/meter-B.prof"},
		{"meter", "B", "meter-B"},
	} {
		if got := profilePath(c.base, c.name); got != c.want {
			t.Errorf("profilePath(%q, %q) = %q, want %q", c.base, c.name, got, c.want)
		}
	}
}
