package bpffilter

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var (
	// ErrCompile is wrapped by every error Compile returns because libpcap
	// rejected the expression (syntax error, unknown host name, primitive
	// not supported on the link type, ...).
	ErrCompile = errors.New("invalid bpf filter expression")
	// ErrUnavailable is wrapped by the error Compile returns when the
	// package was built without cgo or for a system other than Linux, so
	// that libpcap's compiler cannot be used.
	ErrUnavailable = errors.New("bpf filter needs cgo and libpcap")
	// ErrInvalidProgram is wrapped by the errors FromInstructions returns
	// for a program that fails validation.
	ErrInvalidProgram = errors.New("invalid bpf program")
)

// Instruction is one classic BPF instruction, laid out like libpcap's
// struct bpf_insn.
type Instruction struct {
	Op uint16 // opcode: class | size | mode, class | op | src, ...
	Jt uint8  // conditional jump: offset when true
	Jf uint8  // conditional jump: offset when false
	K  uint32 // generic field: constant, offset, jump offset, memory index
}

// Classic BPF opcode fields, as in <pcap/bpf.h>.
const (
	bpfLD   = 0x00
	bpfLDX  = 0x01
	bpfST   = 0x02
	bpfSTX  = 0x03
	bpfALU  = 0x04
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfMISC = 0x07

	bpfW = 0x00
	bpfH = 0x08
	bpfB = 0x10

	bpfIMM = 0x00
	bpfABS = 0x20
	bpfIND = 0x40
	bpfMEM = 0x60
	bpfLEN = 0x80
	bpfMSH = 0xa0

	bpfADD = 0x00
	bpfSUB = 0x10
	bpfMUL = 0x20
	bpfDIV = 0x30
	bpfOR  = 0x40
	bpfAND = 0x50
	bpfLSH = 0x60
	bpfRSH = 0x70
	bpfNEG = 0x80
	bpfMOD = 0x90
	bpfXOR = 0xa0

	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJGT  = 0x20
	bpfJGE  = 0x30
	bpfJSET = 0x40

	bpfK = 0x00
	bpfX = 0x08
	bpfA = 0x10 // BPF_RVAL: return A

	bpfTAX = 0x00
	bpfTXA = 0x80

	// bpfMemWords is BPF_MEMWORDS, the number of scratch memory cells.
	bpfMemWords = 16
	// maxBackwardJumps is libpcap's MAX_BACKWARD_JUMPS: the number of
	// backward "ja" a single run may take before the packet is rejected.
	maxBackwardJumps = 64
	// maxInstructions is libpcap's userland BPF_MAXINSNS.
	maxInstructions = 3060000
)

// Dense internal opcodes. Decoding the sparse 16-bit BPF opcode once lets
// the interpreter's switch compile to a jump table.
const (
	opInvalid uint8 = iota
	opRetK
	opRetA
	opLdAbsW
	opLdAbsH
	opLdAbsB
	opLdLen
	opLdxLen
	opLdIndW
	opLdIndH
	opLdIndB
	opLdxMsh
	opLdImm
	opLdxImm
	opLdMem
	opLdxMem
	opSt
	opStx
	opJa
	opJgtK
	opJgeK
	opJeqK
	opJsetK
	opJgtX
	opJgeX
	opJeqX
	opJsetX
	opAddX
	opSubX
	opMulX
	opDivX
	opModX
	opAndX
	opOrX
	opXorX
	opLshX
	opRshX
	opAddK
	opSubK
	opMulK
	opDivK
	opModK
	opAndK
	opOrK
	opXorK
	opLshK
	opRshK
	opNeg
	opTax
	opTxa
)

// decode maps a BPF opcode to the internal opcode; exactly the opcodes of
// libpcap's bpf_filter() switch are valid.
func decode(code uint16) uint8 {
	switch code {
	case bpfRET | bpfK:
		return opRetK
	case bpfRET | bpfA:
		return opRetA
	case bpfLD | bpfW | bpfABS:
		return opLdAbsW
	case bpfLD | bpfH | bpfABS:
		return opLdAbsH
	case bpfLD | bpfB | bpfABS:
		return opLdAbsB
	case bpfLD | bpfW | bpfLEN:
		return opLdLen
	case bpfLDX | bpfW | bpfLEN:
		return opLdxLen
	case bpfLD | bpfW | bpfIND:
		return opLdIndW
	case bpfLD | bpfH | bpfIND:
		return opLdIndH
	case bpfLD | bpfB | bpfIND:
		return opLdIndB
	case bpfLDX | bpfMSH | bpfB:
		return opLdxMsh
	case bpfLD | bpfIMM:
		return opLdImm
	case bpfLDX | bpfIMM:
		return opLdxImm
	case bpfLD | bpfMEM:
		return opLdMem
	case bpfLDX | bpfMEM:
		return opLdxMem
	case bpfST:
		return opSt
	case bpfSTX:
		return opStx
	case bpfJMP | bpfJA:
		return opJa
	case bpfJMP | bpfJGT | bpfK:
		return opJgtK
	case bpfJMP | bpfJGE | bpfK:
		return opJgeK
	case bpfJMP | bpfJEQ | bpfK:
		return opJeqK
	case bpfJMP | bpfJSET | bpfK:
		return opJsetK
	case bpfJMP | bpfJGT | bpfX:
		return opJgtX
	case bpfJMP | bpfJGE | bpfX:
		return opJgeX
	case bpfJMP | bpfJEQ | bpfX:
		return opJeqX
	case bpfJMP | bpfJSET | bpfX:
		return opJsetX
	case bpfALU | bpfADD | bpfX:
		return opAddX
	case bpfALU | bpfSUB | bpfX:
		return opSubX
	case bpfALU | bpfMUL | bpfX:
		return opMulX
	case bpfALU | bpfDIV | bpfX:
		return opDivX
	case bpfALU | bpfMOD | bpfX:
		return opModX
	case bpfALU | bpfAND | bpfX:
		return opAndX
	case bpfALU | bpfOR | bpfX:
		return opOrX
	case bpfALU | bpfXOR | bpfX:
		return opXorX
	case bpfALU | bpfLSH | bpfX:
		return opLshX
	case bpfALU | bpfRSH | bpfX:
		return opRshX
	case bpfALU | bpfADD | bpfK:
		return opAddK
	case bpfALU | bpfSUB | bpfK:
		return opSubK
	case bpfALU | bpfMUL | bpfK:
		return opMulK
	case bpfALU | bpfDIV | bpfK:
		return opDivK
	case bpfALU | bpfMOD | bpfK:
		return opModK
	case bpfALU | bpfAND | bpfK:
		return opAndK
	case bpfALU | bpfOR | bpfK:
		return opOrK
	case bpfALU | bpfXOR | bpfK:
		return opXorK
	case bpfALU | bpfLSH | bpfK:
		return opLshK
	case bpfALU | bpfRSH | bpfK:
		return opRshK
	case bpfALU | bpfNEG:
		return opNeg
	case bpfMISC | bpfTAX:
		return opTax
	case bpfMISC | bpfTXA:
		return opTxa
	}
	return opInvalid
}

// insn is a decoded instruction.
type insn struct {
	op     uint8
	jt, jf uint8
	k      uint32
}

// Filter is a compiled classic BPF program. It is immutable and safe for
// concurrent use. A nil *Filter accepts every packet, like libpcap with no
// filter set.
type Filter struct {
	src  []Instruction // as given or as compiled, for Instructions
	prog []insn        // decoded, validated
}

// acceptAll returns the program libpcap compiles for an empty expression.
func acceptAll(snapLen uint32) *Filter {
	f, err := FromInstructions([]Instruction{{Op: bpfRET | bpfK, K: snapLen}})
	if err != nil {
		panic("bpffilter: accept-all program rejected: " + err.Error())
	}
	return f
}

// FromInstructions validates a classic BPF program and returns a Filter
// running it. The slice is copied. Validation follows current libpcap's
// bpf_validate (see the package documentation); errors wrap
// ErrInvalidProgram.
func FromInstructions(ins []Instruction) (*Filter, error) {
	if err := validate(ins); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidProgram, err)
	}
	f := &Filter{
		src:  append([]Instruction(nil), ins...),
		prog: make([]insn, len(ins)),
	}
	for i, in := range ins {
		f.prog[i] = insn{op: decode(in.Op), jt: in.Jt, jf: in.Jf, k: in.K}
	}
	return f, nil
}

// validate reports why ins is not a program the interpreter may run, or
// nil. It mirrors pcapint_validate_filter/pcapint_valid_insn of current
// libpcap.
func validate(ins []Instruction) error {
	n := len(ins)
	if n < 1 {
		return errors.New("empty program")
	}
	if n > maxInstructions {
		return fmt.Errorf("%d instructions, more than %d", n, maxInstructions)
	}
	for i, in := range ins {
		op := decode(in.Op)
		switch op {
		case opInvalid:
			return fmt.Errorf("instruction %d: unknown opcode %#04x", i, in.Op)
		case opLdMem, opLdxMem, opSt, opStx:
			if in.K >= bpfMemWords {
				return fmt.Errorf("instruction %d: scratch memory index %d out of range", i, in.K)
			}
		case opDivK, opModK:
			if in.K == 0 {
				return fmt.Errorf("instruction %d: division by constant 0", i)
			}
		case opLshK, opRshK:
			if in.K >= 32 {
				return fmt.Errorf("instruction %d: shift by constant %d", i, in.K)
			}
		case opJa:
			// Backward jumps are allowed (libpcap emits them for
			// "protochain"); the target must be inside the program and
			// not the jump itself.
			target := int64(i) + 1 + int64(int32(in.K))
			if target < 0 || target >= int64(n) {
				return fmt.Errorf("instruction %d: jump target %d out of range", i, target)
			}
			if int32(in.K) == -1 {
				return fmt.Errorf("instruction %d: jump to itself", i)
			}
		case opJgtK, opJgeK, opJeqK, opJsetK, opJgtX, opJgeX, opJeqX, opJsetX:
			if i+1+int(in.Jt) >= n || i+1+int(in.Jf) >= n {
				return fmt.Errorf("instruction %d: jump target out of range", i)
			}
		}
	}
	if last := decode(ins[n-1].Op); last != opRetK && last != opRetA {
		return errors.New("last instruction is not a return")
	}
	return nil
}

// Instructions returns a copy of the program.
func (f *Filter) Instructions() []Instruction {
	if f == nil {
		return nil
	}
	return append([]Instruction(nil), f.src...)
}

// Match reports whether the filter accepts the packet: exactly libpcap's
// bpf_filter(prog, data, wireLen, len(data)) != 0, where data holds the
// captured bytes (caplen = len(data)) and wireLen is the original length on
// the wire (what "len" and "greater"/"less" test). It does not allocate and
// never panics.
func (f *Filter) Match(data []byte, wireLen uint32) bool {
	if f == nil {
		return true
	}
	return run(f.prog, data, wireLen) != 0
}

// run interprets a validated program; it mirrors
// pcapint_filter_with_aux_data without aux data (an offline capture has no
// out-of-band VLAN tag, so ancillary loads at SKF_AD_OFF+... fall past the
// captured data and return 0, as in libpcap).
func run(prog []insn, p []byte, wirelen uint32) uint32 {
	var (
		a, x     uint32
		mem      [bpfMemWords]uint32
		backward int
	)
	buflen := uint64(len(p))
	for pc := 0; pc < len(prog); pc++ {
		in := &prog[pc]
		switch in.op {
		case opRetK:
			return in.k
		case opRetA:
			return a
		case opLdAbsW:
			k := uint64(in.k)
			if k+4 > buflen {
				return 0
			}
			a = binary.BigEndian.Uint32(p[k:])
		case opLdAbsH:
			k := uint64(in.k)
			if k+2 > buflen {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(p[k:]))
		case opLdAbsB:
			k := uint64(in.k)
			if k >= buflen {
				return 0
			}
			a = uint32(p[k])
		case opLdLen:
			a = wirelen
		case opLdxLen:
			x = wirelen
		case opLdIndW:
			k := uint64(x) + uint64(in.k)
			if k+4 > buflen {
				return 0
			}
			a = binary.BigEndian.Uint32(p[k:])
		case opLdIndH:
			k := uint64(x) + uint64(in.k)
			if k+2 > buflen {
				return 0
			}
			a = uint32(binary.BigEndian.Uint16(p[k:]))
		case opLdIndB:
			k := uint64(x) + uint64(in.k)
			if k >= buflen {
				return 0
			}
			a = uint32(p[k])
		case opLdxMsh:
			k := uint64(in.k)
			if k >= buflen {
				return 0
			}
			x = uint32(p[k]&0xf) << 2
		case opLdImm:
			a = in.k
		case opLdxImm:
			x = in.k
		case opLdMem:
			a = mem[in.k%bpfMemWords]
		case opLdxMem:
			x = mem[in.k%bpfMemWords]
		case opSt:
			mem[in.k%bpfMemWords] = a
		case opStx:
			mem[in.k%bpfMemWords] = x
		case opJa:
			off := int32(in.k)
			if off < 0 {
				if off == -1 || backward >= maxBackwardJumps {
					return 0
				}
				backward++
			}
			pc += int(off)
			if pc+1 < 0 || pc+1 >= len(prog) {
				return 0 // unreachable for validated programs
			}
		case opJgtK:
			pc += jump(a > in.k, in)
		case opJgeK:
			pc += jump(a >= in.k, in)
		case opJeqK:
			pc += jump(a == in.k, in)
		case opJsetK:
			pc += jump(a&in.k != 0, in)
		case opJgtX:
			pc += jump(a > x, in)
		case opJgeX:
			pc += jump(a >= x, in)
		case opJeqX:
			pc += jump(a == x, in)
		case opJsetX:
			pc += jump(a&x != 0, in)
		case opAddX:
			a += x
		case opSubX:
			a -= x
		case opMulX:
			a *= x
		case opDivX:
			if x == 0 {
				return 0
			}
			a /= x
		case opModX:
			if x == 0 {
				return 0
			}
			a %= x
		case opAndX:
			a &= x
		case opOrX:
			a |= x
		case opXorX:
			a ^= x
		case opLshX:
			a <<= x // Go: a shift by 32 or more yields 0, as libpcap does
		case opRshX:
			a >>= x
		case opAddK:
			a += in.k
		case opSubK:
			a -= in.k
		case opMulK:
			a *= in.k
		case opDivK:
			if in.k == 0 {
				return 0 // unreachable for validated programs
			}
			a /= in.k
		case opModK:
			if in.k == 0 {
				return 0 // unreachable for validated programs
			}
			a %= in.k
		case opAndK:
			a &= in.k
		case opOrK:
			a |= in.k
		case opXorK:
			a ^= in.k
		case opLshK:
			a <<= in.k
		case opRshK:
			a >>= in.k
		case opNeg:
			a = -a
		case opTax:
			x = a
		case opTxa:
			a = x
		default:
			return 0 // unreachable for validated programs
		}
	}
	return 0 // ran off the end; unreachable for validated programs
}

// jump returns the conditional jump offset.
func jump(cond bool, in *insn) int {
	if cond {
		return int(in.jt)
	}
	return int(in.jf)
}
