//go:build linux

package capture

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
)

// TestSupervisorFlap sends a numbered datagram to port 53 every
// millisecond while the capture interface is set down and up, and then
// deleted and created again (a new veth pair: a new ifindex). After each
// change the Supervisor must capture datagrams sent after it, without the
// worker loop seeing anything but frames and ErrTimeout, and its counters
// must show the re-opens and the time without a socket. A Watcher on the
// same interface must report each change once.
func TestSupervisorFlap(t *testing.T) {
	l := newLiveLab(t)
	enterNetns(t, l.Server.Name) // the Supervisor re-opens from this goroutine

	w, err := WatchLinks(l.ServerIf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sup, err := NewSupervisor(SupervisorConfig{
		Live: LiveConfig{
			Interface: l.ServerIf, Filter: dnsFilter(t), FanoutGroup: 77,
			BlockSize: 1 << 16, NumBlocks: 8, PollTimeout: 20 * time.Millisecond,
		},
		Worker:     1,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()

	// Sender: its socket stays in the client namespace across the
	// re-creation; writes fail while there is no route, and that is fine.
	conn := dialUDP(t, l.Client.Name, netip.AddrPortFrom(lab.ClientV4, 40000), netip.AddrPortFrom(lab.ServerV4, 53))
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
			_, _ = conn.Write(strconv.AppendInt([]byte("seq "), n, 10))
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stopSend:
		default:
			close(stopSend)
		}
		sendWG.Wait()
	})

	// captured is the highest sequence number read so far.
	var captured atomic.Int64
	var frames uint64 // read by the worker loop (this goroutine and its subtests, one at a time)
	const downTime = 300 * time.Millisecond
	// Each step runs beside the worker loop, so it returns its error
	// instead of failing the test from another goroutine.
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

	// The worker loop runs here; the changes run beside it.
	stepDone := make(chan int64, 1)
	stepErr := make(chan error, 1)
	capture := func(until func() bool, timeout time.Duration) bool {
		return captureUntil(t, sup.Next, timeout, func(f *Frame) bool {
			frames++
			if u, ok := parseUDP4(f.Data); ok && bytes.HasPrefix(u.payload, []byte("seq ")) {
				if n, err := strconv.ParseInt(string(u.payload[4:]), 10, 64); err == nil && n > captured.Load() {
					captured.Store(n)
				}
			}
			return until()
		})
	}
	if !capture(func() bool { return captured.Load() > 0 }, 5*time.Second) {
		t.Fatal("nothing captured before any change")
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			enterNetns(t, l.Server.Name) // this goroutine now runs the worker loop
			before := sup.Stats()
			go func() {
				for _, args := range st.cmds {
					if args == nil {
						time.Sleep(downTime)
						continue
					}
					if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
						stepErr <- fmt.Errorf("ip %v: %v: %s", args, err, out)
						return
					}
				}
				stepDone <- sent.Load()
			}()
			var mark int64 = -1
			ok := capture(func() bool {
				select {
				case mark = <-stepDone:
				case err := <-stepErr:
					t.Fatal(err)
				default:
				}
				return mark >= 0 && captured.Load() > mark
			}, 15*time.Second)
			if !ok {
				t.Fatalf("capture did not resume: highest captured %d, change done at %d (-1: not done), stats %+v",
					captured.Load(), mark, sup.Stats())
			}
			after := sup.Stats()
			if after.Reopens != before.Reopens+1 || !after.Open {
				t.Errorf("reopens %d → %d (open %v), want one more", before.Reopens, after.Reopens, after.Open)
			}
			gap := after.Gap - before.Gap
			if gap < downTime/2 || gap > downTime+5*time.Second {
				t.Errorf("gap %v for %v without the interface", gap, downTime)
			}
			t.Logf("step %d: gap %v, open errors %d, captured up to %d", i, gap, after.OpenErrors-before.OpenErrors, captured.Load())
		})
	}
	// Stop sending and read what is left: every frame the kernel counted
	// on any of the sockets must have been read, none lost in a re-open.
	close(stopSend)
	sendWG.Wait()
	captureUntil(t, sup.Next, 300*time.Millisecond, func(*Frame) bool { frames++; return false })
	st := sup.Stats()
	if st.Kernel.Packets != frames || st.Kernel.Drops != 0 {
		t.Errorf("kernel stats %+v summed over sockets, %d frames read", st.Kernel, frames)
	}
	t.Logf("frames read %d, kernel %+v, total gap %v", frames, st.Kernel, st.Gap)

	// Each socket change was reported once, in order.
	var kinds []SupervisorEventKind
	var indexes []int
	for len(sup.Events()) > 0 {
		ev := <-sup.Events()
		t.Log(ev)
		if ev.Kind == OpenFailed {
			continue // how many depends on timing
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == SocketOpened {
			indexes = append(indexes, ev.IfIndex)
		}
		if ev.Kind == SocketLost && !errors.Is(ev.Err, ErrLinkDown) {
			t.Errorf("socket lost with %v, want ErrLinkDown", ev.Err)
		}
	}
	wantKinds := []SupervisorEventKind{SocketOpened, SocketLost, SocketOpened, SocketLost, SocketOpened}
	if fmt.Sprint(kinds) != fmt.Sprint(wantKinds) {
		t.Errorf("supervisor events %v, want %v", kinds, wantKinds)
	}
	if len(indexes) == 3 && (indexes[0] != indexes[1] || indexes[2] == indexes[1]) {
		t.Errorf("ifindexes %v: want the same after down/up and a new one after re-creation", indexes)
	}

	// The Watcher saw: present and up; down; up; down and removed (the
	// kernel closes a device before it unregisters it); added (new index,
	// down until both ends of the pair are up); up.
	var got []string
	timeout := time.After(2 * time.Second)
collect:
	for {
		select {
		case ev := <-w.Events():
			t.Log(ev)
			got = append(got, ev.Kind.String())
		case <-timeout:
			break collect
		default:
			if len(got) >= 7 {
				break collect
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want := "[added down up down removed added up]"
	if fmt.Sprint(got) != want {
		t.Errorf("watcher events %v, want %s", got, want)
	}
	if w.Dropped() != 0 {
		t.Errorf("watcher dropped %d events", w.Dropped())
	}
}
