//go:build !linux

package emit

import (
	"net"
	"os"
	"path/filepath"
)

// unsentBytes is 0 where the kernel has no SIOCOUTQ.
func unsentBytes(net.Conn) uint64 { return 0 }

// setSendBuffer keeps the system default where SO_SNDBUF is not wired up.
func setSendBuffer(net.Conn, int) error { return nil }

// peerClosed is not known in advance here: the write finds out.
func peerClosed(net.Conn) bool { return false }

// lockDir does not lock where flock is not wired up.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
}
