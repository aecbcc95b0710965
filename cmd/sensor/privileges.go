package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keptCapabilities are the only capabilities a live capture keeps after
// --user: CAP_NET_RAW opens the AF_PACKET sockets that a Supervisor
// re-creates after a link flap or an interface re-creation. Nothing else on
// that path needs a capability: the fanout group, the BPF filter and the
// promiscuous membership (PACKET_MR_PROMISC) are options of a socket the
// process owns, and reading links through netlink is unprivileged. So
// CAP_NET_ADMIN is not kept (TestUserDropsPrivileges flaps the link as
// nobody to prove it).
var keptCapabilities = []int{unix.CAP_NET_RAW}

// capNames names the capabilities the sensor talks about, for messages.
var capNames = map[int]string{unix.CAP_NET_RAW: "cap_net_raw", unix.CAP_NET_ADMIN: "cap_net_admin"}

// credentials is who --user names: the user, its primary group and every
// group it belongs to (set as supplementary groups, as login does).
type credentials struct {
	name     string
	uid, gid int
	groups   []int
}

// lookupCredentials resolves --user (a name or a numeric uid) from the
// system's user database.
func lookupCredentials(name string) (*credentials, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, usagef("--user %q: %v", name, err)
	}
	c := &credentials{name: u.Username}
	if c.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, usagef("--user %q: uid %q is not a number", name, u.Uid)
	}
	if c.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, usagef("--user %q: gid %q is not a number", name, u.Gid)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, usagef("--user %q: groups: %v", name, err)
	}
	for _, s := range ids {
		g, err := strconv.Atoi(s)
		if err != nil {
			return nil, usagef("--user %q: group id %q is not a number", name, s)
		}
		c.groups = append(c.groups, g)
	}
	if len(c.groups) == 0 {
		c.groups = []int{c.gid}
	}
	return c, nil
}

// errCgoCredentials: Linux keeps credentials per thread. Go changes the
// uid and gid of every thread (syscall.Setresuid, Go 1.16+), but keeping
// capabilities across that change (PR_SET_KEEPCAPS), capset and
// no_new_privs must also reach every thread, which only
// syscall.AllThreadsSyscall does, and it refuses to when cgo is linked
// (threads started by C code are out of its reach).
var errCgoCredentials = errors.New("this binary links libpcap through cgo, and Go can only change every thread's capabilities without cgo: " +
	"use the pure-Go build (CGO_ENABLED=0, as make dist and the .deb build it), " +
	"or start the sensor as that user with only CAP_NET_RAW (systemd User= and AmbientCapabilities=) and no --user")

// dropPrivileges becomes the --user user and its groups, keeps only
// keptCapabilities (effective and permitted; nothing inheritable or
// ambient, and, when run as root, nothing else in the bounding set) and
// sets no_new_privs, on every thread of the process. It runs once, after
// the capture sockets, the metrics listener and the output are open, so
// that they need no privilege of the user. It returns a line for the log.
func dropPrivileges(name string) (string, error) {
	c, err := lookupCredentials(name)
	if err != nil {
		return "", err
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
		if err == syscall.ENOTSUP {
			return "", fmt.Errorf("--user %s: %w", name, errCgoCredentials)
		}
		return "", fmt.Errorf("--user %s: PR_SET_KEEPCAPS: %w", name, err)
	}
	keep := uint64(0)
	for _, cp := range keptCapabilities {
		keep |= 1 << cp
	}
	if os.Geteuid() == 0 {
		// While root: empty the bounding set but for the kept ones, so
		// that not even an exec of a file with capabilities gets more
		// (no_new_privs below forbids that too; this costs nothing).
		for cp := 0; cp < 64; cp++ {
			if keep&(1<<cp) != 0 {
				continue
			}
			if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(cp), 0); err != nil {
				if err == syscall.EINVAL {
					break // past the kernel's last capability
				}
				return "", fmt.Errorf("--user %s: PR_CAPBSET_DROP %d: %w", name, cp, err)
			}
		}
	}
	if os.Geteuid() != c.uid || os.Getegid() != c.gid {
		if err := syscall.Setgroups(c.groups); err != nil {
			return "", fmt.Errorf("--user %s: setgroups: %w", name, needSetID(err))
		}
		if err := syscall.Setresgid(c.gid, c.gid, c.gid); err != nil {
			return "", fmt.Errorf("--user %s: setresgid %d: %w", name, c.gid, needSetID(err))
		}
		if err := syscall.Setresuid(c.uid, c.uid, c.uid); err != nil {
			return "", fmt.Errorf("--user %s: setresuid %d: %w", name, c.uid, needSetID(err))
		}
	}
	// With KEEPCAPS the uid change cleared only the effective set; now
	// reduce the permitted set to the kept capabilities and raise them.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // VERSION_3: capabilities 0–31, then 32–63
	data[0].Effective, data[0].Permitted = uint32(keep), uint32(keep)
	data[1].Effective, data[1].Permitted = uint32(keep>>32), uint32(keep>>32)
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return "", fmt.Errorf("--user %s: keeping %s: %w (the process must have it when it starts: run as root or grant it with setcap or systemd's AmbientCapabilities)",
			name, capList(keep), err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0); err != nil {
		return "", fmt.Errorf("--user %s: PR_SET_KEEPCAPS 0: %w", name, err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return "", fmt.Errorf("--user %s: PR_SET_NO_NEW_PRIVS: %w", name, err)
	}
	return fmt.Sprintf("running as user %s (uid %d, gid %d) with %s and no_new_privs", c.name, c.uid, c.gid, capList(keep)), nil
}

// allThreads runs a syscall on every thread of the process; it returns
// syscall.ENOTSUP when cgo is linked.
func allThreads(trap, a1, a2, a3 uintptr) error {
	if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
		return e
	}
	return nil
}

// needSetID names what a refused change of user lacks.
func needSetID(err error) error {
	if err == syscall.EPERM {
		return fmt.Errorf("%w (changing user needs CAP_SETUID and CAP_SETGID: start as root, "+
			"or start as that user with CAP_NET_RAW through systemd's AmbientCapabilities and no --user)", err)
	}
	return err
}

// capList names the capabilities of a mask, e.g. "cap_net_raw".
func capList(mask uint64) string {
	var names []string
	for cp := 0; cp < 64; cp++ {
		if mask&(1<<cp) == 0 {
			continue
		}
		n, ok := capNames[cp]
		if !ok {
			n = "cap_" + strconv.Itoa(cp)
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		return "no capabilities"
	}
	return strings.Join(names, ",")
}

// dropUser drops privileges when --user is given; it returns the log line.
func dropUser(o *options) (string, error) {
	if o.user == "" {
		return "", nil
	}
	return dropPrivileges(o.user)
}
