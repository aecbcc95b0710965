//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Why a mirror of several interfaces uses sockets bound to all of them:
// a two-port tap sends the client's packets out of one port and the
// server's out of the other, so a flow's two directions arrive on two
// interfaces. PACKET_FANOUT only groups sockets bound to the same device
// (and protocol), so one group per interface sent each direction to
// whichever worker that interface's hash chose: responses never met their
// queries. A socket bound to ifindex 0 receives from every interface, and
// sockets bound to ifindex 0 form one fanout group whose symmetric hash
// ignores the interface, so both directions reach the same worker. The
// price is that every packet of the host reaches the socket filter, which
// therefore starts with "is the frame's ifindex (SKF_AD_IFINDEX) one of
// ours": a few instructions for the packets of other interfaces, and the
// kernel's ordinary work for ours. The interface and the link type of each
// frame come from the sockaddr_ll the kernel writes next to it in the ring.

// Offsets in the ring of one TPACKET_V3 frame's sockaddr_ll (after the
// header, at TPACKET_ALIGN(sizeof(struct tpacket3_hdr))) and of its fields
// (include/uapi/linux/if_packet.h; host byte order but sll_protocol).
const (
	mirrorSllOffset = 48
	mirrorSllLen    = 12 // family, protocol, ifindex, hatype, pkttype, halen
	sllIfindex      = 4
	sllHatype       = 8
)

// MaxMirrorInterfaces bounds the interfaces of one mirror: the per-frame
// lookup of the interface is a scan of this many indexes at most.
const MaxMirrorInterfaces = 16

// mirrorFanoutGroup is this process's name for the mirror's fanout group
// (fanout.go makes the kernel's ID unique); the sockets are bound to
// ifindex 0, so it cannot meet a per-interface group.
const mirrorFanoutGroup = 0xfff

// Classic BPF pieces of the ifindex prefix (linux/filter.h).
const (
	skfAdOff     = 0xfffff000
	skfAdIfindex = skfAdOff + 8
	skfAdPkttype = skfAdOff + 4
	bpfLdAbsW    = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK      = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJa        = 0x05 // BPF_JMP | BPF_JA
	bpfRetK      = 0x06 // BPF_RET | BPF_K
	bpfAcceptAll = 262144
)

// MirrorConfig describes the capture of several interfaces as one mirror.
type MirrorConfig struct {
	// Interfaces are the names, in the order of Frame.Interface.
	Interfaces []string
	// Workers is the number of sockets, one per worker, all in one fanout
	// group when more than one.
	Workers int
	// Live gives the ring sizes, the timeouts and Promiscuous; its
	// Interface, Filter, FanoutGroup and Index are ignored.
	Live LiveConfig
	// Filter compiles the capture filter for a link type (Ethernet, or raw
	// IP for interfaces without a link header); nil captures everything.
	// It is called again when an interface is re-created with another
	// link type, from the mirror's goroutine.
	Filter func(packet.LinkType) ([]bpf.RawInstruction, error)
}

// mirrorIface is the state of one of the mirror's interfaces.
type mirrorIface struct {
	name    string
	ifindex int // 0 while the interface does not exist
	hw      uint16
	gone    time.Time // when it disappeared; zero while it exists
}

// mirrorTable maps the ifindexes the filter passes to the -i order; the
// workers read it for every frame, the mirror's goroutine replaces it.
type mirrorTable struct {
	ifindex [MaxMirrorInterfaces]int32
	n       int
}

// Mirror captures several interfaces as one: Workers sockets bound to
// every interface, in one fanout group, with a filter that passes only
// the chosen interfaces' frames. When an interface is deleted and
// re-created (a new ifindex) the filter of every socket is replaced and
// promiscuous membership is taken on the new one; the sockets stay open.
type Mirror struct {
	cfg     MirrorConfig
	ctl     int // AF_PACKET socket for SIOCGIFHWADDR in the mirror's namespace
	srcs    []*MirrorSource
	table   atomic.Pointer[mirrorTable]
	foreign atomic.Uint64 // frames of interfaces no longer chosen, skipped
	watcher *Watcher
	events  chan SupervisorEvent
	done    chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex // guards everything below and the sockets' filters
	ifs      []mirrorIface
	progs    map[packet.LinkType][]bpf.RawInstruction
	joins    uint64 // interfaces joined again after they were gone
	gap      time.Duration
	dropped  uint64 // events not queued
	open     int    // sources not closed yet
	stopOnce sync.Once
}

// MirrorSource is one worker's socket of a Mirror. It has a Supervisor's
// methods, so a worker loop runs on either.
type MirrorSource struct {
	m      *Mirror
	live   *LiveSource
	worker int
	closed bool // under m.mu
}

// OpenMirror opens cfg.Workers sockets bound to all interfaces in the
// calling thread's network namespace, with the filter for the interfaces
// that exist now, and starts watching the names for deletion and
// re-creation. An interface that does not exist yet is added when it
// appears. Errors name what the kernel refused.
func OpenMirror(cfg MirrorConfig) (*Mirror, error) {
	names := strings.Join(cfg.Interfaces, ",")
	switch {
	case len(cfg.Interfaces) == 0:
		return nil, errors.New("capture: mirror: no interfaces")
	case len(cfg.Interfaces) > MaxMirrorInterfaces:
		return nil, fmt.Errorf("capture: mirror %s: %d interfaces, at most %d", names, len(cfg.Interfaces), MaxMirrorInterfaces)
	case cfg.Workers < 1:
		return nil, fmt.Errorf("capture: mirror %s: %d workers", names, cfg.Workers)
	}
	cfg.Live.Interface = names
	if err := cfg.Live.setDefaults(); err != nil {
		return nil, err
	}
	ctl, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if err == unix.EPERM || err == unix.EACCES {
			return nil, fmt.Errorf("capture: mirror %s: AF_PACKET socket needs CAP_NET_RAW: %w", names, err)
		}
		return nil, fmt.Errorf("capture: mirror %s: AF_PACKET socket: %w", names, err)
	}
	m := &Mirror{cfg: cfg, ctl: ctl, events: make(chan SupervisorEvent, supervisorEventQueue),
		done: make(chan struct{}), progs: map[packet.LinkType][]bpf.RawInstruction{}}
	m.ifs = make([]mirrorIface, len(cfg.Interfaces))
	for i, name := range cfg.Interfaces {
		m.ifs[i].name = name
		index, _, err := linkIndex(name)
		if errors.Is(err, ErrNoLink) {
			continue // joined when it appears
		} else if err != nil {
			m.closeAll()
			return nil, err
		}
		if m.ifs[i].hw, err = m.hwType(name); err != nil {
			m.closeAll()
			return nil, err
		}
		m.ifs[i].ifindex = index
	}
	filter, err := m.filterLocked()
	if err != nil {
		m.closeAll()
		return nil, fmt.Errorf("capture: mirror %s: %w", names, err)
	}
	for n := range cfg.Workers {
		lc := cfg.Live
		lc.Filter, lc.mirror, lc.Index = filter, m, 0
		if cfg.Workers > 1 {
			lc.FanoutGroup = mirrorFanoutGroup
		}
		src, err := OpenLive(lc)
		if err != nil {
			m.closeAll()
			return nil, fmt.Errorf("capture: mirror %s (sockets bound to all interfaces, one fanout group): %w", names, err)
		}
		m.srcs = append(m.srcs, &MirrorSource{m: m, live: src, worker: n})
		m.open++
	}
	m.publishLocked()
	for i := range m.ifs {
		if err := m.promiscLocked(&m.ifs[i]); err != nil {
			m.closeAll()
			return nil, fmt.Errorf("capture: mirror %s: %w", names, err)
		}
	}
	if m.watcher, err = WatchLinks(cfg.Interfaces...); err != nil {
		m.closeAll()
		return nil, err
	}
	for _, s := range m.srcs {
		m.emit(SupervisorEvent{Kind: SocketOpened, Interface: names + " (all interfaces)", Worker: s.worker})
	}
	for i := range m.ifs {
		if m.ifs[i].ifindex == 0 {
			m.emit(SupervisorEvent{Kind: InterfaceLeft, Interface: m.ifs[i].name, Err: ErrNoLink})
		}
	}
	m.wg.Add(1)
	go m.run()
	return m, nil
}

// Source returns worker n's socket.
func (m *Mirror) Source(n int) *MirrorSource { return m.srcs[n] }

// Foreign returns how many frames came from interfaces that had just
// stopped being chosen (re-created between the kernel's filter and the
// worker) and were skipped.
func (m *Mirror) Foreign() uint64 { return m.foreign.Load() }

// hwType reads the interface's ARPHRD_* type.
func (m *Mirror) hwType(name string) (uint16, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, fmt.Errorf("capture: mirror %s: %w", name, err)
	}
	if err := unix.IoctlIfreq(m.ctl, unix.SIOCGIFHWADDR, ifr); err != nil {
		if err == unix.ENODEV {
			return 0, fmt.Errorf("capture: mirror %s: %w (%w)", name, ErrNoLink, err)
		}
		return 0, fmt.Errorf("capture: mirror %s: SIOCGIFHWADDR: %w", name, err)
	}
	return ifr.Uint16(), nil
}

// hwLinkType maps an ARPHRD_* type to the link type of its frames.
func hwLinkType(hw uint16) (packet.LinkType, bool) {
	switch hw {
	case unix.ARPHRD_ETHER, unix.ARPHRD_LOOPBACK:
		return packet.LinkTypeEthernet, true
	case unix.ARPHRD_NONE, unix.ARPHRD_RAWIP, unix.ARPHRD_TUNNEL, unix.ARPHRD_TUNNEL6, unix.ARPHRD_SIT:
		return packet.LinkTypeRaw, true
	}
	return 0, false
}

// frameOrigin reads a frame's sockaddr_ll: its link type and the index of
// its interface in the -i order. It does not allocate.
func (m *Mirror) frameOrigin(sll []byte) (packet.LinkType, int, bool) {
	ifindex := int32(binary.NativeEndian.Uint32(sll[sllIfindex:]))
	lt, ok := hwLinkType(binary.NativeEndian.Uint16(sll[sllHatype:]))
	if !ok {
		return 0, 0, false
	}
	t := m.table.Load()
	for i := range t.n {
		if t.ifindex[i] == ifindex {
			return lt, i, true
		}
	}
	return 0, 0, false
}

// publishLocked replaces the table the workers read.
func (m *Mirror) publishLocked() {
	t := &mirrorTable{n: len(m.ifs)}
	for i := range m.ifs {
		t.ifindex[i] = int32(m.ifs[i].ifindex) // 0 matches no frame
	}
	m.table.Store(t)
}

// filterLocked builds the program every socket runs:
//
//	A = ifindex; for each present interface: if A == its index, jump to its block
//	return 0
//	block: [loopback: drop PACKET_OUTGOING] the filter for its link type
//
// Each interface gets its own copy of the filter (a few dozen
// instructions), so no block needs a jump back; BPF_JA takes a 32-bit
// offset, so the blocks may be far.
func (m *Mirror) filterLocked() ([]bpf.RawInstruction, error) {
	var blocks [][]bpf.RawInstruction
	var present []int
	for i := range m.ifs {
		ifc := &m.ifs[i]
		if ifc.ifindex == 0 {
			continue
		}
		lt, ok := hwLinkType(ifc.hw)
		if !ok {
			return nil, fmt.Errorf("%s: %w %d (ARPHRD_*)", ifc.name, errLinkType, ifc.hw)
		}
		prog, err := m.prog(lt)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ifc.name, err)
		}
		var b []bpf.RawInstruction
		if ifc.hw == unix.ARPHRD_LOOPBACK {
			// On lo every packet passes twice, as sent and as received
			// (see dropOutgoing).
			b = append(b, bpf.RawInstruction{Op: bpfLdAbsW, K: skfAdPkttype},
				bpf.RawInstruction{Op: bpfJeqK, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING},
				bpf.RawInstruction{Op: bpfRetK, K: 0})
		}
		if len(prog) == 0 {
			prog = []bpf.RawInstruction{{Op: bpfRetK, K: bpfAcceptAll}}
		}
		blocks = append(blocks, append(b, prog...))
		present = append(present, ifc.ifindex)
	}
	out := []bpf.RawInstruction{{Op: bpfLdAbsW, K: skfAdIfindex}}
	// Layout: 1 load, 2 instructions per interface, 1 return, blocks.
	start := 1 + 2*len(present) + 1
	for i, idx := range present {
		ja := len(out) + 1 // position of this interface's jump
		out = append(out, bpf.RawInstruction{Op: bpfJeqK, Jt: 0, Jf: 1, K: uint32(idx)},
			bpf.RawInstruction{Op: bpfJa, K: uint32(start - ja - 1)})
		start += len(blocks[i])
	}
	out = append(out, bpf.RawInstruction{Op: bpfRetK, K: 0})
	for _, b := range blocks {
		out = append(out, b...)
	}
	if len(out) > maxFilterLen {
		return nil, fmt.Errorf("filter for %d interfaces is %d instructions, over the kernel's %d", len(present), len(out), maxFilterLen)
	}
	return out, nil
}

// prog compiles the filter for a link type once.
func (m *Mirror) prog(lt packet.LinkType) ([]bpf.RawInstruction, error) {
	if p, ok := m.progs[lt]; ok || m.cfg.Filter == nil {
		return p, nil
	}
	p, err := m.cfg.Filter(lt)
	if err != nil {
		return nil, err
	}
	m.progs[lt] = p
	return p, nil
}

// promiscLocked takes promiscuous membership of the interface on the
// first socket: the kernel counts it for the interface and ends it with
// the socket or the interface.
func (m *Mirror) promiscLocked(ifc *mirrorIface) error {
	if !m.cfg.Live.Promiscuous || ifc.ifindex == 0 || len(m.srcs) == 0 {
		return nil
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifc.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(m.srcs[0].live.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("promiscuous mode on %s (PACKET_MR_PROMISC; --no-promisc goes without): %w", ifc.name, err)
	}
	return nil
}

// mirrorReconcile is how often the mirror compares its interfaces with
// the kernel's, in case the watcher's queue overflowed and lost an event.
const mirrorReconcile = time.Second

// run follows the interfaces' deletion and re-creation until Close.
func (m *Mirror) run() {
	defer m.wg.Done()
	tick := time.NewTicker(mirrorReconcile)
	defer tick.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-tick.C:
			m.reconcile()
		case ev := <-m.watcher.Events():
			switch ev.Kind {
			case LinkAdded:
				m.join(ev.Name, ev.Index)
			case LinkRemoved:
				m.leave(ev.Name, ev.Index)
			}
		}
	}
}

// reconcile looks every interface up by name (SIOCGIFINDEX on the
// mirror's own socket, so in its namespace whatever thread this runs on)
// and joins or leaves what changed.
func (m *Mirror) reconcile() {
	for i := range m.cfg.Interfaces {
		name := m.cfg.Interfaces[i]
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			continue
		}
		err = unix.IoctlIfreq(m.ctl, unix.SIOCGIFINDEX, ifr)
		m.mu.Lock()
		known := m.ifs[i].ifindex
		m.mu.Unlock()
		switch {
		case err == unix.ENODEV && known != 0:
			m.leave(name, known)
		case err == nil && int(ifr.Uint32()) != known:
			m.join(name, int(ifr.Uint32()))
		}
	}
}

// join points the filter at an interface's (new) ifindex.
func (m *Mirror) join(name string, index int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.ifs {
		ifc := &m.ifs[i]
		if ifc.name != name || ifc.ifindex == index {
			continue
		}
		hw, err := m.hwType(name)
		if err != nil {
			m.emitLocked(SupervisorEvent{Kind: OpenFailed, Interface: name, Err: err})
			return
		}
		old := *ifc
		ifc.ifindex, ifc.hw = index, hw
		if err := m.reattachLocked(); err != nil {
			*ifc = old
			m.emitLocked(SupervisorEvent{Kind: OpenFailed, Interface: name, Err: err})
			return
		}
		var gap time.Duration
		if !old.gone.IsZero() {
			gap = time.Since(old.gone)
			m.gap += gap
			m.joins++
		}
		ifc.gone = time.Time{}
		if err := m.promiscLocked(ifc); err != nil {
			m.emitLocked(SupervisorEvent{Kind: OpenFailed, Interface: name, Err: err})
		}
		m.emitLocked(SupervisorEvent{Kind: InterfaceJoined, Interface: name, IfIndex: index, Gap: gap})
	}
}

// leave takes a deleted interface out of the filter.
func (m *Mirror) leave(name string, index int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.ifs {
		ifc := &m.ifs[i]
		if ifc.name != name || ifc.ifindex != index || index == 0 {
			continue
		}
		ifc.ifindex, ifc.gone = 0, time.Now()
		if err := m.reattachLocked(); err != nil {
			m.emitLocked(SupervisorEvent{Kind: OpenFailed, Interface: name, Err: err})
		}
		m.emitLocked(SupervisorEvent{Kind: InterfaceLeft, Interface: name, IfIndex: index, Err: ErrNoLink})
	}
}

// reattachLocked gives every open socket the filter for the current
// interfaces, then publishes the table.
func (m *Mirror) reattachLocked() error {
	filter, err := m.filterLocked()
	if err != nil {
		return err
	}
	for _, s := range m.srcs {
		if s.closed {
			continue
		}
		if err := attachFilter(s.live.fd, filter); err != nil {
			return err
		}
	}
	m.publishLocked()
	return nil
}

func (m *Mirror) emit(ev SupervisorEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.emitLocked(ev)
}

func (m *Mirror) emitLocked(ev SupervisorEvent) {
	select {
	case m.events <- ev:
	default:
		m.dropped++
	}
}

// closeAll undoes a failed OpenMirror.
func (m *Mirror) closeAll() {
	for _, s := range m.srcs {
		s.live.Close()
	}
	unix.Close(m.ctl)
}

// stop ends the watching once the last source is closed.
func (m *Mirror) stop() {
	m.stopOnce.Do(func() {
		close(m.done)
		m.wg.Wait()
		m.watcher.Close()
		unix.Close(m.ctl)
	})
}

// Next fills f with the next frame of any of the mirror's interfaces
// (f.Interface is its position in MirrorConfig.Interfaces, f.LinkType its
// own). It returns ErrTimeout when none came within the poll timeout;
// other errors are permanent. It does not allocate.
func (s *MirrorSource) Next(f *packet.Frame) error { return s.live.Next(f) }

// Events returns the mirror's events (interfaces leaving and joining) on
// worker 0's source and nil on the others, so that each is read once.
func (s *MirrorSource) Events() <-chan SupervisorEvent {
	if s.worker == 0 {
		return s.m.events
	}
	return nil
}

// Stats returns this socket's kernel counters; worker 0's also counts the
// interfaces that joined again (Reopens) and the time they were gone.
func (s *MirrorSource) Stats() SupervisorStats {
	st := SupervisorStats{Kernel: s.live.KernelStats()}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	st.Open = !s.closed
	if s.worker == 0 {
		st.Reopens, st.Gap = s.m.joins, s.m.gap
		for i := range s.m.ifs {
			if g := s.m.ifs[i].gone; !g.IsZero() {
				st.Gap += time.Since(g)
			}
		}
	}
	return st
}

// Close closes the socket; the last one closed also stops the watching.
func (s *MirrorSource) Close() error {
	m := s.m
	m.mu.Lock()
	if s.closed {
		m.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.live.Close()
	m.open--
	last := m.open == 0
	m.mu.Unlock()
	if last {
		m.stop()
	}
	return err
}
