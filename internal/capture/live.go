//go:build linux

package capture

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Why this file drives the TPACKET_V3 ring itself instead of
// github.com/gopacket/gopacket/afpacket (v1.7.7), whose ring walk it
// otherwise matches:
//
//   - afpacket.TPacket.ZeroCopyReadPacketData appends an AncillaryVLAN to a
//     fresh CaptureInfo.AncillaryData for every packet the kernel untagged
//     (afpacket.go, "ci.AncillaryData = append(...)"): one to two heap
//     allocations per VLAN-tagged frame, and on a SPAN trunk nearly every
//     frame is tagged. The VLAN ID sits in the ring header next to the
//     frame, so reading it there costs nothing.
//   - TPacket keeps its socket descriptor unexported, so the 4-byte
//     PACKET_FANOUT below, PACKET_STATISTICS and SO_ERROR would need
//     reflection on its private fields.
//   - TPacket binds to the interface before the filter is attached, so the
//     first frames in the ring are unfiltered; here the socket is bound
//     only after SO_ATTACH_FILTER.
//   - On POLLERR (interface down or deleted) TPacket returns ErrPoll
//     without reading SO_ERROR, so the error stays pending and every later
//     poll fails at once: a caller that retries spins.
//
// The layout and the protocol are the kernel's (Documentation/networking/
// packet_mmap.rst, include/uapi/linux/if_packet.h) through golang.org/x/sys/unix.

// Sentinels returned by LiveSource.Next and Supervisor.Next. They are
// preallocated: the capture loop compares them with errors.Is or ==.
var (
	// ErrTimeout: no frame arrived within the poll timeout. It is not a
	// failure; it lets the capture loop check for shutdown.
	ErrTimeout = errors.New("capture: poll timeout")
	// ErrLinkDown: the kernel reported the interface down or removed
	// (ENETDOWN, ENODEV, ENXIO on the socket). The socket delivers nothing
	// more; close it and open a new one (Supervisor does this).
	ErrLinkDown = errors.New("capture: interface down or removed")
	// ErrNoLink: OpenLive found no interface of that name.
	ErrNoLink = errors.New("capture: no such interface")
	// ErrClosed: Next was called after Close.
	ErrClosed = errors.New("capture: source closed")
)

// Defaults used for zero fields of LiveConfig.
const (
	// DefaultBlockSize is 1 MiB: a block must hold the largest frame the
	// kernel hands over (the kernel truncates longer ones to the block),
	// and with PACKET_FANOUT_FLAG_DEFRAG an IPv4 datagram arrives
	// reassembled, up to 64 KiB.
	DefaultBlockSize = 1 << 20
	// DefaultNumBlocks gives a 32 MiB ring per socket: about 0.25 s of a
	// fully loaded 1 Gbit/s link, enough to ride out a scheduling hiccup
	// of the worker.
	DefaultNumBlocks = 32
	// DefaultBlockTimeout bounds the latency of a quiet link: the kernel
	// hands over a block that is not full after this long.
	DefaultBlockTimeout = 10 * time.Millisecond
	// DefaultPollTimeout is how long Next waits before returning ErrTimeout,
	// i.e. how late a worker notices shutdown.
	DefaultPollTimeout = 100 * time.Millisecond

	// ringFrameSize only sets tp_frame_nr for TPACKET_V3 (frames are packed
	// into blocks with their real sizes); the kernel wants it
	// TPACKET_ALIGNMENT-aligned and no larger than a block.
	ringFrameSize = 2048
	// fanoutHashDefrag is PACKET_FANOUT_HASH (0): the kernel's symmetric flow
	// hash, so both directions of a flow reach the same socket; with
	// PACKET_FANOUT_FLAG_DEFRAG the kernel reassembles IPv4 fragments before
	// hashing, so fragments of one datagram (which carry no ports) go where
	// the rest of the flow goes.
	fanoutHashDefrag = unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG
	// maxFilterLen is the kernel's BPF_MAXINSNS for classic socket filters.
	maxFilterLen = 4096
	// statsEveryBlocks: the kernel's counters are 32 bits wide and zeroed
	// on read. Reading them every 64 blocks keeps a busy socket far from
	// wrapping (64 blocks of 1 MiB hold under a million frames) at the
	// cost of one getsockopt per 64 MiB. A socket that receives nothing
	// counts nothing, but drops count without blocks moving: the caller
	// should also call KernelStats periodically (at least once a minute).
	statsEveryBlocks = 64
)

// FanoutGroupFor returns a fanout group name for the i-th interface this
// process captures on; it is never 0, which LiveConfig reads as "no
// fanout". It need not be unique between processes: OpenLive asks the
// kernel for an unused group ID (fanout.go).
func FanoutGroupFor(i int) uint16 {
	id := uint16(os.Getpid())*16 + uint16(i)
	if id == 0 {
		id = 1
	}
	return id
}

// LiveConfig describes one AF_PACKET capture socket.
type LiveConfig struct {
	// Interface is the name of the interface to capture on.
	Interface string
	// BlockSize is the size of one TPACKET_V3 ring block in bytes; a
	// multiple of the page size. 0 means DefaultBlockSize.
	BlockSize int
	// NumBlocks is the number of blocks in the ring. 0 means DefaultNumBlocks.
	NumBlocks int
	// BlockTimeout is how long the kernel keeps a partly filled block
	// before handing it over; at least 1 ms. 0 means DefaultBlockTimeout.
	BlockTimeout time.Duration
	// PollTimeout is how long Next waits for a frame before it returns
	// ErrTimeout. 0 means DefaultPollTimeout.
	PollTimeout time.Duration
	// FanoutGroup, when not 0, joins the socket to a PACKET_FANOUT group
	// with hash+defrag: every socket of the group (one per worker) gets
	// whole flows, both directions. It names the group inside this process
	// only: the kernel's ID is chosen unused when the group's first socket
	// opens (fanout.go), so other processes' groups are never joined.
	FanoutGroup uint16
	// Filter is a classic BPF program attached in the kernel before the
	// socket receives anything (package bpf builds the default DNS filter).
	// Empty means every frame. It must be compiled for the interface's
	// link type (InterfaceLinkType: raw IP on tun and tunnel devices).
	// When it runs, the kernel has already removed the outer VLAN tag (see
	// Frame.VLAN), and in a fanout group has reassembled IPv4 fragments.
	Filter []bpf.RawInstruction
	// Promiscuous joins the socket to the interface's promiscuous
	// membership (PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC). The kernel
	// counts memberships per interface and drops this one when the socket
	// closes, however the process ends (SIGKILL included), so the
	// interface is never left promiscuous and a setting made by someone
	// else (ip link set promisc on) is neither taken over nor undone.
	Promiscuous bool
	// Index is copied into Frame.Interface of every frame.
	Index int

	// mirror, when set (by OpenMirror), binds the socket to every
	// interface (ifindex 0) instead of Interface: the frame's interface
	// and link type come from the ring's sockaddr_ll, and Filter already
	// selects the mirror's interfaces (mirror.go).
	mirror *Mirror
}

func (c *LiveConfig) setDefaults() error {
	if c.Interface == "" {
		return errors.New("capture: live: no interface name")
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.NumBlocks == 0 {
		c.NumBlocks = DefaultNumBlocks
	}
	if c.BlockTimeout == 0 {
		c.BlockTimeout = DefaultBlockTimeout
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	page := unix.Getpagesize()
	switch {
	case c.BlockSize < page || c.BlockSize%page != 0:
		return fmt.Errorf("capture: live %s: block size %d is not a multiple of the page size %d", c.Interface, c.BlockSize, page)
	case c.BlockSize > 1<<30 || c.NumBlocks < 1 || c.NumBlocks > 1<<16 || c.BlockSize*c.NumBlocks > 1<<34:
		return fmt.Errorf("capture: live %s: ring of %d blocks of %d bytes is out of range", c.Interface, c.NumBlocks, c.BlockSize)
	case c.BlockTimeout < time.Millisecond || c.BlockTimeout > time.Minute:
		return fmt.Errorf("capture: live %s: block timeout %v out of range [1ms, 1m]", c.Interface, c.BlockTimeout)
	case c.PollTimeout < time.Millisecond:
		return fmt.Errorf("capture: live %s: poll timeout %v below 1ms", c.Interface, c.PollTimeout)
	case len(c.Filter) > maxFilterLen:
		return fmt.Errorf("capture: live %s: filter of %d instructions exceeds the kernel's %d", c.Interface, len(c.Filter), maxFilterLen)
	}
	return nil
}

// KernelStats are the kernel's PACKET_STATISTICS for a socket, summed over
// every read (the kernel zeroes its counters each time they are read).
type KernelStats struct {
	// Packets is every frame that passed the filter, including the dropped ones.
	Packets uint64
	// Drops is frames that passed the filter but found no room in the ring.
	Drops uint64
	// QueueFreezes counts how often the ring was full and the kernel had to
	// stop filling it until the reader released a block.
	QueueFreezes uint64
}

// Add returns the sum of s and o.
func (s KernelStats) Add(o KernelStats) KernelStats {
	return KernelStats{s.Packets + o.Packets, s.Drops + o.Drops, s.QueueFreezes + o.QueueFreezes}
}

// LiveSource reads frames from one AF_PACKET socket with a TPACKET_V3 ring.
//
// Next and Close belong to one goroutine (the worker); KernelStats may be
// called from any goroutine at any time, also after Close.
type LiveSource struct {
	cfg      LiveConfig
	fd       int
	ifindex  int
	linkType packet.LinkType
	ring     []byte // mmap'd, shared with the kernel

	// Walk state. block is the index of the block being read; pkt is the
	// offset in the ring of the next packet header in it and left the
	// number of packets not yet handed out; held says the block belongs to
	// us and must be given back to the kernel before waiting for the next.
	block int
	pkt   int
	left  uint32
	held  bool

	linkErr error // ErrLinkDown once seen: returned after the ring is drained

	pollfd [1]unix.PollFd
	pollMS int

	fanout   fanoutKey // the fanout group joined, when inFanout
	inFanout bool

	released uint64 // blocks given back to the kernel
	spurious int    // poll wake-ups in a row that found our block not ready

	mu     sync.Mutex // guards stats, raw and fd against Close
	stats  KernelStats
	raw    unix.TpacketStatsV3
	closed bool
}

// OpenLive opens an AF_PACKET socket on cfg.Interface in the calling
// thread's network namespace, attaches cfg.Filter, binds, joins the fanout
// group and returns a source that is ready to read.
//
// Errors wrap ErrNoLink when the interface does not exist, and ErrLinkDown
// when it is administratively down: the kernel joins only running sockets
// to a fanout group, and a socket bound to a down interface only reports
// ENETDOWN, so waiting for the interface is the caller's (Supervisor's) job.
func OpenLive(cfg LiveConfig) (*LiveSource, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	ifindex, up := 0, true
	if cfg.mirror == nil {
		var err error
		if ifindex, up, err = linkIndex(cfg.Interface); err != nil {
			return nil, err
		}
	}
	if !up {
		return nil, fmt.Errorf("capture: open %s: %w", cfg.Interface, ErrLinkDown)
	}
	s := &LiveSource{cfg: cfg, fd: -1, ifindex: ifindex, pollMS: int(cfg.PollTimeout / time.Millisecond)}
	if err := s.open(); err != nil {
		s.release()
		return nil, fmt.Errorf("capture: open %s: %w", cfg.Interface, err)
	}
	return s, nil
}

func (s *LiveSource) open() error {
	cfg := &s.cfg
	// Protocol 0: the socket receives nothing until bind names ETH_P_ALL
	// below, after the filter is in place.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return socketError(err)
	}
	s.fd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("PACKET_VERSION TPACKET_V3: %w", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(cfg.BlockSize),
		Block_nr:       uint32(cfg.NumBlocks),
		Frame_size:     ringFrameSize,
		Frame_nr:       uint32(cfg.BlockSize / ringFrameSize * cfg.NumBlocks),
		Retire_blk_tov: uint32(cfg.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("PACKET_RX_RING %d×%d: %w", cfg.NumBlocks, cfg.BlockSize, err)
	}
	s.ring, err = unix.Mmap(fd, 0, cfg.BlockSize*cfg.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap ring: %w", err)
	}
	filter := cfg.Filter
	if cfg.mirror == nil {
		if loopback, err := isLoopback(fd, cfg.Interface); err == nil && loopback {
			filter = dropOutgoing(filter)
		}
	}
	if err := attachFilter(fd, filter); err != nil {
		return err
	}
	if cfg.mirror == nil {
		if s.linkType, err = hardwareLinkType(fd, cfg.Interface); err != nil {
			return err
		}
	}
	// In a mirror s.ifindex is 0: every interface, narrowed by the filter.
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		if err == unix.ENODEV || err == unix.ENXIO {
			return fmt.Errorf("bind ifindex %d: %w (%w)", s.ifindex, ErrNoLink, err)
		}
		return fmt.Errorf("bind ifindex %d: %w", s.ifindex, err)
	}
	if cfg.FanoutGroup != 0 {
		// EINVAL here also means the group exists with another type or on
		// another device (e.g. members still bound to a deleted interface
		// of the same name): transient for a Supervisor.
		key := fanoutKey{group: cfg.FanoutGroup, ifindex: s.ifindex}
		if _, err := fanoutJoin(fd, key); err != nil {
			return err
		}
		s.fanout, s.inFanout = key, true
	}
	if cfg.Promiscuous && cfg.mirror == nil {
		// The membership needs no capability beyond the CAP_NET_RAW that
		// opened the socket, unlike IFF_PROMISC through netlink
		// (CAP_NET_ADMIN), which also outlives the process. A mirror
		// takes one per interface instead (mirror.go).
		mreq := unix.PacketMreq{Ifindex: int32(s.ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fmt.Errorf("promiscuous mode (PACKET_MR_PROMISC; --no-promisc goes without): %w", err)
		}
	}
	// Counters of the short time between bind and now belong to this
	// socket; nothing to discard.
	s.pollfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN | unix.POLLERR}
	return nil
}

// attachFilter attaches (or replaces: the kernel swaps it atomically) the
// socket's classic BPF program; an empty filter attaches nothing.
func attachFilter(fd int, filter []bpf.RawInstruction) error {
	if len(filter) == 0 {
		return nil
	}
	prog := make([]unix.SockFilter, len(filter))
	for i, ins := range filter {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER (%d instructions): %w", len(prog), err)
	}
	return nil
}

// socketError says, when the kernel refused an AF_PACKET socket for lack
// of privilege, which capability is missing and how to grant it: the bare
// "operation not permitted" sends an operator searching.
func socketError(err error) error {
	if err == unix.EPERM || err == unix.EACCES {
		return fmt.Errorf("AF_PACKET socket needs CAP_NET_RAW (run as root or grant it with setcap or systemd's AmbientCapabilities): %w", err)
	}
	return fmt.Errorf("AF_PACKET socket: %w", err)
}

// isLoopback reports whether the interface is a loopback device.
func isLoopback(fd int, name string) (bool, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return false, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return false, err
	}
	return ifr.Uint16() == unix.ARPHRD_LOOPBACK, nil
}

// dropOutgoing prefixes a filter with "drop what this host sends". On a
// loopback device every packet is seen twice, once as sent
// (PACKET_OUTGOING) and once as received, and the sensor would log every
// message twice (seen: each dig query counted as a duplicate query). A
// SPAN port and an ordinary NIC see each packet once, so only loopback
// gets this. Classic BPF jumps are relative, so the filter after the
// prefix is unchanged; an empty filter becomes "accept the rest".
func dropOutgoing(filter []bpf.RawInstruction) []bpf.RawInstruction {
	const (
		skfAdPktType = 0xfffff000 + 4 // SKF_AD_OFF + SKF_AD_PKTTYPE (linux/filter.h)
		ldAbsW       = 0x20           // BPF_LD | BPF_W | BPF_ABS
		jeqK         = 0x15           // BPF_JMP | BPF_JEQ | BPF_K
		retK         = 0x06           // BPF_RET | BPF_K
	)
	out := []bpf.RawInstruction{
		{Op: ldAbsW, K: skfAdPktType},
		{Op: jeqK, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING},
		{Op: retK, K: 0},
	}
	if len(filter) == 0 {
		return append(out, bpf.RawInstruction{Op: retK, K: 262144})
	}
	return append(out, filter...)
}

// errLinkType: the interface's hardware type has no link type we decode.
var errLinkType = errors.New("unsupported hardware type")

// hardwareLinkType maps the interface's ARPHRD_* type (SIOCGIFHWADDR, as
// libpcap does) to the link type of the frames a SOCK_RAW packet socket
// reads from it: the device's own link header, or none for devices
// without one (tun, WireGuard, IP-in-IP), whose frames start at the IP
// header.
func hardwareLinkType(fd int, name string) (packet.LinkType, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("SIOCGIFHWADDR: %w", err)
	}
	switch hw := ifr.Uint16(); hw {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return packet.LinkTypeEthernet, nil
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		return packet.LinkTypeRaw, nil
	default:
		return 0, fmt.Errorf("%w %d (ARPHRD_*)", errLinkType, hw)
	}
}

// InterfaceLinkType returns the link type of the frames a LiveSource on
// the named interface will hand out (Ethernet, or raw IP for interfaces
// without a link header), so that a filter can be compiled for it before
// OpenLive. It looks in the calling thread's network namespace.
func InterfaceLinkType(name string) (packet.LinkType, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("capture: link type of %s: %w", name, socketError(err))
	}
	defer unix.Close(fd)
	lt, err := hardwareLinkType(fd, name)
	if err != nil {
		if errors.Is(err, unix.ENODEV) {
			err = fmt.Errorf("%w (%w)", ErrNoLink, err)
		}
		return 0, fmt.Errorf("capture: link type of %s: %w", name, err)
	}
	return lt, nil
}

// release frees what open got, in reverse order, without reading stats.
func (s *LiveSource) release() error {
	var err error
	if s.ring != nil {
		if e := unix.Munmap(s.ring); e != nil && err == nil {
			err = e
		}
		s.ring = nil
	}
	s.left, s.held = 0, false
	if s.fd >= 0 {
		if e := unix.Close(s.fd); e != nil && err == nil {
			err = e
		}
		s.fd = -1
	}
	if s.inFanout {
		fanoutLeave(s.fanout)
		s.inFanout = false
	}
	return err
}

// Close reads the socket's last kernel statistics, closes the socket
// (which ends its promiscuous membership) and unmaps the ring. Frames handed out before are invalid afterwards. Close is idempotent.
func (s *LiveSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.readStatsLocked()
	s.closed = true
	if err := s.release(); err != nil {
		return fmt.Errorf("capture: close %s: %w", s.cfg.Interface, err)
	}
	return nil
}

// Interface returns the name the source was opened on.
func (s *LiveSource) Interface() string { return s.cfg.Interface }

// IfIndex returns the kernel's index of the interface the socket is bound to.
func (s *LiveSource) IfIndex() int { return s.ifindex }

// KernelStats returns the kernel's counters for this socket since it was
// opened. After Close it returns the final values.
func (s *LiveSource) KernelStats() KernelStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.readStatsLocked()
	}
	return s.stats
}

func (s *LiveSource) readStatsLocked() {
	if s.fd < 0 {
		return
	}
	// unix.GetsockoptTpacketStatsV3 returns a new heap value; this is
	// called every statsEveryBlocks blocks, so it reads into s.raw instead.
	st := &s.raw
	size := uint32(unsafe.Sizeof(*st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(st)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return // only EBADF/EFAULT are possible on an open socket
	}
	// The kernel zeroes tp_packets, tp_drops and tp_freeze_q_cnt on every
	// read, so each read is a delta. Its tp_packets already includes
	// tp_drops.
	s.stats.Packets += uint64(st.Packets)
	s.stats.Drops += uint64(st.Drops)
	s.stats.QueueFreezes += uint64(st.Freeze_q_cnt)
}

// LinkType returns the link type of the frames Next hands out: Ethernet,
// or raw IP for interfaces without a link header.
func (s *LiveSource) LinkType() packet.LinkType { return s.linkType }

// Next fills f with the next frame. f.Data aliases the ring and is valid
// only until the next call to Next or Close; f.Timestamp is the kernel's
// receive time in nanoseconds; f.VLAN is the outer 802.1Q/802.1ad VLAN ID
// the kernel removed from the frame (0 when none). f.WireLen is the
// length the kernel saw, without that tag, like len(f.Data).
//
// It returns ErrTimeout when no frame arrived within the poll timeout,
// ErrLinkDown when the interface went down or away, ErrClosed after Close,
// or another unix.Errno. It does not allocate.
func (s *LiveSource) Next(f *packet.Frame) error {
	for {
		if err := s.next(f); err != errForeign {
			return err
		}
	}
}

// errForeign: the frame came from an interface that is not (or no longer)
// one of the mirror's; Next skips it.
var errForeign = errors.New("capture: frame from another interface")

func (s *LiveSource) next(f *packet.Frame) error {
	if s.left == 0 {
		if err := s.nextBlock(); err != nil {
			return err
		}
	}
	ring := s.ring
	if s.pkt < 0 || s.pkt+int(unsafe.Sizeof(unix.Tpacket3Hdr{})) > len(ring) {
		return s.corrupt()
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&ring[s.pkt]))
	start := s.pkt + int(h.Mac)
	end := start + int(h.Snaplen)
	blockEnd := (s.block + 1) * s.cfg.BlockSize
	if start > end || end > blockEnd {
		return s.corrupt()
	}
	f.Data = ring[start:end:end]
	f.Timestamp = int64(h.Sec)*1e9 + int64(h.Nsec)
	f.WireLen = int(h.Len)
	f.LinkType = s.linkType
	f.Interface = s.cfg.Index
	if m := s.cfg.mirror; m != nil {
		// The sockaddr_ll follows the header at TPACKET_ALIGN(sizeof
		// tpacket3_hdr) (48); the kernel writes it for every frame.
		sll := s.pkt + mirrorSllOffset
		if sll+mirrorSllLen > start {
			return s.corrupt()
		}
		lt, idx, ok := m.frameOrigin(ring[sll : sll+mirrorSllLen])
		if !ok {
			// An interface the filter no longer selects (re-created
			// between the kernel's filter run and now): not ours.
			s.left--
			s.pkt += int(h.Next_offset)
			m.foreign.Add(1)
			return errForeign
		}
		f.LinkType, f.Interface = lt, idx
	}
	f.VLAN = 0
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
		f.VLAN = uint16(h.Hv1.Vlan_tci & 0x0fff)
	}
	s.left--
	s.pkt += int(h.Next_offset)
	return nil
}

// corrupt gives the block back when a header points outside it; this
// cannot happen with a sane kernel and is not worth more than skipping.
func (s *LiveSource) corrupt() error {
	s.left = 0
	return ErrTimeout
}

// nextBlock gives the current block back to the kernel and waits for the
// next one.
func (s *LiveSource) nextBlock() error {
	if s.ring == nil {
		return ErrClosed
	}
	for {
		if s.held {
			storeStatus(s.blockHdr(), unix.TP_STATUS_KERNEL)
			s.held = false
			s.block++
			if s.block == s.cfg.NumBlocks {
				s.block = 0
			}
			s.released++
			if s.released%statsEveryBlocks == 0 {
				s.mu.Lock()
				s.readStatsLocked()
				s.mu.Unlock()
			}
		}
		bh := s.blockHdr()
		if loadStatus(bh)&unix.TP_STATUS_USER != 0 {
			s.held = true
			s.left = bh.Num_pkts
			s.pkt = s.block*s.cfg.BlockSize + int(bh.Offset_to_first_pkt)
			if s.left > 0 {
				return nil
			}
			continue // retired empty by the block timer: give it back
		}
		if s.linkErr != nil {
			return s.linkErr
		}
		n, err := unix.Poll(s.pollfd[:], s.pollMS)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if n == 0 {
			return ErrTimeout
		}
		if s.pollfd[0].Revents&unix.POLLIN != 0 && loadStatus(bh)&unix.TP_STATUS_USER == 0 {
			// Readable, yet our block is still the kernel's: we are out of
			// step with the kernel's block index, which reading blocks in
			// order should make impossible. Find the oldest block handed
			// to us rather than poll again and again.
			s.spurious++
			if s.spurious > 2 {
				s.spurious = 0
				if !s.resync() {
					time.Sleep(time.Millisecond) // never spin
					return ErrTimeout
				}
			}
			continue
		}
		s.spurious = 0
		if s.pollfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			if loadStatus(bh)&unix.TP_STATUS_USER != 0 {
				continue // hand out what the ring holds before the error
			}
			err := s.sockError()
			if err != ErrLinkDown {
				return err
			}
			// Frames that arrived before the interface went down may sit
			// in the block the kernel is filling; its retire timer hands
			// that block over within two timeouts. Wait for it once, hand
			// out what it holds, then report the loss on every call.
			s.linkErr = err
			time.Sleep(2*s.cfg.BlockTimeout + time.Millisecond)
		}
	}
}

// loadStatus and storeStatus order the block status against the kernel's
// writes to the block: the kernel fills a block, then sets TP_STATUS_USER
// (smp_wmb before); we read the packets only after seeing it, and give the
// block back only after we are done with it.
func loadStatus(bh *unix.TpacketHdrV1) uint32 { return atomic.LoadUint32(&bh.Block_status) }

func storeStatus(bh *unix.TpacketHdrV1, v uint32) { atomic.StoreUint32(&bh.Block_status, v) }

// resync moves to the user-owned block with the lowest sequence number;
// it reports false when there is none.
func (s *LiveSource) resync() bool {
	best, bestSeq := -1, uint64(0)
	for i := range s.cfg.NumBlocks {
		d := (*unix.TpacketBlockDesc)(unsafe.Pointer(&s.ring[i*s.cfg.BlockSize]))
		bh := (*unix.TpacketHdrV1)(unsafe.Pointer(&d.Hdr[0]))
		if loadStatus(bh)&unix.TP_STATUS_USER != 0 && (best < 0 || bh.Seq_num < bestSeq) {
			best, bestSeq = i, bh.Seq_num
		}
	}
	if best < 0 {
		return false
	}
	s.block = best
	return true
}

// sockError reads (and so clears) the socket's pending error.
func (s *LiveSource) sockError() error {
	e, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	switch unix.Errno(e) {
	case unix.ENETDOWN, unix.ENODEV, unix.ENXIO:
		return ErrLinkDown
	case 0:
		return ErrTimeout
	}
	return unix.Errno(e)
}

func (s *LiveSource) blockHdr() *unix.TpacketHdrV1 {
	d := (*unix.TpacketBlockDesc)(unsafe.Pointer(&s.ring[s.block*s.cfg.BlockSize]))
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&d.Hdr[0]))
}

func htons(v uint16) uint16 {
	if littleEndian {
		return bits.ReverseBytes16(v)
	}
	return v
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
