package shard

import (
	"testing"
	"time"
)

// BenchmarkReplicaChoice measures what replica-aware routing adds to one
// read: the checks the wire layer makes per read on a shard with two
// replicas — the primary's state, Eligible and ReplayedPast for each
// replica, and the read-your-writes floor (PrimaryLSNAfter).
func BenchmarkReplicaChoice(b *testing.B) {
	p := NodeID{Shard: 0, Name: "p"}
	r1, r2 := NodeID{Shard: 0, Name: "r1"}, NodeID{Shard: 0, Name: "r2"}
	m, err := NewMonitor([]NodeSpec{
		{ID: p, Role: RolePrimary, DSN: "host=x"},
		{ID: r1, Role: RoleReplica, DSN: "host=x"},
		{ID: r2, Role: RoleReplica, DSN: "host=x"},
	}, Options{StaleAfter: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	m.record(m.byID[p], now, now, pollResult{current: 1000}, nil)
	m.record(m.byID[r1], now, now, pollResult{inRecovery: true, receive: 1000, replay: 990}, nil)
	m.record(m.byID[r2], now, now, pollResult{inRecovery: true, receive: 1000, replay: 1000}, nil)
	wrote := now.Add(-time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, _ := m.State(p)
		floor, ok := m.PrimaryLSNAfter(0, wrote)
		if !st.Healthy || !ok {
			b.Fatal("state not as set up")
		}
		for _, r := range []NodeID{r1, r2} {
			if m.Eligible(r, 16<<20, time.Second) {
				_ = m.ReplayedPast(r, floor)
			}
		}
	}
}
