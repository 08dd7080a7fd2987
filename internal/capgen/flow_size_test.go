package capgen

import (
	"testing"
	"unsafe"
)

func TestFlowSize(t *testing.T) {
	if s := unsafe.Sizeof(flow{}); s != 64 {
		t.Errorf("flow is %d bytes, want 64", s)
	}
}
