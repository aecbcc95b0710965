//go:build linux

package capture

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// TestSupervisorFlap sends numbered datagrams to port 53 from several
// flows, one every millisecond, while the capture interface is set down and
// up, and then deleted and created again (a new veth pair: a new ifindex).
// Each worker runs a Supervisor in one fanout group, as cmd/sensor does.
// After each change capture must resume with datagrams sent after it,
// while the worker loops see nothing but frames and ErrTimeout; each
// Supervisor must count one re-open per change and the time without a
// socket; summed over all sockets, the kernel must have counted exactly
// the frames the workers read (nothing lost in a re-open). A Watcher on
// the same interface must report each change once.
func TestSupervisorFlap(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers_%d", workers), func(t *testing.T) { testSupervisorFlap(t, workers) })
	}
}

func testSupervisorFlap(t *testing.T, workers int) {
	l := newLiveLab(t)
	enterNetns(t, l.Server.Name)

	w, err := WatchLinks(l.ServerIf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// Sender: four flows, so that two workers both get some. The sockets
	// stay in the client namespace across the re-creation; writes fail
	// while there is no route, and that is fine.
	var conns []*net.UDPConn
	for i := range 4 {
		conns = append(conns, dialUDP(t, l.Client.Name, netip.AddrPortFrom(lab.ClientV4, uint16(40000+i)), netip.AddrPortFrom(lab.ServerV4, 53)))
	}
	var sent atomic.Int64
	stopSend := make(chan struct{})
	var sendWG sync.WaitGroup
	sendWG.Add(1)
	go func() {
		defer sendWG.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSend:
				return
			case <-tick.C:
			}
			n := sent.Add(1)
			_, _ = conns[n%int64(len(conns))].Write(strconv.AppendInt([]byte("seq "), n, 10))
		}
	}()
	stopSending := sync.OnceFunc(func() { close(stopSend); sendWG.Wait() })
	t.Cleanup(stopSending)

	// Workers: each owns its Supervisor, from NewSupervisor to Close, on a
	// goroutine in the server namespace (re-opens resolve the name there).
	var captured atomic.Int64 // highest sequence number read by any worker
	var frames atomic.Uint64
	sups := make([]*Supervisor, workers)
	stopWork := make(chan struct{})
	var workWG sync.WaitGroup
	ready := make(chan error, workers)
	for i := range workers {
		workWG.Add(1)
		go func() {
			defer workWG.Done()
			enterNetns(t, l.Server.Name)
			sup, err := NewSupervisor(SupervisorConfig{
				Live: LiveConfig{
					Interface: l.ServerIf, Filter: dnsFilter(t), FanoutGroup: 77,
					BlockSize: 1 << 16, NumBlocks: 8, PollTimeout: 20 * time.Millisecond,
				},
				Worker:     i,
				MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
			})
			if err != nil {
				ready <- err
				return
			}
			sups[i] = sup // before ready: the test goroutine reads sups after it
			ready <- nil
			defer sup.Close()
			var f packet.Frame
			for {
				select {
				case <-stopWork:
					return
				default:
				}
				if err := sup.Next(&f); err != nil {
					if err != ErrTimeout {
						t.Errorf("worker %d: Next: %v", i, err)
						return
					}
					continue
				}
				frames.Add(1)
				if u, ok := parseUDP4(f.Data); ok && bytes.HasPrefix(u.payload, []byte("seq ")) {
					n, _ := strconv.ParseInt(string(u.payload[4:]), 10, 64)
					for {
						c := captured.Load()
						if n <= c || captured.CompareAndSwap(c, n) {
							break
						}
					}
				}
			}
		}()
	}
	stopWorkers := sync.OnceFunc(func() { close(stopWork); workWG.Wait() })
	t.Cleanup(stopWorkers)
	for range workers {
		if err := <-ready; err != nil {
			t.Fatal(err)
		}
	}

	waitCaptured := func(after int64) bool {
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if captured.Load() > after {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return false
	}
	if !waitCaptured(0) {
		t.Fatal("nothing captured before any change")
	}

	const downTime = 300 * time.Millisecond
	steps := []struct {
		name string
		cmds [][]string // ip(8) arguments; nil: sleep downTime
	}{
		{"down_up", [][]string{
			{"-n", l.Server.Name, "link", "set", l.ServerIf, "down"},
			nil,
			{"-n", l.Server.Name, "link", "set", l.ServerIf, "up"},
		}},
		{"delete_recreate", [][]string{
			{"-n", l.Server.Name, "link", "del", l.ServerIf},
			nil,
			{"link", "add", l.ClientIf, "netns", l.Client.Name, "type", "veth", "peer", "name", l.ServerIf, "netns", l.Server.Name},
			{"-n", l.Client.Name, "addr", "add", lab.ClientV4.String() + "/24", "dev", l.ClientIf},
			{"-n", l.Server.Name, "addr", "add", lab.ServerV4.String() + "/24", "dev", l.ServerIf},
			{"-n", l.Client.Name, "link", "set", l.ClientIf, "up"},
			{"-n", l.Server.Name, "link", "set", l.ServerIf, "up"},
		}},
	}
	for _, st := range steps {
		before := make([]SupervisorStats, workers)
		for i, s := range sups {
			before[i] = s.Stats()
		}
		for _, args := range st.cmds {
			if args == nil {
				time.Sleep(downTime)
				continue
			}
			ipRun(t, args...)
		}
		mark := sent.Load()
		if !waitCaptured(mark) {
			t.Fatalf("%s: capture did not resume: highest captured %d, change done at %d", st.name, captured.Load(), mark)
		}
		// Every worker must have its socket back, not only the first.
		deadline := time.Now().Add(5 * time.Second)
		for i, s := range sups {
			for !s.Stats().Open && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			after := s.Stats()
			if after.Reopens != before[i].Reopens+1 || !after.Open {
				t.Errorf("%s: worker %d: reopens %d → %d (open %v), want one more", st.name, i, before[i].Reopens, after.Reopens, after.Open)
			}
			gap := after.Gap - before[i].Gap
			if gap < downTime/2 || gap > downTime+5*time.Second {
				t.Errorf("%s: worker %d: gap %v for %v without the interface", st.name, i, gap, downTime)
			}
			t.Logf("%s: worker %d: gap %v, open errors %d", st.name, i, gap, after.OpenErrors-before[i].OpenErrors)
		}
	}

	// Stop sending, let the workers read what is left, and compare what
	// they read with what the kernel counted on all the sockets.
	stopSending()
	time.Sleep(300 * time.Millisecond)
	stopWorkers()
	var kernel KernelStats
	for i, s := range sups {
		st := s.Stats()
		kernel = kernel.Add(st.Kernel)
		if st.Open {
			t.Errorf("worker %d: open after Close", i)
		}
	}
	if kernel.Packets != frames.Load() || kernel.Drops != 0 {
		t.Errorf("kernel stats %+v summed over sockets, %d frames read", kernel, frames.Load())
	}
	t.Logf("frames read %d, kernel %+v", frames.Load(), kernel)

	// Each socket change was reported once, in order.
	for i, s := range sups {
		var kinds []SupervisorEventKind
		var indexes []int
		for len(s.Events()) > 0 {
			ev := <-s.Events()
			t.Log(ev)
			if ev.Kind == OpenFailed {
				continue // how many depends on timing
			}
			kinds = append(kinds, ev.Kind)
			if ev.Kind == SocketOpened {
				indexes = append(indexes, ev.IfIndex)
			}
			if ev.Kind == SocketLost && !errors.Is(ev.Err, ErrLinkDown) {
				t.Errorf("worker %d: socket lost with %v, want ErrLinkDown", i, ev.Err)
			}
		}
		wantKinds := []SupervisorEventKind{SocketOpened, SocketLost, SocketOpened, SocketLost, SocketOpened}
		if fmt.Sprint(kinds) != fmt.Sprint(wantKinds) {
			t.Errorf("worker %d: events %v, want %v", i, kinds, wantKinds)
		}
		if len(indexes) == 3 && (indexes[0] != indexes[1] || indexes[2] == indexes[1]) {
			t.Errorf("worker %d: ifindexes %v: want the same after down/up and a new one after re-creation", i, indexes)
		}
	}

	// The Watcher saw: present and up; down; up; down and removed (the
	// kernel closes a device before it unregisters it); added (new index,
	// down until both ends of the pair are up); up.
	var got []string
	timeout := time.After(2 * time.Second)
collect:
	for len(got) < 7 {
		select {
		case ev := <-w.Events():
			t.Log(ev)
			got = append(got, ev.Kind.String())
		case <-timeout:
			break collect
		}
	}
	if want := "[added down up down removed added up]"; fmt.Sprint(got) != want {
		t.Errorf("watcher events %v, want %s", got, want)
	}
	if w.Dropped() != 0 {
		t.Errorf("watcher dropped %d events", w.Dropped())
	}
}

// TestSupervisorWaitsForInterface starts a Supervisor on an interface that
// does not exist yet: NewSupervisor succeeds, Next returns ErrTimeout at
// the poll-timeout pace (no spinning) until the interface appears and is
// up, and then frames. Waiting before the first socket is not a gap.
func TestSupervisorWaitsForInterface(t *testing.T) {
	l := newLiveLab(t)
	enterNetns(t, l.Server.Name)
	const name = "late1"
	sup, err := NewSupervisor(SupervisorConfig{
		Live:       LiveConfig{Interface: name, BlockSize: 1 << 16, NumBlocks: 2, PollTimeout: 20 * time.Millisecond},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	var f packet.Frame
	start := time.Now()
	calls := 0
	for time.Since(start) < 200*time.Millisecond {
		if err := sup.Next(&f); err != ErrTimeout {
			t.Fatalf("Next without the interface: %v, want ErrTimeout", err)
		}
		calls++
	}
	// 200 ms at one call per backoff or poll timeout (≥ 10 ms) is at most
	// about 20 calls; a spinning loop makes thousands.
	if calls > 40 {
		t.Fatalf("%d calls to Next in 200 ms without an interface: spinning", calls)
	}
	if st := sup.Stats(); st.Open || st.OpenErrors == 0 {
		t.Fatalf("stats %+v before the interface exists", st)
	}
	ipRun(t, "-n", l.Server.Name, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	ipRun(t, "-n", l.Server.Name, "link", "set", name+"p", "up")
	ipRun(t, "-n", l.Server.Name, "link", "set", name, "up")
	deadline := time.Now().Add(3 * time.Second)
	for !sup.Stats().Open && time.Now().Before(deadline) {
		if err := sup.Next(&f); err != nil && err != ErrTimeout {
			t.Fatal(err)
		}
	}
	st := sup.Stats()
	if !st.Open || st.Reopens != 0 || st.Gap != 0 {
		t.Fatalf("stats %+v after the interface came up: want open, no re-open, no gap", st)
	}
}

// TestSupervisorNextAllocs checks that the Supervisor adds no allocation
// to a healthy socket's Next.
func TestSupervisorNextAllocs(t *testing.T) {
	l := newLiveLab(t)
	enterNetns(t, l.Server.Name)
	in := newInjector(t, l)
	sup, err := NewSupervisor(SupervisorConfig{Live: LiveConfig{Interface: l.ServerIf, Filter: dnsFilter(t), NumBlocks: 4}})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	const runs = 1000
	from, to := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	for i := range runs + 100 {
		in.sendUDP4(t, uint16(i%2)*testVLAN, from, to, []byte("supervisor allocation test"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for sup.Stats().Kernel.Packets < runs+100 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(3 * DefaultBlockTimeout)
	var f packet.Frame
	frames := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if sup.Next(&f) == nil {
			frames++
		}
	})
	if allocs != 0 {
		t.Errorf("Supervisor.Next allocates %v per frame, want 0", allocs)
	}
	if frames != runs+1 {
		t.Errorf("read %d frames in %d calls: the ring was not busy", frames, runs+1)
	}
}
