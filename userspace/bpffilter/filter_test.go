package bpffilter

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// stmt and jump build instructions like libpcap's BPF_STMT and BPF_JUMP.
func stmt(op uint16, k uint32) Instruction { return Instruction{Op: op, K: k} }

func jmp(op uint16, k uint32, jt, jf uint8) Instruction {
	return Instruction{Op: op, Jt: jt, Jf: jf, K: k}
}

func mustFromInstructions(tb testing.TB, ins []Instruction) *Filter {
	tb.Helper()
	f, err := FromInstructions(ins)
	if err != nil {
		tb.Fatalf("FromInstructions(%+v): %v", ins, err)
	}
	return f
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("decode hex %q: %v", s, err)
	}
	return b
}

// portProgram is what libpcap 1.10 compiles "src port 52066 or dst port
// 52066" to for DLT_EN10MB (tcpdump -dd).
var portProgram = []Instruction{
	{0x28, 0, 0, 0x0000000c},
	{0x15, 0, 8, 0x000086dd},
	{0x30, 0, 0, 0x00000014},
	{0x15, 2, 0, 0x00000084},
	{0x15, 1, 0, 0x00000006},
	{0x15, 0, 17, 0x00000011},
	{0x28, 0, 0, 0x00000036},
	{0x15, 14, 0, 0x0000cb62},
	{0x28, 0, 0, 0x00000038},
	{0x15, 12, 13, 0x0000cb62},
	{0x15, 0, 12, 0x00000800},
	{0x30, 0, 0, 0x00000017},
	{0x15, 2, 0, 0x00000084},
	{0x15, 1, 0, 0x00000006},
	{0x15, 0, 8, 0x00000011},
	{0x28, 0, 0, 0x00000014},
	{0x45, 6, 0, 0x00001fff},
	{0xb1, 0, 0, 0x0000000e},
	{0x48, 0, 0, 0x0000000e},
	{0x15, 2, 0, 0x0000cb62},
	{0x48, 0, 0, 0x00000010},
	{0x15, 0, 1, 0x0000cb62},
	{0x6, 0, 0, 0x00040000},
	{0x6, 0, 0, 0x00000000},
}

// synAckPacket is a SYN-ACK 66.220.156.68:443 -> 192.168.43.18:52066 from
// facebook.pcap (Ethernet, 74 bytes).
const synAckPacket = "3052cb6c9c1b980c82d33c7c08004500003c000040004d0662e142dc9c44c0a8" +
	"2b1201bbcb62ec1df372f5e1bb73a012369cc88700000204057804020" +
	"80abbbb0864004b5bbd01030308"

func TestMatchPortProgram(t *testing.T) {
	f := mustFromInstructions(t, portProgram)
	pkt := mustHex(t, synAckPacket)
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{name: "dst port matches", data: pkt, want: true},
		{name: "other port", data: func() []byte {
			p := append([]byte(nil), pkt...)
			binary.BigEndian.PutUint16(p[36:], 52067)
			return p
		}(), want: false},
		{name: "truncated before ports", data: pkt[:34], want: false},
		{name: "truncated inside dst port", data: pkt[:37], want: false},
		{name: "just the ports", data: pkt[:38], want: true},
		{name: "empty", data: nil, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.Match(tt.data, uint32(len(pkt))); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRun checks every opcode and edge case against libpcap's documented
// semantics (bpf_filter.c) by the exact return value.
func TestRun(t *testing.T) {
	const (
		ldAbsW = bpfLD | bpfW | bpfABS
		ldAbsH = bpfLD | bpfH | bpfABS
		ldAbsB = bpfLD | bpfB | bpfABS
		ldIndW = bpfLD | bpfW | bpfIND
		ldIndH = bpfLD | bpfH | bpfIND
		ldIndB = bpfLD | bpfB | bpfIND
		ldImm  = bpfLD | bpfIMM
		ldxImm = bpfLDX | bpfIMM
		retA   = bpfRET | bpfA
		retK   = bpfRET | bpfK
		txa    = bpfMISC | bpfTXA
		tax    = bpfMISC | bpfTAX
		aluK   = bpfALU | bpfK
		aluX   = bpfALU | bpfX
	)
	pkt := []byte{0x45, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	alu := func(a uint32, op uint16, k uint32) []Instruction {
		return []Instruction{stmt(ldImm, a), stmt(aluK|op, k), stmt(retA, 0)}
	}
	aluXProg := func(a uint32, op uint16, x uint32) []Instruction {
		return []Instruction{stmt(ldImm, a), stmt(ldxImm, x), stmt(aluX|op, 0), stmt(retA, 0)}
	}
	cond := func(op uint16, a, k uint32) []Instruction {
		return []Instruction{stmt(ldImm, a), jmp(bpfJMP|op|bpfK, k, 0, 1), stmt(retK, 1), stmt(retK, 2)}
	}
	condX := func(op uint16, a, x uint32) []Instruction {
		return []Instruction{stmt(ldImm, a), stmt(ldxImm, x), jmp(bpfJMP|op|bpfX, 0, 0, 1), stmt(retK, 1), stmt(retK, 2)}
	}
	// loop adds 1 to A until it equals n, jumping backwards each time.
	loop := func(n uint32) []Instruction {
		return []Instruction{
			stmt(ldImm, 0),
			stmt(aluK|bpfADD, 1),
			jmp(bpfJMP|bpfJEQ|bpfK, n, 1, 0),
			stmt(bpfJMP|bpfJA, uint32(0xFFFFFFFD)), // -3: back to "add"
			stmt(retA, 0),
		}
	}
	tests := []struct {
		name    string
		prog    []Instruction
		data    []byte
		wirelen uint32
		want    uint32
	}{
		{name: "ret k", prog: []Instruction{stmt(retK, 7)}, want: 7},
		{name: "ret a initial zero", prog: []Instruction{stmt(retA, 0)}, want: 0},
		{name: "ld w abs", prog: []Instruction{stmt(ldAbsW, 0), stmt(retA, 0)}, data: pkt, want: 0x45020304},
		{name: "ld w abs last word", prog: []Instruction{stmt(ldAbsW, 4), stmt(retA, 0)}, data: pkt, want: 0x05060708},
		{name: "ld w abs past end", prog: []Instruction{stmt(ldAbsW, 5), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld w abs huge k", prog: []Instruction{stmt(ldAbsW, 0xFFFFFFFE), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld h abs", prog: []Instruction{stmt(ldAbsH, 6), stmt(retA, 0)}, data: pkt, want: 0x0708},
		{name: "ld h abs past end", prog: []Instruction{stmt(ldAbsH, 7), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld b abs", prog: []Instruction{stmt(ldAbsB, 7), stmt(retA, 0)}, data: pkt, want: 0x08},
		{name: "ld b abs past end", prog: []Instruction{stmt(ldAbsB, 8), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld b ancillary vlan tag", prog: []Instruction{stmt(ldAbsB, 0xfffff000+44), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld len", prog: []Instruction{stmt(bpfLD|bpfW|bpfLEN, 0), stmt(retA, 0)}, data: pkt, wirelen: 1514, want: 1514},
		{name: "ldx len", prog: []Instruction{stmt(bpfLDX|bpfW|bpfLEN, 0), stmt(txa, 0), stmt(retA, 0)}, wirelen: 60, want: 60},
		{name: "ld w ind", prog: []Instruction{stmt(ldxImm, 2), stmt(ldIndW, 2), stmt(retA, 0)}, data: pkt, want: 0x05060708},
		{name: "ld w ind past end", prog: []Instruction{stmt(ldxImm, 3), stmt(ldIndW, 2), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld w ind x+k overflows", prog: []Instruction{stmt(ldxImm, 0xFFFFFFFF), stmt(ldIndW, 1), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld h ind", prog: []Instruction{stmt(ldxImm, 5), stmt(ldIndH, 1), stmt(retA, 0)}, data: pkt, want: 0x0708},
		{name: "ld h ind past end", prog: []Instruction{stmt(ldxImm, 6), stmt(ldIndH, 1), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld h ind x+k overflows", prog: []Instruction{stmt(ldxImm, 1), stmt(ldIndH, 0xFFFFFFFF), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld b ind", prog: []Instruction{stmt(ldxImm, 3), stmt(ldIndB, 4), stmt(retA, 0)}, data: pkt, want: 0x08},
		{name: "ld b ind past end", prog: []Instruction{stmt(ldxImm, 4), stmt(ldIndB, 4), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ld b ind x+k overflows", prog: []Instruction{stmt(ldxImm, 0x80000000), stmt(ldIndB, 0x80000001), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "ldx msh", prog: []Instruction{stmt(bpfLDX|bpfMSH|bpfB, 0), stmt(txa, 0), stmt(retA, 0)}, data: pkt, want: 20},
		{name: "ldx msh past end", prog: []Instruction{stmt(bpfLDX|bpfMSH|bpfB, 8), stmt(retK, 1)}, data: pkt, want: 0},
		{name: "loads on empty packet", prog: []Instruction{stmt(ldAbsB, 0), stmt(retK, 1)}, want: 0},
		{name: "scratch memory", prog: []Instruction{
			stmt(ldImm, 11), stmt(bpfST, 15), stmt(ldxImm, 22), stmt(bpfSTX, 0),
			stmt(ldImm, 0), stmt(bpfLDX|bpfMEM, 15), stmt(bpfLD|bpfMEM, 0), stmt(aluX|bpfADD, 0), stmt(retA, 0),
		}, want: 33},
		{name: "scratch memory starts zeroed", prog: []Instruction{stmt(ldImm, 5), stmt(bpfLD|bpfMEM, 3), stmt(retA, 0)}, want: 0},
		{name: "add k wraps", prog: alu(0xFFFFFFFF, bpfADD, 2), want: 1},
		{name: "sub k wraps", prog: alu(1, bpfSUB, 2), want: 0xFFFFFFFF},
		{name: "mul k wraps", prog: alu(0x80000001, bpfMUL, 2), want: 2},
		{name: "div k", prog: alu(100, bpfDIV, 7), want: 14},
		{name: "mod k", prog: alu(100, bpfMOD, 7), want: 2},
		{name: "and k", prog: alu(0xF0F0, bpfAND, 0xFF00), want: 0xF000},
		{name: "or k", prog: alu(0xF0F0, bpfOR, 0x0F00), want: 0xFFF0},
		{name: "xor k", prog: alu(0xF0F0, bpfXOR, 0xFF00), want: 0x0FF0},
		{name: "lsh k", prog: alu(1, bpfLSH, 31), want: 0x80000000},
		{name: "rsh k", prog: alu(0x80000000, bpfRSH, 31), want: 1},
		{name: "add x", prog: aluXProg(40, bpfADD, 2), want: 42},
		{name: "sub x", prog: aluXProg(40, bpfSUB, 42), want: 0xFFFFFFFE},
		{name: "mul x", prog: aluXProg(6, bpfMUL, 7), want: 42},
		{name: "div x", prog: aluXProg(85, bpfDIV, 2), want: 42},
		{name: "div x by zero rejects", prog: aluXProg(85, bpfDIV, 0), want: 0},
		{name: "mod x", prog: aluXProg(85, bpfMOD, 43), want: 42},
		{name: "mod x by zero rejects", prog: aluXProg(85, bpfMOD, 0), want: 0},
		{name: "and x", prog: aluXProg(0xFF, bpfAND, 0x2A), want: 0x2A},
		{name: "or x", prog: aluXProg(0x20, bpfOR, 0x0A), want: 0x2A},
		{name: "xor x", prog: aluXProg(0xFF, bpfXOR, 0xD5), want: 0x2A},
		{name: "lsh x", prog: aluXProg(21, bpfLSH, 1), want: 42},
		{name: "lsh x 31", prog: aluXProg(3, bpfLSH, 31), want: 0x80000000},
		{name: "lsh x 32 is zero", prog: aluXProg(3, bpfLSH, 32), want: 0},
		{name: "lsh x huge is zero", prog: aluXProg(3, bpfLSH, 0xFFFFFFFF), want: 0},
		{name: "rsh x", prog: aluXProg(84, bpfRSH, 1), want: 42},
		{name: "rsh x 33 is zero", prog: aluXProg(0xFFFFFFFF, bpfRSH, 33), want: 0},
		{name: "neg", prog: []Instruction{stmt(ldImm, 1), stmt(bpfALU|bpfNEG, 0), stmt(retA, 0)}, want: 0xFFFFFFFF},
		{name: "neg min int", prog: []Instruction{stmt(ldImm, 0x80000000), stmt(bpfALU|bpfNEG, 0), stmt(retA, 0)}, want: 0x80000000},
		{name: "tax txa", prog: []Instruction{stmt(ldImm, 9), stmt(tax, 0), stmt(ldImm, 0), stmt(txa, 0), stmt(retA, 0)}, want: 9},
		{name: "jeq k true", prog: cond(bpfJEQ, 5, 5), want: 1},
		{name: "jeq k false", prog: cond(bpfJEQ, 5, 6), want: 2},
		{name: "jgt k true", prog: cond(bpfJGT, 0xFFFFFFFF, 1), want: 1},
		{name: "jgt k equal", prog: cond(bpfJGT, 5, 5), want: 2},
		{name: "jge k equal", prog: cond(bpfJGE, 5, 5), want: 1},
		{name: "jge k false", prog: cond(bpfJGE, 4, 5), want: 2},
		{name: "jset k true", prog: cond(bpfJSET, 6, 2), want: 1},
		{name: "jset k false", prog: cond(bpfJSET, 6, 1), want: 2},
		{name: "jeq x true", prog: condX(bpfJEQ, 5, 5), want: 1},
		{name: "jeq x false", prog: condX(bpfJEQ, 5, 6), want: 2},
		{name: "jgt x true", prog: condX(bpfJGT, 6, 5), want: 1},
		{name: "jgt x false", prog: condX(bpfJGT, 5, 5), want: 2},
		{name: "jge x true", prog: condX(bpfJGE, 5, 5), want: 1},
		{name: "jge x false", prog: condX(bpfJGE, 4, 5), want: 2},
		{name: "jset x true", prog: condX(bpfJSET, 3, 2), want: 1},
		{name: "jset x false", prog: condX(bpfJSET, 3, 4), want: 2},
		{name: "ja forward", prog: []Instruction{stmt(bpfJMP|bpfJA, 1), stmt(retK, 1), stmt(retK, 2)}, want: 2},
		{name: "64 backward jumps allowed", prog: loop(65), want: 65},
		{name: "65th backward jump rejects", prog: loop(66), want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFromInstructions(t, tt.prog)
			if got := run(f.prog, tt.data, tt.wirelen); got != tt.want {
				t.Errorf("run = %#x, want %#x", got, tt.want)
			}
			if got, want := f.Match(tt.data, tt.wirelen), tt.want != 0; got != want {
				t.Errorf("Match = %v, want %v", got, want)
			}
		})
	}
}

func TestFromInstructionsValidation(t *testing.T) {
	ret := stmt(bpfRET|bpfK, 1)
	tests := []struct {
		name    string
		prog    []Instruction
		wantErr string // empty: valid
	}{
		{name: "single ret", prog: []Instruction{ret}},
		{name: "ret a", prog: []Instruction{stmt(bpfRET|bpfA, 0)}},
		{name: "empty", prog: nil, wantErr: "empty program"},
		{name: "no final ret", prog: []Instruction{ret, stmt(bpfLD|bpfIMM, 1)}, wantErr: "not a return"},
		{name: "unknown opcode", prog: []Instruction{stmt(0xffff, 0), ret}, wantErr: "unknown opcode"},
		{name: "ld msh is not an opcode", prog: []Instruction{stmt(bpfLD|bpfMSH|bpfB, 0), ret}, wantErr: "unknown opcode"},
		{name: "ld h imm is not an opcode", prog: []Instruction{stmt(bpfLD|bpfH|bpfIMM, 0), ret}, wantErr: "unknown opcode"},
		{name: "ret x is not an opcode", prog: []Instruction{stmt(bpfRET|bpfX, 0)}, wantErr: "unknown opcode"},
		{name: "ldx abs is not an opcode", prog: []Instruction{stmt(bpfLDX|bpfW|bpfABS, 0), ret}, wantErr: "unknown opcode"},
		{name: "ld mem 15", prog: []Instruction{stmt(bpfLD|bpfMEM, 15), ret}},
		{name: "ld mem 16", prog: []Instruction{stmt(bpfLD|bpfMEM, 16), ret}, wantErr: "scratch memory"},
		{name: "ldx mem 16", prog: []Instruction{stmt(bpfLDX|bpfMEM, 16), ret}, wantErr: "scratch memory"},
		{name: "st 16", prog: []Instruction{stmt(bpfST, 16), ret}, wantErr: "scratch memory"},
		{name: "stx huge", prog: []Instruction{stmt(bpfSTX, 0xFFFFFFFF), ret}, wantErr: "scratch memory"},
		{name: "div k 0", prog: []Instruction{stmt(bpfALU|bpfDIV|bpfK, 0), ret}, wantErr: "division by constant 0"},
		{name: "mod k 0", prog: []Instruction{stmt(bpfALU|bpfMOD|bpfK, 0), ret}, wantErr: "division by constant 0"},
		{name: "div x", prog: []Instruction{stmt(bpfALU|bpfDIV|bpfX, 0), ret}},
		{name: "lsh k 31", prog: []Instruction{stmt(bpfALU|bpfLSH|bpfK, 31), ret}},
		{name: "lsh k 32", prog: []Instruction{stmt(bpfALU|bpfLSH|bpfK, 32), ret}, wantErr: "shift by constant"},
		{name: "rsh k 40", prog: []Instruction{stmt(bpfALU|bpfRSH|bpfK, 40), ret}, wantErr: "shift by constant"},
		{name: "jeq to last", prog: []Instruction{jmp(bpfJMP|bpfJEQ|bpfK, 0, 1, 0), ret, ret}},
		{name: "jeq jt past end", prog: []Instruction{jmp(bpfJMP|bpfJEQ|bpfK, 0, 2, 0), ret, ret}, wantErr: "out of range"},
		{name: "jset jf past end", prog: []Instruction{jmp(bpfJMP|bpfJSET|bpfX, 0, 0, 255), ret}, wantErr: "out of range"},
		{name: "ja to last", prog: []Instruction{stmt(bpfJMP|bpfJA, 1), ret, ret}},
		{name: "ja past end", prog: []Instruction{stmt(bpfJMP|bpfJA, 2), ret, ret}, wantErr: "out of range"},
		{name: "ja huge", prog: []Instruction{stmt(bpfJMP|bpfJA, 0x7FFFFFFF), ret}, wantErr: "out of range"},
		{name: "ja backward", prog: []Instruction{ret, stmt(bpfJMP|bpfJA, 0xFFFFFFFE), ret}},
		{name: "ja before start", prog: []Instruction{ret, stmt(bpfJMP|bpfJA, 0xFFFFFFFD), ret}, wantErr: "out of range"},
		{name: "ja to itself", prog: []Instruction{stmt(bpfJMP|bpfJA, 0xFFFFFFFF), ret}, wantErr: "jump to itself"},
		{name: "jmp with unknown op", prog: []Instruction{stmt(bpfJMP|0x50, 0), ret}, wantErr: "unknown opcode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := FromInstructions(tt.prog)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("FromInstructions: %v", err)
				}
				if got := f.Instructions(); !reflect.DeepEqual(got, tt.prog) {
					t.Errorf("Instructions() = %+v, want %+v", got, tt.prog)
				}
				return
			}
			if err == nil {
				t.Fatalf("FromInstructions succeeded, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidProgram) {
				t.Errorf("error %v does not wrap ErrInvalidProgram", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if f != nil {
				t.Errorf("got a filter with an error")
			}
		})
	}
}

func TestInstructionsIsACopy(t *testing.T) {
	in := []Instruction{stmt(bpfRET|bpfK, 1)}
	f := mustFromInstructions(t, in)
	in[0].K = 0 // the filter copied its input
	out := f.Instructions()
	out[0].K = 0 // and hands out copies
	if !f.Match(nil, 0) {
		t.Fatal("filter changed through an aliased slice")
	}
}

func TestNilFilterAcceptsAll(t *testing.T) {
	var f *Filter
	if !f.Match(nil, 0) || !f.Match([]byte{1, 2, 3}, 3) {
		t.Error("nil filter rejected a packet")
	}
	if f.Instructions() != nil {
		t.Error("nil filter has instructions")
	}
}

func TestCompileEmptyExpression(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		snapLen int
		wantK   uint32
	}{
		{name: "empty default snaplen", expr: "", snapLen: 0, wantK: defaultSnapLen},
		{name: "blank", expr: " \t\n", snapLen: 96, wantK: 96},
		{name: "negative snaplen", expr: "", snapLen: -1, wantK: defaultSnapLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.expr, 1, tt.snapLen)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			want := []Instruction{stmt(bpfRET|bpfK, tt.wantK)}
			if got := f.Instructions(); !reflect.DeepEqual(got, want) {
				t.Errorf("Instructions() = %+v, want %+v", got, want)
			}
			if !f.Match(nil, 0) || !f.Match([]byte{0xff}, 1500) {
				t.Error("empty expression rejected a packet")
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f := mustFromInstructions(t, portProgram)
	pkt := mustHex(t, synAckPacket)
	allocs := testing.AllocsPerRun(1000, func() {
		if !f.Match(pkt, uint32(len(pkt))) {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call", allocs)
	}
}

// validOpcodes lists every opcode the interpreter implements.
func validOpcodes() []uint16 {
	var ops []uint16
	for op := 0; op <= 0xffff; op++ {
		if decode(uint16(op)) != opInvalid {
			ops = append(ops, uint16(op))
		}
	}
	return ops
}

func TestValidOpcodes(t *testing.T) {
	// libpcap's bpf_filter() switch has exactly 49 cases.
	if got := len(validOpcodes()); got != 49 {
		t.Errorf("%d valid opcodes, want 49", got)
	}
}

// programFromBytes turns fuzz input into a program: 8 bytes per
// instruction (op, jt, jf, k). With repair, opcodes are mapped onto valid
// ones, indices and jumps are brought into range and a final return is
// appended, so that most programs pass validation; backward jumps are kept
// only when allowBackward is set.
func programFromBytes(b []byte, repair, allowBackward bool, ops []uint16) []Instruction {
	const maxLen = 256
	var prog []Instruction
	for len(b) >= 8 && len(prog) < maxLen {
		prog = append(prog, Instruction{
			Op: binary.LittleEndian.Uint16(b),
			Jt: b[2],
			Jf: b[3],
			K:  binary.LittleEndian.Uint32(b[4:]),
		})
		b = b[8:]
	}
	if !repair {
		return prog
	}
	prog = append(prog, Instruction{Op: bpfRET | bpfA})
	n := len(prog)
	for i := range prog[:n-1] {
		in := &prog[i]
		in.Op = ops[int(in.Op)%len(ops)]
		rest := n - i - 1 // instructions after i
		switch decode(in.Op) {
		case opLdMem, opLdxMem, opSt, opStx:
			in.K %= bpfMemWords
		case opDivK, opModK:
			if in.K == 0 {
				in.K = 1
			}
		case opLshK, opRshK:
			in.K %= 32
		case opJa:
			off := int64(int32(in.K))
			if off < 0 && allowBackward && i > 0 {
				// Target t in [0, i-1], offset t-(i+1) <= -2.
				t := int64(uint64(-off) % uint64(i))
				in.K = uint32(int32(t - int64(i) - 1))
			} else {
				in.K = uint32(uint64(in.K) % uint64(rest))
			}
		case opJgtK, opJgeK, opJeqK, opJsetK, opJgtX, opJgeX, opJeqX, opJsetX:
			in.Jt = uint8(int(in.Jt) % rest)
			in.Jf = uint8(int(in.Jf) % rest)
		}
	}
	return prog
}

func TestProgramFromBytesRepairs(t *testing.T) {
	ops := validOpcodes()
	for seed := 0; seed < 2000; seed++ {
		b := make([]byte, 8*(seed%40+1))
		x := uint32(seed*2654435761 + 1)
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		for _, back := range []bool{false, true} {
			prog := programFromBytes(b, true, back, ops)
			f, err := FromInstructions(prog)
			if err != nil {
				t.Fatalf("seed %d: repaired program invalid: %v", seed, err)
			}
			f.Match(b, uint32(len(b)))
		}
	}
}

func FuzzMatch(f *testing.F) {
	pkt := mustHex(f, synAckPacket)
	var prog []byte
	for _, in := range portProgram {
		prog = binary.LittleEndian.AppendUint16(prog, in.Op)
		prog = append(prog, in.Jt, in.Jf)
		prog = binary.LittleEndian.AppendUint32(prog, in.K)
	}
	f.Add(prog, pkt, uint32(len(pkt)))
	f.Add(prog, pkt[:20], uint32(len(pkt)))
	f.Add([]byte{0x06, 0, 0, 0, 1, 0, 0, 0}, []byte{}, uint32(0))
	f.Add([]byte{0x00, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 0, 0, 0, 0x05, 0, 1, 0, 0xfe, 0xff, 0xff, 0xff}, []byte{1}, uint32(1))
	ops := validOpcodes()
	f.Fuzz(func(t *testing.T, progBytes, data []byte, wirelen uint32) {
		// Raw: exercises the validator; must never panic.
		if flt, err := FromInstructions(programFromBytes(progBytes, false, false, ops)); err == nil {
			flt.Match(data, wirelen)
		}
		// Repaired: nearly always valid, exercises the interpreter,
		// backward jumps included.
		prog := programFromBytes(progBytes, true, true, ops)
		flt, err := FromInstructions(prog)
		if err != nil {
			t.Fatalf("repaired program invalid: %v\n%+v", err, prog)
		}
		got := flt.Match(data, wirelen)
		if again := flt.Match(data, wirelen); again != got {
			t.Fatalf("Match not deterministic")
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	f := mustFromInstructions(b, portProgram)
	pkt := mustHex(b, synAckPacket)
	wirelen := uint32(len(pkt))
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match(pkt, wirelen) {
			b.Fatal("no match")
		}
	}
}

func TestMatchConcurrent(t *testing.T) {
	f := mustFromInstructions(t, portProgram)
	pkt := mustHex(t, synAckPacket)
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 1000 {
				ok = ok && f.Match(pkt, uint32(len(pkt))) && !f.Match(pkt[:30], uint32(len(pkt)))
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("wrong result under concurrency")
		}
	}
}
