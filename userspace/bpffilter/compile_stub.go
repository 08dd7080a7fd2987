//go:build !cgo || !linux

package bpffilter

// compileProgram fails: libpcap's compiler is only reachable through cgo
// on Linux.
func compileProgram(expr string, _ int, _ int) ([]Instruction, error) {
	return nil, &compileError{expr: expr, msg: ErrUnavailable.Error(), err: ErrUnavailable}
}
