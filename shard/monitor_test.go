package shard

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(s float64)  { c.mu.Lock(); defer c.mu.Unlock(); c.t = sec(s) }

var (
	p0 = NodeID{0, "p"}
	r1 = NodeID{0, "r1"}
	r2 = NodeID{0, "r2"}
)

func refuse(context.Context) (*pgconn.PgConn, error) { return nil, errors.New("refused") }

// newTestMonitor is shard 0 with a primary and two replicas, polled every
// 100ms (StaleAfter 200ms), on a fake clock; nothing runs, tests feed polls
// through record.
func newTestMonitor(t *testing.T) (*Monitor, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	clk.Set(0)
	m, err := NewMonitor([]NodeSpec{
		{ID: p0, Role: RolePrimary, Dial: refuse},
		{ID: r1, Role: RoleReplica, Dial: refuse},
		{ID: r2, Role: RoleReplica, Dial: refuse},
	}, Options{Interval: 100 * time.Millisecond, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m, clk
}

// poll records a successful poll of id that started at s and took 10ms.
func poll(m *Monitor, clk *fakeClock, id NodeID, s float64, r pollResult) {
	clk.Set(s + 0.01)
	m.record(m.byID[id], sec(s), sec(s+0.01), r, nil)
}

func primaryAt(l LSN) pollResult { return pollResult{current: l} }
func replicaAt(l LSN) pollResult { return pollResult{inRecovery: true, receive: l, replay: l} }

func TestMonitorNotPolledIsUnknown(t *testing.T) {
	m, _ := newTestMonitor(t)
	for _, s := range m.Snapshot() {
		if s.Healthy || !s.Unknown || s.Role != RoleUnknown || s.Err == nil {
			t.Errorf("%v before any poll: %+v", s.ID, s)
		}
	}
	if m.Eligible(r1, 0, 0) {
		t.Error("unpolled replica eligible")
	}
	if _, _, ok := m.ReplicaLag(r1); ok {
		t.Error("unpolled replica has a lag")
	}
	if m.PrimaryLSN(0) != 0 {
		t.Error("unpolled primary has an LSN")
	}
}

func TestMonitorSteadyAndIdle(t *testing.T) {
	m, clk := newTestMonitor(t)
	// An idle primary at 0/5000 for a minute, replicas caught up.
	for s := 0.0; s < 60; s += 0.1 {
		poll(m, clk, p0, s, primaryAt(0x5000))
		poll(m, clk, r1, s+0.02, replicaAt(0x5000))
		poll(m, clk, r2, s+0.03, replicaAt(0x5000))
	}
	for _, id := range []NodeID{r1, r2} {
		b, lag, ok := m.ReplicaLag(id)
		if !ok || b != 0 || lag != 0 {
			t.Errorf("%v on an idle primary: %d bytes, %v, ok %v; want 0, 0, true", id, b, lag, ok)
		}
		if !m.Eligible(id, 1, time.Millisecond) {
			t.Errorf("%v not eligible", id)
		}
	}
	if m.Eligible(p0, 0, 0) {
		t.Error("primary is eligible for replica reads")
	}
	if got := m.PrimaryLSN(0); got != 0x5000 {
		t.Errorf("PrimaryLSN = %v", got)
	}
	st, _ := m.State(r1)
	if !st.Healthy || st.Role != RoleReplica || st.RoleMismatch || !st.LagKnown || st.PrimaryLSN != 0x5000 {
		t.Errorf("r1 state: %+v", st)
	}
}

func TestMonitorLaggingReplica(t *testing.T) {
	m, clk := newTestMonitor(t)
	// The primary writes 1000 bytes per 100ms poll; r1 stops replaying at
	// 0/10000 (second 1.0) while r2 keeps up.
	for i := range 31 {
		s := float64(i) / 10
		l := LSN(0x10000 + 1000*i)
		poll(m, clk, p0, s, primaryAt(l))
		poll(m, clk, r1, s+0.02, replicaAt(min(l, 0x10000+1000*10)))
		poll(m, clk, r2, s+0.03, replicaAt(l))
	}
	clk.Set(3.05)
	b, lag, ok := m.ReplicaLag(r1)
	// r1 is at the sample of second 1.0; the primary moved past it by 1.1.
	if !ok || b != 20*1000 || lag != 1950*time.Millisecond {
		t.Errorf("r1 lag = %d bytes, %v, %v; want 20000, 1.95s", b, lag, ok)
	}
	if m.Eligible(r1, 0, time.Second) || m.Eligible(r1, 10000, 0) {
		t.Error("lagging r1 eligible under a limit it exceeds")
	}
	if !m.Eligible(r1, 0, 2*time.Second) || !m.Eligible(r1, 20000, 0) || !m.Eligible(r1, 0, 0) {
		t.Error("r1 not eligible under limits it meets")
	}
	if !m.Eligible(r2, 1000, time.Second) {
		t.Error("r2 not eligible")
	}
	// Read-your-writes: r2 has replayed the primary's latest, r1 has not.
	latest := m.PrimaryLSN(0)
	if !m.ReplayedPast(r2, latest) || m.ReplayedPast(r1, latest) || !m.ReplayedPast(r1, 0x10000) {
		t.Error("ReplayedPast wrong")
	}
	if m.ReplayedPast(p0, 0) {
		t.Error("the primary replays nothing")
	}
}

func TestMonitorLowerBoundNeverPassesTimeLimit(t *testing.T) {
	m, clk := newTestMonitor(t)
	poll(m, clk, p0, 0, primaryAt(0x9000))
	poll(m, clk, r1, 0.02, replicaAt(0x8000)) // behind the first sample ever taken
	st, _ := m.State(r1)
	if !st.LagKnown || !st.LagTimeLowerBound || st.LagBytes != 0x1000 {
		t.Fatalf("state: %+v", st)
	}
	if m.Eligible(r1, 0, time.Hour) {
		t.Error("a lower-bound lag passed a time limit")
	}
	if !m.Eligible(r1, 0x1000, 0) {
		t.Error("not eligible on bytes alone")
	}
}

func TestMonitorFailureIsNeverHealthy(t *testing.T) {
	m, clk := newTestMonitor(t)
	poll(m, clk, p0, 0, primaryAt(0x5000))
	poll(m, clk, r1, 0, replicaAt(0x5000))
	if !m.Eligible(r1, 0, 0) {
		t.Fatal("not eligible after a good poll")
	}
	// The next poll fails.
	clk.Set(0.12)
	m.record(m.byID[r1], sec(0.1), sec(0.12), pollResult{}, errors.New("connect: refused"))
	st, _ := m.State(r1)
	if st.Healthy || !st.Unknown || st.Err == nil || m.Eligible(r1, 0, 0) || m.ReplayedPast(r1, 0) {
		t.Errorf("after a failed poll: %+v", st)
	}
	// Last known values stay visible.
	if st.ReplayLSN != 0x5000 || st.Role != RoleReplica {
		t.Errorf("last known values lost: %+v", st)
	}
	// A poller that is stuck (no poll at all) goes stale after 2 intervals.
	poll(m, clk, r2, 0, replicaAt(0x5000))
	clk.Set(0.2)
	if !m.Eligible(r2, 0, 0) {
		t.Error("r2 stale too early")
	}
	clk.Set(0.25)
	if m.Eligible(r2, 0, 0) {
		t.Error("r2 eligible with a 250ms old poll")
	}
	// The primary going stale makes the lag unknown.
	poll(m, clk, r2, 0.3, replicaAt(0x5000))
	if _, _, ok := m.ReplicaLag(r2); ok || m.Eligible(r2, 0, 0) {
		t.Error("lag known against a stale primary")
	}
}

func TestMonitorRoleMismatch(t *testing.T) {
	m, clk := newTestMonitor(t)
	poll(m, clk, p0, 0, replicaAt(0x5000)) // primary came back as a standby
	poll(m, clk, r1, 0, primaryAt(0x6000)) // replica promoted
	ps, _ := m.State(p0)
	rs, _ := m.State(r1)
	if !ps.RoleMismatch || ps.Role != RoleReplica || !rs.RoleMismatch || rs.Role != RolePrimary {
		t.Errorf("mismatch not flagged: %+v %+v", ps, rs)
	}
	if m.Eligible(r1, 0, 0) {
		t.Error("promoted replica eligible")
	}
	if m.PrimaryLSN(0) != 0 {
		t.Error("a primary in recovery fed the LSN history")
	}
}

func TestMonitorBanAndRejoin(t *testing.T) {
	m, clk := newTestMonitor(t)
	good := func(s float64) {
		poll(m, clk, p0, s, primaryAt(0x5000))
		poll(m, clk, r1, s, replicaAt(0x5000))
	}
	good(0)
	clk.Set(0.05)
	if !m.Ban(r1, errors.New("connection refused")) {
		t.Fatal("ban refused")
	}
	if m.Ban(r1, errors.New("again")) {
		t.Error("second ban during the backoff took effect")
	}
	st, _ := m.State(r1)
	if !st.Banned || !st.BannedUntil.Equal(sec(1.05)) || st.Bans != 1 || m.Eligible(r1, 0, 0) {
		t.Fatalf("after ban: %+v", st)
	}
	// Polls succeed during the backoff: still banned.
	for s := 0.1; s < 1.0; s += 0.1 {
		good(s)
	}
	if m.Eligible(r1, 0, 0) {
		t.Error("eligible during the backoff")
	}
	// The first successful poll started after the backoff rejoins it.
	good(1.1)
	if st, _ := m.State(r1); st.Banned || !m.Eligible(r1, 0, 0) {
		t.Errorf("not rejoined: %+v", st)
	}
	if m.Ban(NodeID{7, "nope"}, nil) {
		t.Error("ban of an unknown node")
	}
}

func TestNewMonitorValidates(t *testing.T) {
	for name, nodes := range map[string][]NodeSpec{
		"duplicate":     {{ID: p0, Role: RolePrimary, Dial: refuse}, {ID: p0, Role: RoleReplica, Dial: refuse}},
		"two primaries": {{ID: p0, Role: RolePrimary, Dial: refuse}, {ID: r1, Role: RolePrimary, Dial: refuse}},
		"no primary":    {{ID: r1, Role: RoleReplica, Dial: refuse}},
		"no role":       {{ID: p0, Dial: refuse}},
		"bad dsn":       {{ID: p0, Role: RolePrimary, DSN: "postgres://u:secret@h:notaport/db"}},
	} {
		_, err := NewMonitor(nodes, Options{})
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
	m, err := NewMonitor([]NodeSpec{{ID: p0, Role: RolePrimary, DSN: "host=127.0.0.1 port=1 user=u dbname=d sslmode=disable"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o := m.Options(); o.Interval != 250*time.Millisecond || o.Timeout != time.Second || o.StaleAfter != 500*time.Millisecond ||
		o.BanBase != time.Second || o.BanMax != 30*time.Second || o.History != 1200 {
		t.Errorf("defaults: %+v", o)
	}
}

// TestRunStopsWithContext: pollers of unreachable nodes keep the nodes
// Unknown, retry with backoff, and all stop when the context ends.
func TestRunStopsWithContext(t *testing.T) {
	var dials atomic.Int64
	dial := func(ctx context.Context) (*pgconn.PgConn, error) {
		dials.Add(1)
		return nil, errors.New("refused")
	}
	m, err := NewMonitor([]NodeSpec{
		{ID: p0, Role: RolePrimary, Dial: dial},
		{ID: r1, Role: RoleReplica, Dial: dial},
	}, Options{Interval: 10 * time.Millisecond, ReconnectMax: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	time.Sleep(300 * time.Millisecond)
	for _, s := range m.Snapshot() {
		if s.Healthy || s.Err == nil || !strings.Contains(s.Err.Error(), "refused") || s.LastAttempt.IsZero() {
			t.Errorf("%v: %+v", s.ID, s)
		}
	}
	// Backoff: 10, 20, 40, 40, ... ms: about 8 attempts per node in 300ms, not 30.
	if n := dials.Load(); n < 4 || n > 30 {
		t.Errorf("%d dials in 300ms for 2 nodes", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestParsePollRow(t *testing.T) {
	r, err := parsePollRow([][]byte{[]byte("f"), []byte("0/3000060"), nil, nil})
	if err != nil || r.inRecovery || r.current != 0x3000060 {
		t.Errorf("primary row: %+v, %v", r, err)
	}
	r, err = parsePollRow([][]byte{[]byte("t"), nil, []byte("1/10"), []byte("1/8")})
	if err != nil || !r.inRecovery || r.receive != 1<<32|0x10 || r.replay != 1<<32|8 {
		t.Errorf("replica row: %+v, %v", r, err)
	}
	for _, row := range [][][]byte{
		{[]byte("x"), nil, nil, nil},
		{[]byte("f"), nil, nil, nil},
		{[]byte("t"), nil, []byte("1/10"), nil},
		{[]byte("f"), []byte("zz"), nil, nil},
	} {
		if _, err := parsePollRow(row); err == nil {
			t.Errorf("row %q: no error", row)
		}
	}
}
