package shard

import (
	"errors"
	"testing"
)

func TestWriteNode(t *testing.T) {
	down := func(m *Monitor, id NodeID, s float64) {
		m.record(m.byID[id], sec(s), sec(s+0.01), pollResult{}, errors.New("connection refused"))
	}
	for _, tc := range []struct {
		name    string
		polls   func(m *Monitor, clk *fakeClock)
		want    NodeID
		refused bool
	}{
		{"a healthy primary", func(m *Monitor, clk *fakeClock) {
			poll(m, clk, p0, 1, primaryAt(0x5000))
			poll(m, clk, r1, 1.02, replicaAt(0x5000))
		}, p0, false},
		{"the primary down, no replica promoted", func(m *Monitor, clk *fakeClock) {
			down(m, p0, 1)
			poll(m, clk, r1, 1.02, replicaAt(0x5000))
		}, p0, false},
		{"the primary down, r1 promoted", func(m *Monitor, clk *fakeClock) {
			down(m, p0, 1)
			poll(m, clk, r1, 1.02, primaryAt(0x6000))
			poll(m, clk, r2, 1.03, replicaAt(0x5000))
		}, r1, false},
		{"the primary demoted, r2 promoted", func(m *Monitor, clk *fakeClock) {
			poll(m, clk, p0, 1, replicaAt(0x6000))
			poll(m, clk, r2, 1.03, primaryAt(0x6000))
		}, r2, false},
		{"the primary back without demotion beside r1", func(m *Monitor, clk *fakeClock) {
			poll(m, clk, p0, 1, primaryAt(0x5000))
			poll(m, clk, r1, 1.02, primaryAt(0x6000))
		}, NodeID{}, true},
		{"two replicas promoted", func(m *Monitor, clk *fakeClock) {
			down(m, p0, 1)
			poll(m, clk, r1, 1.02, primaryAt(0x6000))
			poll(m, clk, r2, 1.03, primaryAt(0x6000))
		}, NodeID{}, true},
		{"a promoted replica not polled lately", func(m *Monitor, clk *fakeClock) {
			poll(m, clk, r1, 1.02, primaryAt(0x6000))
			down(m, p0, 5)
			clk.Set(5.1)
		}, p0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clk := newTestMonitor(t)
			tc.polls(m, clk)
			got, err := m.WriteNode(0)
			var sb *SplitBrainError
			if refused := errors.As(err, &sb); refused != tc.refused || got != tc.want {
				t.Fatalf("got %v, %v; want %v, refused %v", got, err, tc.want, tc.refused)
			}
		})
	}
}
