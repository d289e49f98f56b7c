package monitor_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pgshard/pgshard/shard"
)

const mb = 1 << 20

// TestSteadyState: both replicas become eligible within a few intervals; on
// an idle primary their lag in time is 0, not the time since the last write.
func TestSteadyState(t *testing.T) {
	m := startMonitor(t)
	r1, r2 := id(c.Shards[0].Replicas[0]), id(c.Shards[0].Replicas[1])
	took := within(t, 2*time.Second, "both replicas eligible", func() bool {
		return m.Eligible(r1, mb, time.Second) && m.Eligible(r2, mb, time.Second)
	})
	t.Logf("eligible after %v", took)

	p, _ := m.State(id(c.Shards[0].Primary))
	if !p.Healthy || p.Role != shard.RolePrimary || p.RoleMismatch || p.InRecovery || p.CurrentLSN == 0 {
		t.Errorf("primary: %+v", p)
	}
	// Idle: nothing is written by the test. Lag in time stays under 1s for
	// 2s of observation (background WAL such as a checkpoint can give one
	// interval's worth) and is exactly 0 most of the time.
	time.Sleep(500 * time.Millisecond)
	zero, samples := 0, 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, r := range []shard.NodeID{r1, r2} {
			st, _ := m.State(r)
			if !st.Healthy || !st.LagKnown || st.Role != shard.RoleReplica || st.RoleMismatch {
				t.Fatalf("%v: %+v", r, st)
			}
			if st.LagTime >= time.Second || st.LagBytes > 64*1024 {
				t.Errorf("%v on an idle primary: lag %v, %d bytes", r, st.LagTime, st.LagBytes)
			}
			samples++
			if st.LagTime == 0 {
				zero++
			}
		}
	}
	t.Logf("idle primary: lag time 0 in %d of %d samples", zero, samples)
	if zero < samples/2 {
		t.Errorf("idle primary: lag time 0 in only %d of %d samples", zero, samples)
	}
}

// TestPausedReplayLags: a replica whose replay is paused falls behind in
// bytes and time while the primary writes, and leaves the read rotation; the
// other replica stays in it; after resuming it comes back.
func TestPausedReplayLags(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	m := startMonitor(t)
	rep1, rep2 := c.Shards[0].Replicas[0], c.Shards[0].Replicas[1]
	r1, r2 := id(rep1), id(rep2)
	within(t, 2*time.Second, "both eligible", func() bool { return m.Eligible(r1, mb, time.Second) && m.Eligible(r2, mb, time.Second) })

	if err := rep1.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep1.ResumeReplay(ctxFor(t, 30*time.Second)) })

	writeWAL(t, ctx)
	time.Sleep(3 * interval)
	s1, _ := m.State(r1)
	writeWAL(t, ctx)
	time.Sleep(3 * interval)
	s2, _ := m.State(r1)
	t.Logf("paused replica: %d bytes / %v, then %d bytes / %v", s1.LagBytes, s1.LagTime, s2.LagBytes, s2.LagTime)
	if !s1.LagKnown || !s2.LagKnown || s2.LagBytes <= s1.LagBytes || s2.LagTime <= s1.LagTime || s1.LagBytes <= 0 {
		t.Errorf("lag did not grow: %+v then %+v", s1, s2)
	}
	if s2.ReceiveLSN <= s2.ReplayLSN {
		t.Errorf("paused replica should still receive WAL: receive %v replay %v", s2.ReceiveLSN, s2.ReplayLSN)
	}
	// Cross-check the bytes with the harness's own measure, taken after:
	// it can only be the same or larger.
	if lb, err := rep1.LagBytes(ctx); err != nil || lb < s2.LagBytes {
		t.Errorf("harness lag %d (%v) < monitor lag %d", lb, err, s2.LagBytes)
	}
	if m.Eligible(r1, mb, 0) {
		t.Error("paused replica eligible under maxBytes=1MB")
	}
	within(t, 2*time.Second, "paused replica over maxLag=1s", func() bool { return !m.Eligible(r1, 0, time.Second) })
	within(t, 2*time.Second, "other replica eligible", func() bool { return m.Eligible(r2, mb, time.Second) })

	if err := rep1.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	took := within(t, 5*time.Second, "resumed replica eligible", func() bool { return m.Eligible(r1, mb, time.Second) })
	t.Logf("eligible again %v after resume", took)
}

// TestReplayedPast: after a write, a streaming replica has replayed past the
// primary's LSN within a second; a paused one has not.
func TestReplayedPast(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	m := startMonitor(t)
	rep1, rep2 := c.Shards[0].Replicas[0], c.Shards[0].Replicas[1]
	r1, r2 := id(rep1), id(rep2)
	within(t, 2*time.Second, "both eligible", func() bool { return m.Eligible(r1, mb, time.Second) && m.Eligible(r2, mb, time.Second) })
	if err := rep1.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rep1.ResumeReplay(ctxFor(t, 30*time.Second)) })

	if err := c.Shards[0].Primary.Exec(ctx, `CREATE TABLE IF NOT EXISTS ryw (v int); INSERT INTO ryw VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	lsn := primaryLSN(t, ctx)
	took := within(t, time.Second, "healthy replica replayed past the write", func() bool { return m.ReplayedPast(r2, lsn) })
	t.Logf("replica 2 replayed past %v after %v", lsn, took)
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if m.ReplayedPast(r1, lsn) {
			t.Fatal("paused replica reported as replayed past the write")
		}
	}
	if err := rep1.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "resumed replica replayed past the write", func() bool { return m.ReplayedPast(r1, lsn) })
}

// TestKilledReplica: a killed replica is unknown and not eligible, never
// healthy, while it is down; it is healthy and eligible again after it
// starts. A ban from the wire layer keeps it out until a poll after the
// backoff succeeds.
func TestKilledReplica(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	m := startMonitor(t)
	rep2 := c.Shards[0].Replicas[1]
	r1, r2 := id(c.Shards[0].Replicas[0]), id(rep2)
	within(t, 2*time.Second, "both eligible", func() bool { return m.Eligible(r1, mb, time.Second) && m.Eligible(r2, mb, time.Second) })

	if err := rep2.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = rep2.Start(ctxFor(t, time.Minute))
		}
	})
	// Kill returns once the container has exited; the monitor notices within
	// a poll (broken connection) or at worst StaleAfter.
	took := within(t, 2*interval+time.Second, "killed replica unknown", func() bool {
		st, _ := m.State(r2)
		return st.Unknown && !st.Healthy
	})
	t.Logf("killed replica unknown %v after Kill returned", took)
	m.Ban(r2, errors.New("connection refused")) // what the wire layer would do
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		st, _ := m.State(r2)
		if st.Healthy || !st.Unknown || m.Eligible(r2, 0, 0) || m.ReplayedPast(r2, 0) {
			t.Fatalf("down replica looks usable: %+v", st)
		}
		if st.Err == nil {
			t.Fatalf("down replica has no error: %+v", st)
		}
	}
	if !m.Eligible(r1, mb, time.Second) {
		t.Error("the other replica left the rotation")
	}

	start := time.Now()
	if err := rep2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true
	took = within(t, 30*time.Second, "restarted replica healthy and eligible", func() bool {
		st, _ := m.State(r2)
		return st.Healthy && !st.Banned && m.Eligible(r2, mb, time.Second)
	})
	t.Logf("restarted replica eligible %v after Start returned (Start took %v)", took, time.Since(start)-took)
	if err := c.Shards[0].WaitStreaming(ctx); err != nil {
		t.Fatal(err)
	}
}
