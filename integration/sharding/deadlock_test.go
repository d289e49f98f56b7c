package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestDeadlockAcrossShards: two transactions that each hold a row on one
// shard and wait for the other's row on another shard are a deadlock no
// server sees. pgshard finds it and fails the statement that closed the
// cycle with 40P01, as one PostgreSQL would, whether that statement runs
// on one shard or on several; the other transaction goes on and commits.
// A wait that is no cycle is left alone. With pools of two, the two
// transactions hold every pooled connection, and pgshard asks the servers
// over connections of its own.
func TestDeadlockAcrossShards(t *testing.T) {
	for _, pool := range []string{"{mode: transaction, size: 8", "{mode: session, size: 8", "{mode: transaction, size: 2"} {
		t.Run(pool+"}", func(t *testing.T) {
			ctx := ctxFor(t, 2*time.Minute)
			p := startPgshard(t, "pool: "+pool+", queue_timeout: 10s}", "two_phase: {deadlock_timeout: 500ms}")
			k := keysOnShards(97000)
			for name, closing := range map[string]string{
				"on one shard":      fmt.Sprintf("UPDATE txr SET v = v + 10 WHERE k = %d", k[1]),
				"on several shards": fmt.Sprintf("UPDATE txr SET v = v + 10 WHERE k IN (%d, %d)", k[1], k[2]),
			} {
				t.Run(name, func(t *testing.T) {
					deadlock(ctx, t, p, k, closing)
				})
			}
			t.Run("a wait without a cycle", func(t *testing.T) {
				a, b := prepareDeadlockTable(ctx, t, p, k)
				mustExec(ctx, t, a, "BEGIN", fmt.Sprintf("UPDATE txr SET v = 1 WHERE k = %d", k[0]))
				done := make(chan error, 1)
				go func() {
					_, err := b.Exec(ctx, fmt.Sprintf("UPDATE txr SET v = 2 WHERE k = %d", k[0]))
					done <- err
				}()
				time.Sleep(2 * time.Second) // four detection rounds see b wait for a
				mustExec(ctx, t, a, "COMMIT")
				if err := <-done; err != nil {
					t.Fatalf("the waiting UPDATE: %v", err)
				}
			})
		})
	}
}

// deadlock makes a cycle: b holds k[1] and waits for k[0], which a holds;
// then a runs closing, which waits for k[1]. a's statement closed the
// cycle and must fail with 40P01; b then commits.
func deadlock(ctx context.Context, t *testing.T, p *pgshardtest.Proxy, k []int64, closing string) {
	a, b := prepareDeadlockTable(ctx, t, p, k)
	mustExec(ctx, t, a, "BEGIN", fmt.Sprintf("UPDATE txr SET v = v + 1 WHERE k = %d", k[0]))
	mustExec(ctx, t, b, "BEGIN", fmt.Sprintf("UPDATE txr SET v = v + 2 WHERE k = %d", k[1]))
	bDone := make(chan error, 1)
	go func() {
		_, err := b.Exec(ctx, fmt.Sprintf("UPDATE txr SET v = v + 2 WHERE k = %d", k[0]))
		bDone <- err
	}()
	time.Sleep(200 * time.Millisecond) // b waits first
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := a.Exec(wctx, closing)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "40P01" {
		t.Fatalf("the statement that closed the cycle: %v, want 40P01", err)
	}
	t.Logf("deadlock broken after %v: %s", time.Since(start).Round(time.Millisecond), pe.Detail)
	mustExec(ctx, t, a, "ROLLBACK")
	if err := <-bDone; err != nil {
		t.Fatalf("the other transaction's UPDATE: %v", err)
	}
	mustExec(ctx, t, b, "COMMIT")
	rows, _ := queryRows(ctx, t, a, "SELECT k, v FROM txr ORDER BY k")
	want := []string{fmt.Sprint(k[0], 2), fmt.Sprint(k[1], 2), fmt.Sprint(k[2], 0)}
	slices.Sort(want) // the keys have as many digits
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("after the deadlock: %v, want %v (b's updates only)", rows, want)
	}
}

// prepareDeadlockTable fills txr with a zero row for each key and returns
// two clients of p.
func prepareDeadlockTable(ctx context.Context, t *testing.T, p *pgshardtest.Proxy, k []int64) (a, b *pgx.Conn) {
	a, b = connect(t, p.DSN("app", "app-secret")), connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, a, "DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)",
		fmt.Sprintf("INSERT INTO txr VALUES (%d, 0), (%d, 0), (%d, 0)", k[0], k[1], k[2]))
	return a, b
}

func mustExec(ctx context.Context, t *testing.T, c *pgx.Conn, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
