//go:build linux

package capture

import (
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLinkEventString checks the log lines the caller prints.
func TestLinkEventString(t *testing.T) {
	cases := []struct {
		ev   LinkEvent
		want string
	}{
		{LinkEvent{Kind: LinkAdded, Name: "eth1", Index: 4, Admin: true, Carrier: true}, "eth1 (index 4) added, up"},
		{LinkEvent{Kind: LinkAdded, Name: "eth1", Index: 4, Admin: true}, "eth1 (index 4) added, up, no carrier"},
		{LinkEvent{Kind: LinkAdded, Name: "eth1", Index: 4}, "eth1 (index 4) added, down"},
		{LinkEvent{Kind: LinkDown, Name: "eth1", Index: 4, Admin: true}, "eth1 (index 4) up, no carrier"},
		{LinkEvent{Kind: LinkDown, Name: "eth1", Index: 4}, "eth1 (index 4) down"},
		{LinkEvent{Kind: LinkUp, Name: "eth1", Index: 4, Admin: true, Carrier: true}, "eth1 (index 4) up"},
		{LinkEvent{Kind: LinkRemoved, Name: "eth1", Index: 4}, "eth1 (index 4) removed"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.ev.String(); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

// TestPermanent checks which open errors stop a Supervisor instead of
// being retried.
func TestPermanent(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("capture: open x: socket: %w", unix.EPERM), true},
		{fmt.Errorf("capture: open x: %w", fmt.Errorf("%w 32 (ARPHRD_*)", errLinkType)), true},
		{fmt.Errorf("capture: open x: %w", ErrNoLink), false},
		{fmt.Errorf("capture: open x: %w", ErrLinkDown), false},
		{fmt.Errorf("capture: open x: PACKET_FANOUT group 1: %w", unix.EINVAL), false},
		{fmt.Errorf("capture: open x: mmap ring: %w", unix.ENOMEM), false},
		{errors.New("other"), false},
	}
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := permanent(tc.err); got != tc.want {
				t.Fatalf("permanent = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestKernelStatsAdd checks the sum used across re-opened sockets.
func TestKernelStatsAdd(t *testing.T) {
	a := KernelStats{Packets: 1 << 33, Drops: 2, QueueFreezes: 3}
	b := KernelStats{Packets: 10, Drops: 20, QueueFreezes: 30}
	if got, want := a.Add(b), (KernelStats{1<<33 + 10, 22, 33}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
