package replicas_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

var pg *cluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 2, Replicas: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		os.Exit(1)
	}
	pg = c
	code := m.Run()
	if err := c.Terminate(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "terminate cluster:", err)
		code = 1
	}
	os.Exit(code)
}

// startPgshard runs pgshard over the cluster with rw sharded by k; reads
// is the reads: section's body.
func startPgshard(t testing.TB, reads string) *pgshardtest.Proxy {
	return startPgshardWith(t, reads, "")
}

// startPgshardWith is startPgshard with more pool settings ("key: value,
// ...").
func startPgshardWith(t testing.TB, reads, pool string) *pgshardtest.Proxy {
	return pgshardtest.Start(t, func(listen string) string {
		return fmt.Sprintf(`listen: %s
pool: {size: 10, queue_timeout: 10s, %s}
monitor: {interval: 100ms, timeout: 1s, ban_base: 500ms, ban_max: 2s}
reads: {%s}
users:
  - name: app
    password: app-secret
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
    sharding:
      tables:
        - {name: rw, key: k}
%s`, listen, pool, reads, cluster.Password, pgshardtest.ShardsYAML(pg))
	})
}

func connect(t testing.TB, dsn string) *pgx.Conn { return pgshardtest.Connect(t, dsn) }

func ctxFor(t testing.TB, d time.Duration) context.Context { return pgshardtest.Context(t, d) }

// servedBy runs a read that names the node answering it (the harness sets
// cluster_name to the node name).
func servedBy(ctx context.Context, conn *pgx.Conn, sql string, args ...any) (string, error) {
	var node string
	err := conn.QueryRow(ctx, sql, args...).Scan(&node)
	return node, err
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// resetTable recreates rw through pgshard and waits until every replica
// has it.
func resetTable(ctx context.Context, t *testing.T, conn *pgx.Conn) {
	t.Helper()
	for _, q := range []string{`DROP TABLE IF EXISTS rw`, `CREATE TABLE rw (k bigint PRIMARY KEY, v int NOT NULL)`} {
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := conn.Exec(qctx, q)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", q, err, whoHoldsRW(t))
		}
	}
	for _, sh := range pg.Shards {
		for _, r := range sh.Replicas {
			waitFor(t, 10*time.Second, "rw on "+r.Name, func() bool {
				c, err := r.Connect(ctx)
				if err != nil {
					return false
				}
				defer c.Close(ctx)
				var ok bool
				return c.QueryRow(ctx, `SELECT to_regclass('rw') IS NOT NULL`).Scan(&ok) == nil && ok
			})
		}
	}
}

// whoHoldsRW describes, on every primary, the sessions and prepared
// transactions that hold or wait for locks on rw: what a DDL on rw that
// does not finish is waiting for.
func whoHoldsRW(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, sh := range pg.Shards {
		fmt.Fprintf(&b, "%s:\n", sh.Primary.Name)
		c, err := sh.Primary.Connect(ctx)
		if err != nil {
			fmt.Fprintf(&b, "  cannot connect: %v\n", err)
			continue
		}
		for _, q := range []string{
			`SELECT l.pid, l.mode, l.granted, coalesce(a.application_name, ''), coalesce(a.state, ''),
				coalesce(a.wait_event, ''), coalesce(left(a.query, 100), '') FROM pg_locks l
				LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = to_regclass('rw')`,
			`SELECT gid, prepared FROM pg_prepared_xacts`,
		} {
			rows, err := c.Query(ctx, q)
			if err != nil {
				fmt.Fprintf(&b, "  %v\n", err)
				continue
			}
			for rows.Next() {
				vals, _ := rows.Values()
				fmt.Fprintf(&b, "  %v\n", vals)
			}
			rows.Close()
		}
		_ = c.Close(ctx)
	}
	return b.String()
}
