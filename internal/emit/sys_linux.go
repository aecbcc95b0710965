package emit

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// The standard library's syscall package serves here: emit stays free of
// golang.org/x/sys, which only the capture package needs.

// unsentBytes asks the kernel how many bytes written to c it still holds:
// for TCP, bytes not yet acknowledged by the receiver (SIOCOUTQ); for a unix
// stream socket, bytes the receiver has not yet read. It returns 0 when the
// kernel cannot tell.
func unsentBytes(c net.Conn) uint64 {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var n int32
	var errno syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		// SIOCOUTQ has the number of TIOCOUTQ on Linux.
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
	}); cerr != nil || errno != 0 || n < 0 {
		return 0
	}
	return uint64(n)
}

// setSendBuffer bounds the kernel's send buffer of c to n bytes (the kernel
// doubles it for its own bookkeeping). A smaller buffer is a smaller window
// of frames lost when a receiver dies, since Frame Streams has no
// acknowledgements.
func setSendBuffer(c net.Conn, n int) error {
	sc, ok := c.(syscall.Conn)
	if !ok || n <= 0 {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, n)
	}); cerr != nil {
		return cerr
	}
	return err
}

// peerClosed reports whether the receiver has closed its end: a receiver
// sends nothing after ACCEPT but FINISH, so a pending end of stream (or a
// reset) seen by a non-blocking peek means it is gone. Writing first would
// put a whole batch into a socket that the kernel then discards. Bytes
// waiting to be read (TLS session tickets) are not a close.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EINTR)
		return true
	})
	return closed
}

// lockDir takes an exclusive lock on dir/lock, so that two outputs or two
// sensors never share a spool: both would send, drop and delete the same
// files. The lock ends with the process, however it ends.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, ErrSpoolInUse
		}
		return nil, err
	}
	return f, nil
}
