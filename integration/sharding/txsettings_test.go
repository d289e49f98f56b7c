package sharding_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSettingsInTransactionsOverShards: a SET or SET LOCAL run inside a
// transaction holds on every shard the transaction reaches afterwards, as
// on one PostgreSQL; a committed SET outlives the transaction on every
// shard, a rolled-back one nowhere, and none leaks to another client.
func TestSettingsInTransactionsOverShards(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
			a := connect(t, p.DSN("app", "app-secret"))
			b := connect(t, p.DSN("app", "app-secret"))
			settings := func(conn interface {
				QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
			}, shard int) string {
				t.Helper()
				var v string
				q := fmt.Sprintf(`/* pgshard: shard=%d */ SELECT current_setting('application_name') || '|' || current_setting('statement_timeout') || '|' || current_setting('transaction_isolation')`, shard)
				if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			exec := func(qs ...string) {
				t.Helper()
				for _, q := range qs {
					if _, err := a.Exec(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
			}
			exec(`BEGIN ISOLATION LEVEL REPEATABLE READ`, `/* pgshard: shard=0 */ SELECT 1`,
				`SET LOCAL application_name = 'local-x'`, `SET statement_timeout = '7s'`)
			for _, n := range []int{1, 2, 0} {
				if got := settings(a, n); got != "local-x|7s|repeatable read" {
					t.Errorf("in the transaction, shard %d: %q", n, got)
				}
			}
			exec(`COMMIT`)
			for n := range 3 {
				if got := settings(a, n); got != "|7s|read committed" {
					t.Errorf("after COMMIT, shard %d: %q, want the committed SET only", n, got)
				}
				if got := settings(b, n); got != "|0|read committed" {
					t.Errorf("another client, shard %d: %q", n, got)
				}
			}
			exec(`BEGIN`, `/* pgshard: shard=1 */ SELECT 1`, `SET statement_timeout = '9s'`, `/* pgshard: shard=2 */ SELECT 1`, `ROLLBACK`)
			for n := range 3 {
				if got := settings(a, n); got != "|7s|read committed" {
					t.Errorf("after ROLLBACK, shard %d: %q, want the SET undone", n, got)
				}
			}

			// set_config(..., false) is a SET: in a spread transaction it
			// holds on every shard, and is the client's once it commits.
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				exec(`BEGIN`, `/* pgshard: shard=0 */ SELECT 1`, `/* pgshard: shard=1 */ SELECT 1`)
				q, args := `SELECT set_config('statement_timeout', '8s', false)`, []any{mode}
				if mode == pgx.QueryExecModeCacheStatement {
					q, args = `SELECT set_config('statement_timeout', $1, false)`, []any{mode, "8s"}
				}
				if _, err := a.Exec(ctx, q, args...); err != nil {
					t.Fatal(err)
				}
				exec(`/* pgshard: shard=2 */ SELECT 1`)
				for n := range 3 {
					if got := settings(a, n); got != "|8s|read committed" {
						t.Errorf("%v: in the transaction after set_config, shard %d: %q", mode, n, got)
					}
				}
				exec(`COMMIT`)
				for n := range 3 {
					if got := settings(a, n); got != "|8s|read committed" {
						t.Errorf("%v: after COMMIT, shard %d: %q, want set_config's value", mode, n, got)
					}
					if got := settings(b, n); got != "|0|read committed" {
						t.Errorf("%v: another client, shard %d: %q", mode, n, got)
					}
				}
				exec(`SET statement_timeout = '7s'`)
			}

			// Pipelined in one batch (pgx's SendBatch, JDBC's executeBatch):
			// the SET LOCAL holds on the shard the batch reaches after it.
			tx, err := a.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			batch := &pgx.Batch{}
			batch.Queue(`/* pgshard: shard=0 */ SELECT 1`)
			batch.Queue(`SET LOCAL application_name = 'batch-x'`)
			batch.Queue(`/* pgshard: shard=1 */ SELECT current_setting('application_name')`)
			br := tx.SendBatch(ctx, batch)
			_, err1 := br.Exec()
			_, err2 := br.Exec()
			var name string
			err3 := br.QueryRow().Scan(&name)
			if err := br.Close(); err != nil || err1 != nil || err2 != nil || err3 != nil || name != "batch-x" {
				t.Errorf("a SET LOCAL pipelined before the batch reaches shard 1: %q (%v %v %v %v)", name, err1, err2, err3, err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSessionPoolingBeginWaitsForItsShard: in session pooling too, a
// transaction starts on the shard its first statement picks, not on the
// one the session happened to be on, so it stays on one shard and keeps
// savepoints (Django's atomic, Rails' requires_new) whichever shard the
// session used before.
func TestSessionPoolingBeginWaitsForItsShard(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "pool: {mode: session, size: 8, queue_timeout: 10s}")
	c := connect(t, p.DSN("app", "app-secret"))
	run := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	on := func(n int) string { return fmt.Sprintf("/* pgshard: shard=%d */ SELECT 1", n) }
	run(on(0), `BEGIN`, on(2), `SAVEPOINT s1`, on(2), `RELEASE SAVEPOINT s1`, `COMMIT`)
	// Through the extended protocol (pgjdbc sends BEGIN so), and pgx's own
	// transactions.
	run(on(1))
	if err := c.PgConn().ExecParams(ctx, "BEGIN", nil, nil, nil, nil).Read().Err; err != nil {
		t.Fatal(err)
	}
	run(on(2), `SAVEPOINT s2`, `ROLLBACK TO SAVEPOINT s2`, `COMMIT`)
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, on(0)); err != nil {
		t.Fatal(err)
	}
	nested, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		t.Fatalf("a savepoint in pgx's transaction: %v", err)
	}
	if err := nested.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A transaction that never reached a server ends as PostgreSQL's would,
	// failed ones included, and the session goes on.
	run(`BEGIN`, `COMMIT`, `BEGIN`, `ROLLBACK`)
	if _, err := c.Exec(ctx, "BEGIN; SELECT no_such_column", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("a bad statement succeeded")
	}
	var status string
	if err := c.QueryRow(ctx, "SELECT 1", pgx.QueryExecModeSimpleProtocol).Scan(new(int)); err == nil {
		t.Fatal("a statement in a failed transaction succeeded")
	}
	run(`ROLLBACK`)
	if err := c.QueryRow(ctx, "SELECT 'ok'", pgx.QueryExecModeSimpleProtocol).Scan(&status); err != nil || status != "ok" {
		t.Fatalf("after ROLLBACK: %q, %v", status, err)
	}
}

// TestSetBeforeTheFirstStatementStaysWithItsClient: a SET sent after
// BEGIN and before the transaction's first statement travels with the
// BEGIN to the shard the statement picks; once committed it is the
// client's on every shard, and the server connection, back in the pool,
// carries it to no other client.
func TestSetBeforeTheFirstStatementStaysWithItsClient(t *testing.T) {
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := ctxFor(t, time.Minute)
			p := startPgshard(t, "pool: {mode: transaction, size: 1, queue_timeout: 10s}")
			a := connect(t, p.DSN("app", "app-secret"))
			for _, q := range []string{"BEGIN", "SET statement_timeout = '7s'", "/* pgshard: shard=0 */ SELECT 1", "COMMIT"} {
				if _, err := a.Exec(ctx, q, mode); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			show := func(c *pgx.Conn, shard int) string {
				var v string
				if err := c.QueryRow(ctx, fmt.Sprintf("/* pgshard: shard=%d */ SELECT current_setting('statement_timeout')", shard), mode).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			for n := range 3 {
				if v := show(a, n); v != "7s" {
					t.Errorf("the client that committed the SET, shard %d: %s, want 7s", n, v)
				}
			}
			b := connect(t, p.DSN("app", "app-secret"))
			for n := range 3 {
				if v := show(b, n); v != "0" {
					t.Errorf("another client, shard %d: %s, want 0", n, v)
				}
			}
		})
	}
}
