package bpf

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcode fields (linux/filter.h, pcap/bpf.h). An opcode is
// class | size | mode for loads, class | op | source for ALU and jumps.
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	mdIMM = 0x00
	mdABS = 0x20
	mdIND = 0x40
	mdMEM = 0x60
	mdLEN = 0x80
	mdMSH = 0xa0

	srcK = 0x00
	srcX = 0x08

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	retK = 0x00
	retA = 0x10

	miscTAX = 0x00
	miscTXA = 0x80

	// memWords is the scratch memory of the classic BPF machine (BPF_MEMWORDS).
	memWords = 16
	// maxInstructions is the kernel's BPF_MAXINSNS: a longer program would be
	// refused by SO_ATTACH_FILTER, so file input refuses it too.
	maxInstructions = 4096
)

// ErrInvalidProgram is wrapped by NewProgram for a program the kernel would
// refuse to attach.
var ErrInvalidProgram = errors.New("bpf: invalid program")

// Program is a validated classic BPF program that runs in Go, with the
// semantics of the kernel and of libpcap's bpf_filter: a load outside the
// packet or a division by zero ends the program with 0 (no match), and
// BPF_LEN loads the packet's length on the wire, not the captured length.
// The kernel's ancillary loads (offsets from SKF_AD_OFF, 0xfffff000) are
// plain out-of-bounds loads here: libpcap emits them only for live Linux
// handles, never for the dead handles Compile uses.
//
// x/net/bpf's VM was not used: its only length extension is the captured
// length (len(in)), where libpcap's "len", "less" and "greater" mean the
// wire length, and it switches on an interface per instruction. This
// interpreter switches on the raw opcode and does not allocate.
type Program struct {
	ins []bpf.RawInstruction
}

// NewProgram validates raw as the kernel does before attaching a socket
// filter (every opcode known, jumps inside the program, scratch indexes in
// range, no division by a constant zero, a return at the end) and returns a
// Program that runs it. raw is copied.
func NewProgram(raw []bpf.RawInstruction) (*Program, error) {
	if len(raw) == 0 || len(raw) > maxInstructions {
		return nil, fmt.Errorf("%w: %d instructions", ErrInvalidProgram, len(raw))
	}
	for pc, in := range raw {
		if err := validate(in, pc, len(raw)); err != nil {
			return nil, fmt.Errorf("%w: instruction %d (%#04x): %s", ErrInvalidProgram, pc, in.Op, err)
		}
	}
	if raw[len(raw)-1].Op&0x07 != clsRET {
		return nil, fmt.Errorf("%w: last instruction is not a return", ErrInvalidProgram)
	}
	return &Program{ins: append([]bpf.RawInstruction(nil), raw...)}, nil
}

func validate(in bpf.RawInstruction, pc, n int) error {
	op := in.Op
	switch op & 0x07 {
	case clsLD:
		switch op {
		case clsLD | szW | mdABS, clsLD | szH | mdABS, clsLD | szB | mdABS,
			clsLD | szW | mdIND, clsLD | szH | mdIND, clsLD | szB | mdIND,
			clsLD | szW | mdIMM, clsLD | szW | mdLEN:
			return nil
		case clsLD | szW | mdMEM:
			return memIndex(in.K)
		}
	case clsLDX:
		switch op {
		case clsLDX | szW | mdIMM, clsLDX | szW | mdLEN, clsLDX | szB | mdMSH:
			return nil
		case clsLDX | szW | mdMEM:
			return memIndex(in.K)
		}
	case clsST, clsSTX:
		if op == clsST || op == clsSTX {
			return memIndex(in.K)
		}
	case clsALU:
		switch op &^ srcX {
		case clsALU | aluADD, clsALU | aluSUB, clsALU | aluMUL, clsALU | aluOR,
			clsALU | aluAND, clsALU | aluLSH, clsALU | aluRSH, clsALU | aluXOR:
			return nil
		case clsALU | aluDIV, clsALU | aluMOD:
			if op&srcX == srcK && in.K == 0 {
				return errors.New("division by constant zero")
			}
			return nil
		case clsALU | aluNEG:
			if op&srcX == srcK {
				return nil
			}
		}
	case clsJMP:
		switch op &^ srcX {
		case clsJMP | jmpJA:
			if op&srcX != 0 {
				break
			}
			if uint64(pc)+1+uint64(in.K) >= uint64(n) {
				return errors.New("jump past the end")
			}
			return nil
		case clsJMP | jmpJEQ, clsJMP | jmpJGT, clsJMP | jmpJGE, clsJMP | jmpJSET:
			if pc+1+int(in.Jt) >= n || pc+1+int(in.Jf) >= n {
				return errors.New("jump past the end")
			}
			return nil
		}
	case clsRET:
		if op == clsRET|retK || op == clsRET|retA {
			return nil
		}
	case clsMISC:
		if op == clsMISC|miscTAX || op == clsMISC|miscTXA {
			return nil
		}
	}
	return errors.New("unknown opcode")
}

func memIndex(k uint32) error {
	if k >= memWords {
		return errors.New("scratch memory index out of range")
	}
	return nil
}

// Run runs the program over pkt, the captured bytes of a frame whose length
// on the wire was wireLen, and returns what the program returns: the number
// of bytes to keep, 0 to drop. It does not allocate.
func (p *Program) Run(pkt []byte, wireLen int) uint32 {
	var (
		a, x uint32
		mem  [memWords]uint32
	)
	ins := p.ins
	n := uint64(len(pkt))
	wl := uint32(wireLen)
	// Validation put every jump target and scratch index in range, so the
	// only run-time checks left are the packet bounds and division by X.
	for pc := 0; pc < len(ins); pc++ {
		in := &ins[pc]
		k := in.K
		switch in.Op {
		case clsLD | szW | mdABS:
			if uint64(k)+4 > n {
				return 0
			}
			a = uint32(pkt[k])<<24 | uint32(pkt[k+1])<<16 | uint32(pkt[k+2])<<8 | uint32(pkt[k+3])
		case clsLD | szH | mdABS:
			if uint64(k)+2 > n {
				return 0
			}
			a = uint32(pkt[k])<<8 | uint32(pkt[k+1])
		case clsLD | szB | mdABS:
			if uint64(k) >= n {
				return 0
			}
			a = uint32(pkt[k])
		case clsLD | szW | mdIND:
			o := uint64(x) + uint64(k)
			if o+4 > n {
				return 0
			}
			a = uint32(pkt[o])<<24 | uint32(pkt[o+1])<<16 | uint32(pkt[o+2])<<8 | uint32(pkt[o+3])
		case clsLD | szH | mdIND:
			o := uint64(x) + uint64(k)
			if o+2 > n {
				return 0
			}
			a = uint32(pkt[o])<<8 | uint32(pkt[o+1])
		case clsLD | szB | mdIND:
			o := uint64(x) + uint64(k)
			if o >= n {
				return 0
			}
			a = uint32(pkt[o])
		case clsLD | szW | mdIMM:
			a = k
		case clsLD | szW | mdLEN:
			a = wl
		case clsLD | szW | mdMEM:
			a = mem[k&(memWords-1)]
		case clsLDX | szW | mdIMM:
			x = k
		case clsLDX | szW | mdLEN:
			x = wl
		case clsLDX | szW | mdMEM:
			x = mem[k&(memWords-1)]
		case clsLDX | szB | mdMSH:
			if uint64(k) >= n {
				return 0
			}
			x = uint32(pkt[k]&0x0f) << 2
		case clsST:
			mem[k&(memWords-1)] = a
		case clsSTX:
			mem[k&(memWords-1)] = x

		case clsALU | aluADD | srcK:
			a += k
		case clsALU | aluSUB | srcK:
			a -= k
		case clsALU | aluMUL | srcK:
			a *= k
		case clsALU | aluDIV | srcK:
			a /= k // k != 0: validated
		case clsALU | aluMOD | srcK:
			a %= k
		case clsALU | aluOR | srcK:
			a |= k
		case clsALU | aluAND | srcK:
			a &= k
		case clsALU | aluXOR | srcK:
			a ^= k
		case clsALU | aluLSH | srcK:
			a <<= k // Go: a shift of 32 or more gives 0, as libpcap's bpf_filter does
		case clsALU | aluRSH | srcK:
			a >>= k
		case clsALU | aluADD | srcX:
			a += x
		case clsALU | aluSUB | srcX:
			a -= x
		case clsALU | aluMUL | srcX:
			a *= x
		case clsALU | aluDIV | srcX:
			if x == 0 {
				return 0
			}
			a /= x
		case clsALU | aluMOD | srcX:
			if x == 0 {
				return 0
			}
			a %= x
		case clsALU | aluOR | srcX:
			a |= x
		case clsALU | aluAND | srcX:
			a &= x
		case clsALU | aluXOR | srcX:
			a ^= x
		case clsALU | aluLSH | srcX:
			a <<= x
		case clsALU | aluRSH | srcX:
			a >>= x
		case clsALU | aluNEG:
			a = -a

		case clsJMP | jmpJA:
			pc += int(k)
		case clsJMP | jmpJEQ | srcK:
			pc += jump(a == k, in)
		case clsJMP | jmpJGT | srcK:
			pc += jump(a > k, in)
		case clsJMP | jmpJGE | srcK:
			pc += jump(a >= k, in)
		case clsJMP | jmpJSET | srcK:
			pc += jump(a&k != 0, in)
		case clsJMP | jmpJEQ | srcX:
			pc += jump(a == x, in)
		case clsJMP | jmpJGT | srcX:
			pc += jump(a > x, in)
		case clsJMP | jmpJGE | srcX:
			pc += jump(a >= x, in)
		case clsJMP | jmpJSET | srcX:
			pc += jump(a&x != 0, in)

		case clsRET | retK:
			return k
		case clsRET | retA:
			return a
		case clsMISC | miscTAX:
			x = a
		case clsMISC | miscTXA:
			a = x
		default:
			return 0 // unreachable after validation
		}
	}
	return 0
}

func jump(cond bool, in *bpf.RawInstruction) int {
	if cond {
		return int(in.Jt)
	}
	return int(in.Jf)
}
