//go:build linux

package capture

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Fanout group IDs are shared by every process in a network namespace, and
// a socket that asks for an ID already in use on its interface joins that
// group silently. FanoutGroupFor derives its IDs from the process ID in 16
// bits, so two sensors whose process IDs are equal modulo 4096 (7367 and
// 11463 here) shared one group on the same interface: each got about half
// of the other's flows and lost them without a counter (200 queries: 96 in
// one output, 104 in the other). On another interface the second got
// EINVAL for ever. So a LiveConfig.FanoutGroup is only this process's name
// for a group: the first socket of a group asks the kernel for an unused
// ID (PACKET_FANOUT_FLAG_UNIQUEID), and the others join that ID while the
// group has members.

// fanoutKey names a group inside this process: the caller's FanoutGroup on
// one interface.
type fanoutKey struct {
	group   uint16
	ifindex int
}

type fanoutGroup struct {
	id      uint16 // the kernel's group ID
	members int    // open sockets of this process in the group
}

var fanoutReg struct {
	mu     sync.Mutex
	groups map[fanoutKey]*fanoutGroup
}

// fanoutJoin joins fd (bound, with its filter) to the kernel group of key
// with hash+defrag, creating the group with a kernel-chosen unused ID when
// this process has no socket in it. It returns the kernel's group ID.
func fanoutJoin(fd int, key fanoutKey) (uint16, error) {
	fanoutReg.mu.Lock()
	defer fanoutReg.mu.Unlock()
	if g := fanoutReg.groups[key]; g != nil && g.members > 0 {
		// A 4-byte int (group ID in the low 16 bits, type and flags in the
		// high 16), which every kernel with PACKET_FANOUT accepts.
		// gopacket's TPacket.SetFanout passes a Go int, 8 bytes: recent
		// kernels read those as struct fanout_args, older ones (before
		// 5.11 per DESIGN.md: RHEL 8, Ubuntu 20.04) answer EINVAL.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(g.id)|fanoutHashDefrag<<16); err != nil {
			return 0, fmt.Errorf("PACKET_FANOUT group %d: %w", g.id, err)
		}
		g.members++
		return g.id, nil
	}
	id := key.group
	err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (fanoutHashDefrag|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16)
	switch {
	case err == nil:
		// The kernel drops the UNIQUEID flag from the group once it has
		// chosen the ID, so the others join with hash+defrag alone.
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return 0, fmt.Errorf("PACKET_FANOUT: read group ID: %w", err)
		}
		id = uint16(v)
	case errors.Is(err, unix.EINVAL):
		// A kernel without PACKET_FANOUT_FLAG_UNIQUEID (Linux 4.3): the
		// caller's ID as it is, as before.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|fanoutHashDefrag<<16); err != nil {
			return 0, fmt.Errorf("PACKET_FANOUT group %d: %w", id, err)
		}
	default:
		return 0, fmt.Errorf("PACKET_FANOUT new group: %w", err)
	}
	if fanoutReg.groups == nil {
		fanoutReg.groups = make(map[fanoutKey]*fanoutGroup)
	}
	fanoutReg.groups[key] = &fanoutGroup{id: id, members: 1}
	return id, nil
}

// fanoutLeave records that a socket joined through fanoutJoin was closed.
func fanoutLeave(key fanoutKey) {
	fanoutReg.mu.Lock()
	defer fanoutReg.mu.Unlock()
	if g := fanoutReg.groups[key]; g != nil {
		if g.members--; g.members <= 0 {
			// The kernel removes a group with its last socket.
			delete(fanoutReg.groups, key)
		}
	}
}
