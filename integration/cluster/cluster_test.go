package cluster_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgshard/pgshard/integration/cluster"
)

// shared is the package's cluster: 2 shards, each a primary and one replica.
// Tests that would leave it changed start their own.
var shared *cluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 2, Replicas: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		os.Exit(1)
	}
	fmt.Printf("cluster 2x(1+1) started in %s\n", time.Since(start).Round(100*time.Millisecond))
	shared = c
	code := m.Run()
	if err := c.Terminate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "terminate cluster:", err)
		code = 1
	}
	os.Exit(code)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every 100ms until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func count(ctx context.Context, t *testing.T, n *cluster.Node, sql string, args ...any) int64 {
	t.Helper()
	v, err := cluster.QueryValue[int64](ctx, n, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func mustExec(ctx context.Context, t *testing.T, n *cluster.Node, sql string, args ...any) {
	t.Helper()
	if err := n.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func TestTopologyIsStreamingWithLogicalWAL(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	if len(shared.Shards) != 2 {
		t.Fatalf("want 2 shards, got %d", len(shared.Shards))
	}
	for _, s := range shared.Shards {
		got, err := s.Primary.StreamingReplicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != s.Replicas[0].Name {
			t.Errorf("shard %d: streaming replicas %v, want [%s]", s.Index, got, s.Replicas[0].Name)
		}
		for _, n := range s.Nodes() {
			level, err := cluster.QueryValue[string](ctx, n, "SHOW wal_level")
			if err != nil {
				t.Fatal(err)
			}
			inRecovery, err := cluster.QueryValue[bool](ctx, n, "SELECT pg_is_in_recovery()")
			if err != nil {
				t.Fatal(err)
			}
			if level != "logical" {
				t.Errorf("%s: wal_level %q, want logical", n.Name, level)
			}
			if inRecovery != (n.Role() == cluster.RoleReplica) {
				t.Errorf("%s: pg_is_in_recovery=%v for role %s", n.Name, inRecovery, n.Role())
			}
			if !strings.HasPrefix(n.DSN(), "postgres://postgres:") || !strings.Contains(n.Addr(), "127.0.0.1:") {
				t.Errorf("%s: DSN %q is not a loopback libpq URL", n.Name, n.DSN())
			}
		}
	}
}

func TestWriteOnPrimaryAppearsOnItsReplicaOnly(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	s0, s1 := shared.Shards[0], shared.Shards[1]
	mustExec(ctx, t, s0.Primary, "CREATE TABLE carry (id int PRIMARY KEY, v text)")
	mustExec(ctx, t, s0.Primary, "INSERT INTO carry SELECT g, 'row ' || g FROM generate_series(1, 100) g")
	replica := s0.Replicas[0]
	waitFor(t, 10*time.Second, "100 rows on "+replica.Name, func() bool {
		n, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM carry")
		return err == nil && n == 100
	})
	// Shards are separate servers: nothing of shard 0 reaches shard 1.
	if n := count(ctx, t, s1.Primary, "SELECT count(*) FROM pg_class WHERE relname = 'carry'"); n != 0 {
		t.Fatalf("table of shard 0 visible on shard 1")
	}
	// A replica refuses writes.
	err := replica.Exec(ctx, "INSERT INTO carry VALUES (1000, 'x')")
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write on replica: got %v, want a read-only transaction error", err)
	}
}

func TestPausedReplayLagsAndResumeCatchesUp(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	s := shared.Shards[0]
	replica := s.Replicas[0]
	mustExec(ctx, t, s.Primary, "CREATE TABLE lagging (id int)")
	waitFor(t, 10*time.Second, "table on replica", func() bool {
		_, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM lagging")
		return err == nil
	})

	if err := replica.PauseReplay(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = replica.ResumeReplay(context.Background()) })
	mustExec(ctx, t, s.Primary, "INSERT INTO lagging SELECT generate_series(1, 1000)")
	lag1, err := replica.LagBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(ctx, t, s.Primary, "INSERT INTO lagging SELECT generate_series(1, 1000)")
	lag2, err := replica.LagBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lag1 <= 0 || lag2 <= lag1 {
		t.Fatalf("lag while paused: %d then %d bytes, want positive and growing", lag1, lag2)
	}
	if n := count(ctx, t, replica, "SELECT count(*) FROM lagging"); n != 0 {
		t.Fatalf("paused replica shows %d rows, want 0", n)
	}

	if err := replica.ResumeReplay(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "replica to catch up", func() bool {
		lag, err := replica.LagBytes(ctx)
		return err == nil && lag <= 0
	})
	if n := count(ctx, t, replica, "SELECT count(*) FROM lagging"); n != 2000 {
		t.Fatalf("caught-up replica shows %d rows, want 2000", n)
	}
}

func TestStopStartKeepsData(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	s := shared.Shards[1]
	mustExec(ctx, t, s.Primary, "CREATE TABLE durable (id int)")
	mustExec(ctx, t, s.Primary, "INSERT INTO durable SELECT generate_series(1, 500)")
	oldDSN := s.Primary.DSN()

	if err := s.Primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Primary.Ping(ctx); err == nil {
		t.Fatal("stopped primary still answers")
	}
	if err := s.Primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(ctx, t, s.Primary, "SELECT count(*) FROM durable"); n != 500 {
		t.Fatalf("after restart: %d rows, want 500", n)
	}
	t.Logf("DSN before stop %s, after start %s", oldDSN, s.Primary.DSN())
	// The replica reconnects to the restarted primary by itself.
	if err := s.WaitStreaming(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKilledNodeIsDownThenRestarts(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	s := shared.Shards[1]
	replica := s.Replicas[0]
	if err := replica.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if running, err := replica.Running(ctx); err != nil || running {
		t.Fatalf("killed node: running=%v err=%v", running, err)
	}
	if err := replica.Ping(ctx); err == nil {
		t.Fatal("killed node still answers")
	}
	if err := s.WaitStreamingGone(ctx, replica); err != nil {
		t.Fatal(err)
	}

	mustExec(ctx, t, s.Primary, "CREATE TABLE while_down (id int)")
	mustExec(ctx, t, s.Primary, "INSERT INTO while_down VALUES (1)")
	if err := replica.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitStreaming(ctx); err != nil {
		t.Fatal(err)
	}
	// Crash recovery then streaming bring the write made while it was down.
	waitFor(t, 20*time.Second, "write made while down to reach the restarted replica", func() bool {
		n, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM while_down")
		return err == nil && n == 1
	})
}

func TestCutReplicationStallsReplicaUntilHealed(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	s := shared.Shards[0]
	replica := s.Replicas[0]
	mustExec(ctx, t, s.Primary, "CREATE TABLE cut (id int)")
	waitFor(t, 10*time.Second, "table on replica", func() bool {
		_, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM cut")
		return err == nil
	})

	if err := replica.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	healed := false
	t.Cleanup(func() {
		if !healed {
			_ = replica.Reconnect(context.Background())
		}
	})
	mustExec(ctx, t, s.Primary, "INSERT INTO cut SELECT generate_series(1, 10)")
	// The primary notices the dead walsender within wal_sender_timeout.
	if err := s.WaitStreamingGone(ctx, replica); err != nil {
		t.Fatal(err)
	}
	// The host still reaches the replica, which has not seen the insert.
	if n := count(ctx, t, replica, "SELECT count(*) FROM cut"); n != 0 {
		t.Fatalf("cut-off replica shows %d rows, want 0", n)
	}
	if lag, err := replica.LagBytes(ctx); err != nil || lag <= 0 {
		t.Fatalf("cut-off replica lag %d (err %v), want > 0", lag, err)
	}

	if err := replica.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	healed = true
	if err := s.WaitStreaming(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "healed replica to catch up", func() bool {
		n, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM cut")
		return err == nil && n == 10
	})
}

func TestPromotedReplicaAcceptsWrites(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	// Promotion leaves two primaries: it gets a cluster of its own.
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 1, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Error(err)
		}
	})
	s := c.Shards[0]
	mustExec(ctx, t, s.Primary, "CREATE TABLE before_promote (id int)")
	mustExec(ctx, t, s.Primary, "INSERT INTO before_promote VALUES (1), (2)")
	replica := s.Replicas[0]
	waitFor(t, 10*time.Second, "rows on replica", func() bool {
		n, err := cluster.QueryValue[int64](ctx, replica, "SELECT count(*) FROM before_promote")
		return err == nil && n == 2
	})

	if err := replica.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if replica.Role() != cluster.RolePrimary {
		t.Fatalf("role after promote: %s", replica.Role())
	}
	if inRecovery, err := cluster.QueryValue[bool](ctx, replica, "SELECT pg_is_in_recovery()"); err != nil || inRecovery {
		t.Fatalf("promoted node in recovery=%v err=%v", inRecovery, err)
	}
	mustExec(ctx, t, replica, "INSERT INTO before_promote VALUES (3)")
	if n := count(ctx, t, replica, "SELECT count(*) FROM before_promote"); n != 3 {
		t.Fatalf("promoted node has %d rows, want 3", n)
	}
	if err := replica.PauseReplay(ctx); err == nil {
		t.Fatal("PauseReplay on a promoted node: want an error")
	}
}

func TestStartRejectsBadSpecAndMissingImage(t *testing.T) {
	ctx := ctxFor(t, 30*time.Second)
	if _, err := cluster.Start(ctx, cluster.Spec{Shards: 0}); err == nil {
		t.Fatal("zero shards: want an error")
	}
	_, err := cluster.Start(ctx, cluster.Spec{Shards: 1, Image: "pgshard.local/no-such-image:0"})
	if err == nil || !strings.Contains(err.Error(), "make image") {
		t.Fatalf("missing local image: got %v, want advice to run make image", err)
	}
}
