package shard

import (
	"strings"
	"sync"
	"testing"
)

func mapVersion(t testing.TB, v uint64) *Map {
	m, err := NewMap(v, EqualMap(2).Ranges())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHolderStoreRefusesOlder(t *testing.T) {
	h := NewHolder(mapVersion(t, 5))
	for _, v := range []uint64{1, 4, 5} {
		err := h.Store(mapVersion(t, v))
		if err == nil || !strings.Contains(err.Error(), "not newer than current version 5") {
			t.Errorf("Store(v%d) over v5: %v", v, err)
		}
	}
	if h.Load().Version() != 5 {
		t.Fatalf("refused Store changed the map to v%d", h.Load().Version())
	}
	if err := h.Store(nil); err == nil {
		t.Error("Store(nil) accepted")
	}
	m6 := mapVersion(t, 6)
	if err := h.Store(m6); err != nil {
		t.Fatal(err)
	}
	if h.Load() != m6 {
		t.Error("Load does not return the stored map")
	}
}

func TestNewHolderNilPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewHolder(nil) did not panic")
		}
	}()
	NewHolder(nil)
}

// Readers never see a version go backwards, and racing writers end with
// the highest version stored; run under -race.
func TestHolderConcurrent(t *testing.T) {
	const writers, versions, readers = 4, 500, 4
	h := NewHolder(mapVersion(t, 1))
	maps := make([]*Map, versions+1)
	for v := 1; v <= versions; v++ {
		maps[v] = mapVersion(t, uint64(v))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range readers {
		wg.Go(func() {
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				m := h.Load()
				if m.Version() < last {
					t.Errorf("version went back from %d to %d", last, m.Version())
					return
				}
				last = m.Version()
				_ = m.Lookup(HashInt(int64(last)))
			}
		})
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Go(func() {
			// Each writer offers every version, in an interleaved order, so
			// most Stores race with a newer one and must be refused.
			for v := 2 + w; v <= versions; v++ {
				_ = h.Store(maps[v])
			}
		})
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	if got := h.Load().Version(); got != versions {
		t.Errorf("final version %d, want %d", got, versions)
	}
}
