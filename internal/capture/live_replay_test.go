//go:build linux

package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// replayPackets is the size of the synthetic capture BenchmarkLiveReplay
// replays: large enough that the replay lasts about a second at top speed.
const replayPackets = 200_000

// BenchmarkLiveReplay replays a synthetic DNS capture (5000 clients, many
// flows) with tcpreplay --topspeed onto the client end of the lab's veth
// pair, and captures on the server end (the SPAN port) with 1 and 2
// LiveSources in a fanout group, and with tcpdump -w /dev/null for
// comparison. It reports frames captured per second of replay and the
// kernel's drop count. Run it alone: the numbers depend on the CPUs that
// tcpreplay leaves free.
//
//	go test -run '^$' -bench LiveReplay -benchtime 1x ./internal/capture
func BenchmarkLiveReplay(b *testing.B) {
	testenv.NeedTool(b, "tcpreplay", "tcpreplay")
	l := newLiveLab(b)
	pcap := filepath.Join(b.TempDir(), "replay.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		b.Fatal(err)
	}
	sum, err := synth.Generate(f, synth.Options{Kind: synth.KindUDP, Packets: replayPackets, Seed: 1})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	replay := func(b *testing.B) (pps float64) {
		out := l.Client.Run(b, "tcpreplay", "--topspeed", "-i", l.ClientIf, pcap)
		m := regexp.MustCompile(`Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps`).FindSubmatch(out)
		if m == nil {
			b.Fatalf("tcpreplay output without a rate:\n%s", out)
		}
		pps, _ = strconv.ParseFloat(string(m[1]), 64)
		return pps
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers_%d", workers), func(b *testing.B) {
			for range b.N {
				var srcs []*LiveSource
				for range workers {
					srcs = append(srcs, openLive(b, l.Server.Name, LiveConfig{Interface: l.ServerIf, FanoutGroup: 0x7777}))
				}
				var frames atomic.Uint64
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for _, s := range srcs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						var f packet.Frame
						n := uint64(0)
						for {
							select {
							case <-stop:
								frames.Add(n)
								return
							default:
							}
							if s.Next(&f) == nil {
								n++
							}
						}
					}()
				}
				pps := replay(b)
				// The readers are done when the count stops moving: the
				// last block is handed over after DefaultBlockTimeout, and a
				// busy machine may take longer to schedule the reader.
				for last, deadline := frames.Load(), time.Now().Add(3*time.Second); time.Now().Before(deadline); {
					time.Sleep(10 * DefaultBlockTimeout)
					n := frames.Load()
					if n == last {
						break
					}
					last = n
				}
				close(stop)
				wg.Wait()
				var k KernelStats
				for _, s := range srcs {
					k = k.Add(s.KernelStats())
					s.Close()
				}
				b.ReportMetric(pps, "replay_pps")
				b.ReportMetric(float64(k.Drops), "kernel_drops")
				b.ReportMetric(float64(frames.Load()), "frames")
				if k.Packets < uint64(sum.Packets) || frames.Load() != k.Packets-k.Drops {
					b.Errorf("kernel %+v, read %d, replayed %d", k, frames.Load(), sum.Packets)
				}
			}
		})
	}
	b.Run("tcpdump", func(b *testing.B) {
		testenv.NeedTool(b, "tcpdump", "tcpdump")
		for range b.N {
			p := l.Server.Start(b, "tcpdump", "-i", l.ServerIf, "-w", "/dev/null", "-s", "0", "-n", "-Z", "root", "--immediate-mode")
			p.WaitFor(b, "listening on", 20*time.Second)
			pps := replay(b)
			time.Sleep(300 * time.Millisecond)
			if err := p.Stop(syscall.SIGINT); err != nil {
				b.Fatalf("tcpdump: %v\n%s", err, p.Stderr())
			}
			m := regexp.MustCompile(`(\d+) packets captured\n(?:.*\n)?(\d+) packets dropped by kernel`).FindStringSubmatch(p.Stderr())
			if m == nil {
				b.Fatalf("tcpdump output without counts:\n%s", p.Stderr())
			}
			captured, _ := strconv.ParseFloat(m[1], 64)
			drops, _ := strconv.ParseFloat(m[2], 64)
			b.ReportMetric(pps, "replay_pps")
			b.ReportMetric(drops, "kernel_drops")
			b.ReportMetric(captured, "frames")
		}
	})
}
