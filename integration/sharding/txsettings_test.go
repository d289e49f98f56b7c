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
		})
	}
}
