package shard

import (
	"errors"
	"testing"
	"time"
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

// TestLagAgainstAPromotedReplica: following promotions, the replicas that
// replay from the promoted node are measured against it and take reads
// again; without following, their lag is unknown while the configured
// primary is down.
func TestLagAgainstAPromotedReplica(t *testing.T) {
	for _, follow := range []bool{false, true} {
		clk := &fakeClock{}
		clk.Set(0)
		m, err := NewMonitor([]NodeSpec{
			{ID: p0, Role: RolePrimary, Dial: refuse},
			{ID: r1, Role: RoleReplica, Dial: refuse},
			{ID: r2, Role: RoleReplica, Dial: refuse},
		}, Options{Interval: 100 * time.Millisecond, Now: clk.Now, FollowPromotion: follow})
		if err != nil {
			t.Fatal(err)
		}
		for s := 0.0; s < 1; s += 0.1 {
			poll(m, clk, p0, s, primaryAt(0x5000))
			poll(m, clk, r1, s+0.02, replicaAt(0x5000))
			poll(m, clk, r2, s+0.03, replicaAt(0x5000))
		}
		// p0 dies; r1 is promoted and written to; r2 replays from it.
		for s := 1.0; s < 3; s += 0.1 {
			m.record(m.byID[p0], sec(s), sec(s+0.01), pollResult{}, errors.New("connection refused"))
			at := LSN(0x5000 + int(s*10)*0x100)
			poll(m, clk, r1, s+0.02, primaryAt(at))
			poll(m, clk, r2, s+0.03, replicaAt(at))
		}
		if got := m.Eligible(r2, 1<<20, time.Second); got != follow {
			st, _ := m.State(r2)
			t.Errorf("follow %v: r2 eligible %v (%+v)", follow, got, st)
		}
		if m.Eligible(r1, 1<<20, time.Second) {
			t.Errorf("follow %v: the promoted r1 takes replica reads", follow)
		}
		if got, want := m.PrimaryLSN(0) == 0x5000+29*0x100, follow; got != want {
			t.Errorf("follow %v: PrimaryLSN %v", follow, m.PrimaryLSN(0))
		}
	}
}
