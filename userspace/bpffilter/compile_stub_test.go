//go:build !cgo || !linux

package bpffilter

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileUnavailable(t *testing.T) {
	tests := []struct {
		name string
		expr string
	}{
		{name: "port", expr: "src port 52066 or dst port 52066"},
		{name: "syntax error", expr: "my filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr, 1, 0)
			if f != nil || !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Compile = %v, %v; want an error wrapping ErrUnavailable", f, err)
			}
			if !strings.Contains(err.Error(), tt.expr) || !strings.Contains(err.Error(), "needs cgo and libpcap") {
				t.Errorf("error %q lacks the expression or the reason", err)
			}
		})
	}
}
