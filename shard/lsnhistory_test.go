package shard

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestLagTime(t *testing.T) {
	type obs struct {
		at  float64 // seconds after t0
		lsn LSN
	}
	// A primary writing 100 bytes a second, sampled every second from 0 to 5.
	writing := []obs{{0, 1000}, {1, 1100}, {2, 1200}, {3, 1300}, {4, 1400}, {5, 1500}}
	// A primary that wrote until second 2 and then went idle, sampled until 60.
	var idle []obs
	idle = append(idle, obs{0, 1000}, obs{1, 1100}, obs{2, 1200})
	for s := 3; s <= 60; s++ {
		idle = append(idle, obs{float64(s), 1200})
	}
	for _, tc := range []struct {
		name       string
		size       int
		history    []obs
		now        float64
		replay     LSN
		want       time.Duration
		lowerBound bool
		ok         bool
	}{
		{name: "no history", size: 8, now: 1, replay: 5, ok: false},
		{name: "caught up with newest", size: 8, history: writing, now: 5.1, replay: 1500, want: 0, ok: true},
		{name: "ahead of newest sample", size: 8, history: writing, now: 5.1, replay: 1550, want: 0, ok: true},
		{name: "exactly at a sample: since the next one", size: 8, history: writing, now: 5.5, replay: 1300, want: 1500 * time.Millisecond, ok: true},
		{name: "between samples takes the later one", size: 8, history: writing, now: 5.5, replay: 1250, want: 2500 * time.Millisecond, ok: true},
		{name: "one byte behind newest", size: 8, history: writing, now: 5.25, replay: 1499, want: 250 * time.Millisecond, ok: true},
		{name: "lag grows with now for a stuck replica", size: 8, history: writing, now: 9, replay: 1250, want: 6 * time.Second, ok: true},
		{name: "at the oldest sample is exact", size: 8, history: writing, now: 5, replay: 1000, want: 4 * time.Second, ok: true},
		{name: "below the oldest sample is a lower bound", size: 8, history: writing, now: 5, replay: 999, want: 5 * time.Second, lowerBound: true, ok: true},
		{name: "older than the history is a lower bound", size: 8, history: writing, now: 5, replay: 10, want: 5 * time.Second, lowerBound: true, ok: true},
		{name: "ring evicted old samples", size: 3, history: writing, now: 5, replay: 1150, want: 2 * time.Second, lowerBound: true, ok: true},
		{name: "ring keeps recent samples exact", size: 3, history: writing, now: 5, replay: 1450, want: 0, ok: true},
		{name: "ring exact after eviction", size: 3, history: writing, now: 5.5, replay: 1350, want: 1500 * time.Millisecond, ok: true},
		{name: "idle primary, replica caught up: no lag", size: 4, history: idle, now: 60.2, replay: 1200, want: 0, ok: true},
		{name: "idle primary, replica behind: lag since the write", size: 4, history: idle, now: 60, replay: 1150, want: 58 * time.Second, ok: true},
		{name: "idle primary, then a write: lag only since the write", size: 4, history: append(append([]obs{}, idle...), obs{60, 1300}), now: 60.5, replay: 1200, want: 500 * time.Millisecond, ok: true},
		{name: "idle primary does not fill the ring", size: 3, history: idle, now: 60, replay: 1050, want: 59 * time.Second, ok: true},
		{name: "primary LSN went back: history restarts", size: 8, history: append(append([]obs{}, writing...), obs{6, 500}, obs{7, 600}), now: 7.5, replay: 550, want: 500 * time.Millisecond, ok: true},
		{name: "clock before sample clamps to 0", size: 8, history: writing, now: 2, replay: 1450, want: 0, ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLSNHistory(tc.size)
			for _, o := range tc.history {
				h.add(sec(o.at), o.lsn)
			}
			got, lb, ok := h.lagTime(sec(tc.now), tc.replay)
			if got != tc.want || lb != tc.lowerBound || ok != tc.ok {
				t.Errorf("lagTime(now=%v, replay=%d) = %v, lowerBound %v, ok %v; want %v, %v, %v",
					tc.now, tc.replay, got, lb, ok, tc.want, tc.lowerBound, tc.ok)
			}
		})
	}
}

func TestLSNHistoryRing(t *testing.T) {
	h := newLSNHistory(3)
	for i := range 10 {
		h.add(sec(float64(i)), LSN(100+i))
		h.add(sec(float64(i)+0.5), LSN(100+i)) // duplicates are not stored
	}
	if h.n != 3 {
		t.Fatalf("n = %d, want 3", h.n)
	}
	for i := range 3 {
		if s := h.at(i); s.lsn != LSN(107+i) || !s.at.Equal(sec(float64(7+i))) {
			t.Errorf("at(%d) = %v@%v, want %d@%v (first observation)", i, s.lsn, s.at, 107+i, sec(float64(7+i)))
		}
	}
	if l, ok := h.latest(); !ok || l != 109 {
		t.Errorf("latest = %v, %v", l, ok)
	}
}
