package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

const (
	// flapDigEvery paces the background dig loop (plus dig's own run time,
	// about 20 ms here): some 15 queries a second, only to the lab's BIND.
	flapDigEvery = 50 * time.Millisecond
	// flapDigMax bounds the background loop whatever happens.
	flapDigMax = 2000
	// flapDown is how long the SPAN port stays down or deleted: long enough
	// for the sensor to notice and for background queries to fall in the gap.
	flapDown = 500 * time.Millisecond
	// markersPerPhase queries are sent, each waited for, in each phase.
	markersPerPhase = 5
)

// TestInterfaceFlap (issue #4): while dig queries flow across the mirrored
// link, the SPAN port is set down and up, then deleted and re-created
// (and the mirror re-attached). The sensor must keep running, re-open its
// sockets (socket_reopens ≥ 2 per worker), show the time without a socket
// (capture_gap_ms > 0), and capture what crosses the link before, between
// and after the flaps; what it misses must be background traffic sent
// during a gap.
func TestInterfaceFlap(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers_%d", workers), func(t *testing.T) { testInterfaceFlap(t, workers) })
	}
}

func testInterfaceFlap(t *testing.T, workers int) {
	bin := sensorBin(t)
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	out := filepath.Join(t.TempDir(), "sensor.dnstap")
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "--workers", strconv.Itoa(workers), "-w", out,
		"--identity", "e2e-flap", "--server", serverFlag, "--role", "authoritative")
	waitOpened := func() {
		t.Helper()
		for range workers {
			sensor.WaitFor(t, "capture socket opened", sensorStartWait)
		}
	}
	waitOpened()

	dig := func(name string) error {
		_, err := m.Client.Output("dig", "+tries=1", "+time=1", "-b", lab.ClientV4.String(), at4, name, "A")
		return err
	}
	// Markers get dig's longer timeout (lab.Netns.Dig): they must all be
	// answered, however loaded the machine.
	markers := func(phase string) {
		t.Helper()
		for i := range markersPerPhase {
			m.Client.Dig(t, "-b", lab.ClientV4.String(), at4, fmt.Sprintf("%s-%d.%s", phase, i, lab.ZoneAuth), "A")
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bgErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(flapDigEvery)
		defer tick.Stop()
		for i := 0; i < flapDigMax; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// A dig may time out while the machine is loaded; only the
			// markers must all be answered.
			if err := dig(fmt.Sprintf("bg-%d.%s", i, lab.ZoneAuth)); err != nil && bgErr == nil {
				bgErr = err
			}
		}
	}()
	stopBackground := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	t.Cleanup(stopBackground)

	markers("pre")
	m.SetSpan(t, false)
	time.Sleep(flapDown)
	m.SetSpan(t, true)
	waitOpened()
	markers("mid")
	m.DeleteSpan(t)
	time.Sleep(flapDown)
	m.AttachSpan(t)
	waitOpened()
	markers("post")
	stopBackground()
	if bgErr != nil {
		t.Logf("background dig: %v", bgErr)
	}

	time.Sleep(ringSettle)
	if err := sensor.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	named.Stop(t)
	summary := sensor.Stderr()
	t.Logf("sensor:\n%s", summary)

	if n := summaryCounter(t, summary, "socket_reopens"); n < uint64(2*workers) {
		t.Errorf("socket_reopens %d, want at least %d (2 per worker)", n, 2*workers)
	}
	if n := summaryCounter(t, summary, "capture_gap_ms"); n == 0 {
		t.Errorf("capture_gap_ms 0: the time without a socket is not counted")
	}

	// Every marker query and its answer, in every phase.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := tapfile.ReadCompareEntries(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := range entries {
		name := qname(&entries[i])
		kind := "query"
		if entries[i].IsResponse() {
			kind = "response"
		}
		seen[kind+" "+name]++
	}
	for _, phase := range []string{"pre", "mid", "post"} {
		for i := range markersPerPhase {
			name := fmt.Sprintf("%s-%d.%s.", phase, i, lab.ZoneAuth)
			for _, kind := range []string{"query", "response"} {
				if seen[kind+" "+name] != 1 {
					t.Errorf("%s %s: %d in the sensor's output, want 1", kind, name, seen[kind+" "+name])
				}
			}
		}
	}

	// What the sensor lacks of BIND's dnstap fell in a gap: background
	// queries only.
	rep := compareFiles(t, named.DnstapPath, out, "BIND")
	for i := range rep.OnlyA {
		if name := qname(&rep.OnlyA[i]); !strings.HasPrefix(name, "bg-") {
			t.Errorf("missing from the sensor's output, and not background traffic: %s", rep.OnlyA[i].String())
		}
	}
	t.Logf("BIND logged %d messages; the sensor has %d of them, %d fell in the capture gaps",
		rep.MessagesA, rep.Matched+rep.ExcusedTotal(), len(rep.OnlyA))
}

// qname is the first question's name of a message, "" when there is none.
func qname(e *tapfile.CompareEntry) string {
	var m dns.Msg
	if err := m.Unpack(e.Wire); err != nil || len(m.Question) == 0 {
		return ""
	}
	return m.Question[0].Name
}

// summaryCounter reads "name N" from the sensor's summary.
func summaryCounter(t *testing.T, summary, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s+(\d+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no %q counter in the sensor's summary:\n%s", name, summary)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
