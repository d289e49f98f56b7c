package shard

import (
	"testing"
	"time"
)

// TestInheritKeepsNodesThatDidNotMove: after a reload, a monitor of the
// new configuration knows at once what the old one knew of unchanged
// nodes, and nothing of moved ones or of replicas whose primary moved.
func TestInheritKeepsNodesThatDidNotMove(t *testing.T) {
	clk := &fakeClock{}
	clk.Set(0)
	p1, r11 := NodeID{1, "p"}, NodeID{1, "r1"}
	specs := func(r2DSN, p1DSN string) []NodeSpec {
		return []NodeSpec{
			{ID: p0, Role: RolePrimary, DSN: "host=p0", Dial: refuse},
			{ID: r1, Role: RoleReplica, DSN: "host=r1", Dial: refuse},
			{ID: r2, Role: RoleReplica, DSN: r2DSN, Dial: refuse},
			{ID: p1, Role: RolePrimary, DSN: p1DSN, Dial: refuse},
			{ID: r11, Role: RoleReplica, DSN: "host=r11", Dial: refuse},
		}
	}
	opts := Options{Interval: 100 * time.Millisecond, Now: clk.Now}
	old, err := NewMonitor(specs("host=r2", "host=p1"), opts)
	if err != nil {
		t.Fatal(err)
	}
	for s := 0.0; s < 5; s += 0.1 {
		poll(old, clk, p0, s, primaryAt(LSN(0x5000+int(s*10)*100)))
		poll(old, clk, r1, s+0.02, replicaAt(LSN(0x5000+int(s*10)*100)))
		poll(old, clk, r2, s+0.03, replicaAt(LSN(0x5000+int(s*10)*100)))
		poll(old, clk, p1, s+0.04, primaryAt(0x9000))
		poll(old, clk, r11, s+0.05, replicaAt(0x9000))
	}
	// r2 and shard 1's primary moved.
	m, err := NewMonitor(specs("host=r2-new", "host=p1-new"), opts)
	if err != nil {
		t.Fatal(err)
	}
	m.Inherit(old)
	for _, tc := range []struct {
		id       NodeID
		eligible bool
	}{
		{r1, true},   // same node, same primary
		{r2, false},  // moved
		{r11, false}, // same node, but its primary moved
	} {
		if got := m.Eligible(tc.id, 1<<20, time.Second); got != tc.eligible {
			st, _ := m.State(tc.id)
			t.Errorf("%v eligible = %v, want %v (%+v)", tc.id, got, tc.eligible, st)
		}
	}
	if got, want := m.PrimaryLSN(0), old.PrimaryLSN(0); got != want || got == 0 {
		t.Errorf("shard 0 primary LSN = %v, want %v", got, want)
	}
	if got := m.PrimaryLSN(1); got != 0 {
		t.Errorf("moved primary inherited LSN %v", got)
	}
	// What was inherited ages as usual: without polls it goes stale.
	clk.Set(10)
	if m.Eligible(r1, 1<<20, time.Second) {
		t.Error("inherited state never went stale")
	}
	// The new monitor's own polls go on from the inherited history.
	poll(m, clk, p0, 10, primaryAt(0x6000))
	poll(m, clk, r1, 10.02, replicaAt(0x6000))
	if b, _, ok := m.ReplicaLag(r1); !ok || b != 0 {
		t.Errorf("r1 after new polls: %d bytes, ok %v", b, ok)
	}
}
