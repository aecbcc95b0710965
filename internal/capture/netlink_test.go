//go:build linux

package capture

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// TestWaitForLink waits for interfaces that exist, that appear later, and
// that never appear.
func TestWaitForLink(t *testing.T) {
	l := newLiveLab(t)
	cases := []struct {
		name    string
		iface   string
		create  bool // create the interface 200 ms after starting to wait
		timeout time.Duration
		wantErr error
	}{
		{"exists", l.ServerIf, false, 2 * time.Second, nil},
		{"appears_later", "late0", true, 5 * time.Second, nil},
		{"never_appears", "never0", false, 200 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enterNetns(t, l.Server.Name)
			created := make(chan error, 1)
			if tc.create {
				go func() {
					time.Sleep(200 * time.Millisecond)
					out, err := exec.Command("ip", "-n", l.Server.Name, "link", "add", tc.iface, "type", "veth", "peer", "name", tc.iface+"p").CombinedOutput()
					if err != nil {
						err = errors.New(err.Error() + ": " + string(out))
					}
					created <- err
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			ev, err := WaitForLink(ctx, tc.iface)
			if tc.create {
				if cerr := <-created; cerr != nil {
					t.Fatal(cerr)
				}
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Kind != LinkAdded || ev.Name != tc.iface || ev.Index <= 0 {
				t.Fatalf("event %+v", ev)
			}
			if waited := time.Since(start); tc.create && waited < 150*time.Millisecond {
				t.Errorf("returned after %v, before the interface was created", waited)
			}
			if idx, _, err := linkIndex(tc.iface); err != nil || idx != ev.Index {
				t.Errorf("index %d, kernel says %d (%v)", ev.Index, idx, err)
			}
		})
	}
}

// TestWatcherRename checks that a watched interface renamed away is
// reported removed, and one renamed to the watched name is reported added.
func TestWatcherRename(t *testing.T) {
	l := newLiveLab(t)
	enterNetns(t, l.Server.Name)
	ipRun(t, "-n", l.Server.Name, "link", "add", "rnA", "type", "veth", "peer", "name", "rnB")
	w, err := WatchLinks("rnA", "rnC")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ipRun(t, "-n", l.Server.Name, "link", "set", "rnA", "name", "rnC")
	var got []string
	deadline := time.After(3 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-w.Events():
			got = append(got, ev.Name+" "+ev.Kind.String())
		case <-deadline:
			t.Fatalf("events %q, want 3", got)
		}
	}
	want := []string{"rnA added", "rnA removed", "rnC added"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
}
