package bounded

import (
	"math/rand/v2"
	"testing"
)

type testKey struct {
	a, b uint64
	c    [4]uint16
}

// TestTableModel churns a small table (runs wrap around the index, removals
// shift elements back) through inserts, finds, touches, removals and
// expiry, and checks every answer and the age order against a plain model.
func TestTableModel(t *testing.T) {
	for _, limit := range []int{1, 3, 8, 37} {
		var tb Table[testKey, int]
		tb.Init(limit, 100)
		type rec struct {
			slot int32
			time int64
		}
		live := map[testKey]rec{}
		var order []testKey // oldest first
		drop := func(k testKey) {
			for j, o := range order {
				if o == k {
					order = append(order[:j], order[j+1:]...)
					return
				}
			}
		}
		rng := rand.New(rand.NewPCG(1, uint64(limit)))
		now := int64(0)
		for step := range 20000 {
			now += int64(rng.IntN(10))
			k := testKey{a: uint64(rng.IntN(3 * limit)), c: [4]uint16{3: 7}}
			h := tb.Hash(&k)
			i := tb.Find(&k, h)
			r, ok := live[k]
			if (i != None) != ok || ok && i != r.slot {
				t.Fatalf("limit %d step %d: Find(%v) = %d, model %v %v", limit, step, k, i, r, ok)
			}
			switch x := rng.IntN(4); {
			case ok && x == 0:
				tb.Remove(i)
				delete(live, k)
				drop(k)
			case ok:
				tb.At(i).Time = now
				tb.Touch(i)
				live[k] = rec{i, now}
				drop(k)
				order = append(order, k)
			default:
				if tb.Full() {
					o := tb.Oldest()
					if tb.At(o).Key != order[0] {
						t.Fatalf("limit %d step %d: oldest %v, model %v", limit, step, tb.At(o).Key, order[0])
					}
					tb.Remove(o)
					delete(live, order[0])
					order = order[1:]
				}
				i = tb.Insert(&k, h, now)
				if e := tb.At(i); e.Key != k || e.Time != now || e.Hash() != h {
					t.Fatalf("limit %d step %d: inserted %+v", limit, step, e)
				}
				live[k] = rec{i, now}
				order = append(order, k)
			}
			for i := tb.Expired(now); i != None; i = tb.Expired(now) {
				if now-tb.At(i).Time <= 100 || tb.At(i).Key != order[0] {
					t.Fatalf("limit %d step %d: expired %+v at %d, model oldest %v", limit, step, tb.At(i), now, order[0])
				}
				tb.Remove(i)
				delete(live, order[0])
				order = order[1:]
			}
			if len(order) > 0 && now-live[order[0]].time > 100 {
				t.Fatalf("limit %d step %d: %v not expired", limit, step, order[0])
			}
			if tb.Len() != len(live) || tb.Len() > limit {
				t.Fatalf("limit %d step %d: Len %d, model %d", limit, step, tb.Len(), len(live))
			}
		}
	}
}

// TestTableSeeded checks that every table draws its own seed: if the seed
// were dropped (or made a constant), keys could be chosen offline to share
// one probe run, as issue 7 measured (~140× the CPU).
func TestTableSeeded(t *testing.T) {
	var a, b Table[testKey, struct{}]
	a.Init(16, 1)
	b.Init(16, 1)
	same := 0
	for i := range 64 {
		k := testKey{a: uint64(i)}
		if a.Hash(&k) == b.Hash(&k) {
			same++
		}
		if a.HashBytes([]byte{byte(i)}) == b.HashBytes([]byte{byte(i)}) {
			same++
		}
	}
	if same != 0 {
		t.Fatalf("%d of 128 hashes agree between two tables: the seed is not random per table", same)
	}
}

// TestTablePlainKeys checks that Init refuses keys whose memory is not all
// key: the hash reads it as bytes.
func TestTablePlainKeys(t *testing.T) {
	// Blank fields: only the layout matters.
	type padded struct {
		_ uint8
		_ uint64
	}
	type tailPadded struct {
		_ uint64
		_ uint8
	}
	type pointer struct{ _ *int }
	type str struct{ _ string }
	for name, init := range map[string]func(){
		"padding":      func() { new(Table[padded, int]).Init(1, 1) },
		"tail padding": func() { new(Table[tailPadded, int]).Init(1, 1) },
		"pointer":      func() { new(Table[pointer, int]).Init(1, 1) },
		"string":       func() { new(Table[str, int]).Init(1, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Init accepted the key type")
				}
			}()
			init()
		})
	}
	new(Table[testKey, *int]).Init(1, 1) // a plain key with any value is fine
}

// TestTableProbes checks the probe counter on a known layout: it is what
// the chosen-collision tests of the callers assert on.
func TestTableProbes(t *testing.T) {
	var tb Table[testKey, struct{}]
	tb.Init(4, 1) // index of 8
	keys := []testKey{{a: 1}, {a: 2}, {a: 3}}
	for _, k := range keys {
		tb.Insert(&k, 5, 0) // all at home 5: positions 5, 6, 7
	}
	if got := tb.Probes(); got != 1+2+3 {
		t.Fatalf("3 inserts into one run probed %d elements, want 6", got)
	}
	if i := tb.Find(&keys[2], 5); i != 2 || tb.Probes() != 6+3 {
		t.Fatalf("Find = %d after %d probes, want slot 2 after 9", i, tb.Probes())
	}
	// A miss walks the run to the empty element after it.
	if i := tb.Find(&testKey{a: 9}, 5); i != None || tb.Probes() != 9+4 {
		t.Fatalf("Find = %d after %d probes, want None after 13", i, tb.Probes())
	}
}

func TestTableZeroAlloc(t *testing.T) {
	var tb Table[testKey, [3]int64]
	tb.Init(64, 10)
	n := uint64(0)
	run := func() {
		n++
		k := testKey{a: n % 200}
		h := tb.Hash(&k)
		if i := tb.Find(&k, h); i != None {
			tb.Remove(i)
			return
		}
		if tb.Full() {
			tb.Remove(tb.Oldest())
		}
		tb.Insert(&k, h, int64(n))
		for i := tb.Expired(int64(n)); i != None; i = tb.Expired(int64(n)) {
			tb.Remove(i)
		}
	}
	for range 1000 {
		run()
	}
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("%v allocations per operation, want 0", a)
	}
}

// BenchmarkTableFindInsertRemove is one query's life in the pending table:
// a miss, an insert, a hit and a removal, with the table half full.
func BenchmarkTableFindInsertRemove(b *testing.B) {
	var tb Table[testKey, struct{}]
	tb.Init(65536, 1e9)
	for i := range 32768 {
		k := testKey{a: uint64(i), b: 1}
		tb.Insert(&k, tb.Hash(&k), 0)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := testKey{a: uint64(i), b: 2}
		h := tb.Hash(&k)
		if tb.Find(&k, h) != None {
			b.Fatal("found")
		}
		tb.Insert(&k, h, 0)
		tb.Remove(tb.Find(&k, tb.Hash(&k)))
	}
	b.ReportMetric(float64(tb.Probes())/float64(b.N), "probes/op")
}
