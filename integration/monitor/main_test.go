package monitor_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/shard"
)

// One shard: s0_primary, s0_replica1, s0_replica2. Tests leave it as they
// found it (replay resumed, nodes running).
var c *cluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if c, err = cluster.Start(ctx, cluster.Spec{Shards: 1, Replicas: 2}); err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := c.Terminate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "terminate cluster:", err)
		code = 1
	}
	os.Exit(code)
}

const interval = 100 * time.Millisecond

func id(n *cluster.Node) shard.NodeID {
	return shard.NodeID{Shard: shard.ShardID(n.Shard.Index), Name: n.Name}
}

// startMonitor runs a Monitor over the cluster for the test's duration. Dial
// reads the node's DSN on every connect: a restarted container gets a new
// published port.
func startMonitor(t *testing.T) *shard.Monitor {
	t.Helper()
	var specs []shard.NodeSpec
	for _, n := range c.Nodes() {
		role := shard.RoleReplica
		if n == n.Shard.Primary {
			role = shard.RolePrimary
		}
		specs = append(specs, shard.NodeSpec{ID: id(n), Role: role, Dial: func(ctx context.Context) (*pgconn.PgConn, error) {
			return pgconn.Connect(ctx, n.DSN())
		}})
	}
	m, err := shard.NewMonitor(specs, shard.Options{Interval: interval, Timeout: time.Second, BanBase: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("monitor did not stop")
		}
	})
	return m
}

// within polls cond every 20ms until it holds or d passes, and reports how
// long it took.
func within(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// writeWAL inserts about 1.5 MB of rows on the primary.
func writeWAL(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := c.Shards[0].Primary.Exec(ctx, `CREATE TABLE IF NOT EXISTS wal_filler (id bigserial, pad text)`); err != nil {
		t.Fatal(err)
	}
	if err := c.Shards[0].Primary.Exec(ctx, `INSERT INTO wal_filler (pad) SELECT repeat('x', 500) FROM generate_series(1, 2500)`); err != nil {
		t.Fatal(err)
	}
}

func primaryLSN(t *testing.T, ctx context.Context) shard.LSN {
	t.Helper()
	s, err := cluster.QueryValue[string](ctx, c.Shards[0].Primary, `SELECT pg_current_wal_lsn()::text`)
	if err != nil {
		t.Fatal(err)
	}
	l, err := shard.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
