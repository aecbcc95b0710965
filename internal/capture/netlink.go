//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Everything here works in the network namespace of the calling thread at
// the time of the call (the sensor's own namespace; tests lock a thread
// into a lab namespace). A Watcher keeps the namespace it was created in.

// linkIndex returns the index of the named interface and whether it is
// administratively up (only then does the kernel deliver to AF_PACKET).
func linkIndex(name string) (index int, up bool, err error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, false, fmt.Errorf("capture: open %s: %w", name, ErrNoLink)
		}
		return 0, false, fmt.Errorf("capture: open %s: netlink: %w", name, err)
	}
	a := link.Attrs()
	return a.Index, a.RawFlags&unix.IFF_UP != 0, nil
}

// LinkEventKind says what happened to a watched interface.
type LinkEventKind uint8

// Kinds of LinkEvent.
const (
	// LinkAdded: the interface exists. Sent once for each watched interface
	// present when watching starts, and whenever one appears, including a
	// re-creation (a new Index: sockets bound to the old one are dead).
	LinkAdded LinkEventKind = iota + 1
	// LinkUp: the interface became operational (administratively up and
	// with carrier).
	LinkUp
	// LinkDown: the interface lost carrier or was set down.
	LinkDown
	// LinkRemoved: the interface was deleted (or renamed away). Deleting an
	// interface that is up reports LinkDown first: the kernel closes it
	// before it unregisters it.
	LinkRemoved
)

// String returns the kind as a word for log lines.
func (k LinkEventKind) String() string {
	switch k {
	case LinkAdded:
		return "added"
	case LinkUp:
		return "up"
	case LinkDown:
		return "down"
	case LinkRemoved:
		return "removed"
	}
	return "unknown"
}

// LinkEvent is one change of a watched interface, for the caller to log.
type LinkEvent struct {
	Kind  LinkEventKind
	Name  string
	Index int
	// Admin is IFF_UP: AF_PACKET sockets receive only while it is set.
	Admin bool
	// Carrier is IFF_LOWER_UP: the link has a peer (cable, veth peer, ...).
	Carrier bool
}

// Up reports whether the interface is operational.
func (e LinkEvent) Up() bool { return e.Admin && e.Carrier }

// String formats the event for a log line, e.g. "eth1 (index 4) added, up".
func (e LinkEvent) String() string {
	state := "down"
	switch {
	case e.Up():
		state = "up"
	case e.Admin:
		state = "up, no carrier"
	}
	switch e.Kind {
	case LinkAdded:
		return fmt.Sprintf("%s (index %d) added, %s", e.Name, e.Index, state)
	case LinkDown:
		return fmt.Sprintf("%s (index %d) %s", e.Name, e.Index, state)
	}
	return fmt.Sprintf("%s (index %d) %s", e.Name, e.Index, e.Kind)
}

type linkState struct {
	exists         bool
	index          int
	admin, carrier bool
}

// Watcher reports changes of a fixed set of interfaces from the kernel's
// RTNLGRP_LINK notifications. Each change is reported once. If the
// notification socket fails (the kernel drops notifications when a reader
// falls behind, ENOBUFS), the Watcher subscribes again and compares the
// interfaces' state with what it reported, so no change is lost for good.
type Watcher struct {
	ns      netns.NsHandle
	handle  *netlink.Handle
	states  map[string]*linkState // keys are the names given to WatchLinks; never grows
	events  chan LinkEvent
	dropped atomic.Uint64
	resubs  atomic.Uint64
	done    chan struct{}
	wg      sync.WaitGroup
	close   sync.Once
}

// watchEventQueue holds events the caller has not read yet; interface
// changes are rare, so a full queue means the caller stopped reading.
const watchEventQueue = 64

// Backoff between attempts to subscribe again after the notification
// socket failed.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 5 * time.Second
)

// WatchLinks starts watching the named interfaces in the calling thread's
// network namespace. The first events describe the ones that exist now.
func WatchLinks(names ...string) (*Watcher, error) {
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("capture: watch links: current netns: %w", err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("capture: watch links: netlink: %w", err)
	}
	w := &Watcher{
		ns:     ns,
		handle: h,
		states: make(map[string]*linkState, len(names)),
		events: make(chan LinkEvent, watchEventQueue),
		done:   make(chan struct{}),
	}
	for _, n := range names {
		w.states[n] = &linkState{}
	}
	updates, subDone, err := w.subscribe()
	if err != nil {
		h.Close()
		ns.Close()
		return nil, err
	}
	w.wg.Add(1)
	go w.run(updates, subDone)
	return w, nil
}

// subscribe opens a notification socket and then reads the current state,
// in that order, so that no change falls between the two. Closing the
// returned done channel ends the subscription.
func (w *Watcher) subscribe() (chan netlink.LinkUpdate, chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	ns := w.ns
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &ns})
	if err != nil {
		close(done)
		return nil, nil, fmt.Errorf("capture: watch links: subscribe: %w", err)
	}
	w.reconcile()
	return updates, done, nil
}

// reconcile compares every watched interface with the kernel's view.
func (w *Watcher) reconcile() {
	for name, st := range w.states {
		link, err := w.handle.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) && st.exists {
				w.emit(LinkEvent{Kind: LinkRemoved, Name: name, Index: st.index})
				*st = linkState{}
			}
			continue
		}
		a := link.Attrs()
		w.update(name, st, a.Index, a.RawFlags)
	}
}

// update applies the kernel's view of one interface and reports the change.
func (w *Watcher) update(name string, st *linkState, index int, flags uint32) {
	admin := flags&unix.IFF_UP != 0
	carrier := flags&unix.IFF_LOWER_UP != 0
	ev := LinkEvent{Name: name, Index: index, Admin: admin, Carrier: carrier}
	switch {
	case !st.exists || st.index != index:
		if st.exists { // re-created while we missed the deletion
			w.emit(LinkEvent{Kind: LinkRemoved, Name: name, Index: st.index})
		}
		ev.Kind = LinkAdded
	case (admin && carrier) != (st.admin && st.carrier):
		ev.Kind = LinkDown
		if admin && carrier {
			ev.Kind = LinkUp
		}
	default:
		st.admin, st.carrier = admin, carrier
		return
	}
	*st = linkState{exists: true, index: index, admin: admin, carrier: carrier}
	w.emit(ev)
}

func (w *Watcher) emit(ev LinkEvent) {
	select {
	case w.events <- ev:
	default:
		w.dropped.Add(1)
	}
}

func (w *Watcher) run(updates chan netlink.LinkUpdate, subDone chan struct{}) {
	defer w.wg.Done()
	backoff := watchMinBackoff
	for {
		select {
		case u, ok := <-updates:
			if ok {
				w.handleUpdate(u)
				continue
			}
		case <-w.done:
			close(subDone)
			for range updates { // the library's reader closes it on its way out
			}
			return
		}
		// The notification socket failed (ENOBUFS when we fell behind).
		close(subDone)
		for {
			select {
			case <-w.done:
				return
			case <-time.After(backoff):
			}
			var err error
			updates, subDone, err = w.subscribe()
			if err == nil {
				w.resubs.Add(1)
				backoff = watchMinBackoff
				break
			}
			backoff = min(2*backoff, watchMaxBackoff)
		}
	}
}

func (w *Watcher) handleUpdate(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	index := int(u.IfInfomsg.Index)
	st := w.states[a.Name]
	if u.Header.Type == unix.RTM_DELLINK {
		if st != nil && st.exists && st.index == index {
			w.emit(LinkEvent{Kind: LinkRemoved, Name: a.Name, Index: index})
			*st = linkState{}
		}
		return
	}
	// A watched interface renamed to another name is gone for us.
	for name, other := range w.states {
		if name != a.Name && other.exists && other.index == index {
			w.emit(LinkEvent{Kind: LinkRemoved, Name: name, Index: index})
			*other = linkState{}
		}
	}
	if st != nil {
		w.update(a.Name, st, index, u.IfInfomsg.Flags)
	}
}

// Events returns the channel of changes. It is closed by Close. Events that
// find it full are counted by Dropped, not queued.
func (w *Watcher) Events() <-chan LinkEvent { return w.events }

// Dropped returns how many events were lost because the caller did not
// read Events fast enough.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Resubscribes returns how many times the notification socket failed and
// was opened again.
func (w *Watcher) Resubscribes() uint64 { return w.resubs.Load() }

// Close stops watching and closes Events.
func (w *Watcher) Close() error {
	w.close.Do(func() {
		close(w.done)
		w.wg.Wait()
		close(w.events)
		w.handle.Close()
		w.ns.Close()
	})
	return nil
}

// WaitForLink returns when the named interface exists, at once if it does
// already, with its state; or ctx's error when ctx ends first.
func WaitForLink(ctx context.Context, name string) (LinkEvent, error) {
	w, err := WatchLinks(name)
	if err != nil {
		return LinkEvent{}, err
	}
	defer w.Close()
	for {
		select {
		case ev := <-w.events:
			if ev.Kind == LinkAdded {
				return ev, nil
			}
		case <-ctx.Done():
			return LinkEvent{}, fmt.Errorf("capture: wait for %s: %w", name, ctx.Err())
		}
	}
}
