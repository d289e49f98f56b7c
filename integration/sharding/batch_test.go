package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// A pipelined batch (pgx SendBatch, JDBC executeBatch: every Bind/Execute
// before one Sync) is one implicit transaction in PostgreSQL: it commits
// whole at Sync, or not at all. Through pgshard a batch whose writes reach
// several shards must keep that: a failure on any shard leaves no row of
// the batch anywhere. Each batch runs on pgshard and on one PostgreSQL,
// and the tables and errors must match.
func TestPipelinedBatchAcrossShardsIsAtomic(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			batchesAcrossShards(t, startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}"))
		})
	}
}

func batchesAcrossShards(t *testing.T, p *pgshardtest.Proxy) {
	ctx := ctxFor(t, 2*time.Minute)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	execOnEach(ctx, t, []*pgx.Conn{through, ref}, `DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint PRIMARY KEY, src text NOT NULL)`)
	k := keysOnShards(5000) // k[i] lives on shard i
	const ins = `INSERT INTO placed (k, src) VALUES ($1, $2)`
	const ins2 = `INSERT INTO placed (k, src) VALUES ($1, $2), ($3, $4)`
	type stmt struct {
		sql  string
		args []any
	}
	for _, tc := range []struct {
		name  string
		batch []stmt
	}{
		{"every shard, all succeed", []stmt{{ins, []any{k[0], "a"}}, {ins, []any{k[1], "a"}}, {ins, []any{k[2], "a"}}}},
		{"last shard fails", []stmt{{ins, []any{k[1] + 3, "b"}}, {ins, []any{k[2] + 3, "b"}}, {ins, []any{k[0], "dup"}}}},
		{"middle shard fails, rest skipped", []stmt{{ins, []any{k[0] + 7, "c"}}, {ins, []any{k[1], "dup"}}, {ins, []any{k[2] + 7, "c"}}}},
		{"back to the first shard, then fails", []stmt{{ins, []any{k[0] + 11, "d"}}, {ins, []any{k[1] + 11, "d"}},
			{`UPDATE placed SET src = 'd2' WHERE k = $1`, []any{k[0]}}, {ins, []any{k[2], "dup"}}}},
		{"reads then writes", []stmt{{`SELECT count(*) FROM placed WHERE k = $1`, []any{k[2]}}, {ins, []any{k[0] + 13, "e"}},
			{`UPDATE placed SET src = 'e2' WHERE k = $1`, []any{k[1]}}, {`SELECT src FROM placed WHERE k = $1`, []any{k[1]}}}},
		{"a failing statement's error, not a commit error", []stmt{{ins, []any{k[0] + 17, "f"}}, {`SELECT 1 / (k - k) FROM placed WHERE k = $1`, []any{k[1]}}}},
		{"a statement over several shards mid-batch, all succeed", []stmt{{ins, []any{k[0] + 29, "h"}}, {ins2, []any{k[1] + 29, "h", k[2] + 29, "h"}}, {ins, []any{k[0] + 31, "h"}}}},
		{"a statement over several shards mid-batch, then a failure", []stmt{{ins, []any{k[0] + 37, "i"}}, {ins2, []any{k[1] + 37, "i", k[2] + 37, "i"}}, {ins, []any{k[0], "dup"}}}},
		{"a read over several shards, then writes", []stmt{{`SELECT count(*) FROM placed WHERE k > $1`, []any{0}}, {ins, []any{k[0] + 43, "k"}}, {ins, []any{k[1] + 43, "k"}},
			{`SELECT count(*) FROM placed WHERE k > $1`, []any{0}}}},
		{"a write, then a read over several shards that sees it", []stmt{{ins, []any{k[0] + 47, "l"}}, {`SELECT count(*), max(k) FROM placed WHERE k > $1`, []any{0}},
			{ins, []any{k[1] + 47, "l"}}}},
		{"a statement over several shards first, then a failure", []stmt{{ins2, []any{k[0] + 41, "j", k[1] + 41, "j"}}, {ins, []any{k[2], "dup"}}}},
		// Still the batch's implicit transaction, not a block: refused.
		{"a savepoint after a statement over several shards", []stmt{{ins2, []any{k[1] + 59, "m", k[2] + 59, "m"}}, {`SAVEPOINT s`, nil}, {ins, []any{k[0] + 59, "m"}}}},
		{"a release after a statement over several shards", []stmt{{ins2, []any{k[1] + 61, "n", k[2] + 61, "n"}}, {`RELEASE SAVEPOINT s`, nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each statement's rows (what a read saw of the batch's own
			// writes) and the batch's outcome.
			run := func(c *pgx.Conn) string {
				b := &pgx.Batch{}
				var seen []string
				for _, st := range tc.batch {
					b.Queue(st.sql, st.args...).Query(func(rows pgx.Rows) error {
						for rows.Next() {
							vals, err := rows.Values()
							if err != nil {
								return err
							}
							seen = append(seen, fmt.Sprint(vals...))
						}
						return rows.Err()
					})
				}
				err := c.SendBatch(ctx, b).Close()
				var pe *pgconn.PgError
				switch {
				case errors.As(err, &pe):
					return pe.Code + " " + pe.Message + " after " + strings.Join(seen, "; ")
				case err != nil:
					t.Fatalf("batch: %v", err)
				}
				return "ok " + strings.Join(seen, "; ")
			}
			got, want := run(through), run(ref)
			if got != want {
				t.Errorf("batch outcome: pgshard %q, PostgreSQL %q", got, want)
			}
			if g, w := contents(ctx, t, through), contents(ctx, t, ref); g != w {
				t.Errorf("after the batch:\n pgshard:    %s\n PostgreSQL: %s", g, w)
			}
		})
	}
	// A BEGIN after a statement over several shards makes the batch's
	// implicit transaction a block: open at Sync, and undone by the
	// ROLLBACK that follows, the batch's first statements with it.
	for _, begin := range []string{"BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ"} {
		run := func(c *pgx.Conn) string {
			b := &pgx.Batch{}
			b.Queue(ins2, k[1]+67, "o", k[2]+67, "o")
			b.Queue(begin)
			b.Queue(ins, k[0]+67, "o")
			err := c.SendBatch(ctx, b).Close()
			status := c.PgConn().TxStatus()
			seen := "(failed)"
			if status == 'T' {
				seen = contents(ctx, t, c)
			}
			_, rerr := c.Exec(ctx, "ROLLBACK")
			return fmt.Sprintf("%v, status %c, ROLLBACK %v, inside: %s", err, status, rerr, seen)
		}
		if got, want := run(through), run(ref); got != want {
			t.Errorf("%s mid-batch:\n pgshard:    %s\n PostgreSQL: %s", begin, got, want)
		}
		if g, w := contents(ctx, t, through), contents(ctx, t, ref); g != w {
			t.Errorf("after %s mid-batch and ROLLBACK:\n pgshard:    %s\n PostgreSQL: %s", begin, g, w)
		}
	}
	if n := preparedLeft(ctx, t); n != 0 {
		t.Errorf("%d prepared transactions left on the shards", n)
	}
	// Each row sits on the shard that owns its key, and only there.
	placedKeys(ctx, t, "placed")
}

// contents lists placed's rows in key order.
func contents(ctx context.Context, t *testing.T, c *pgx.Conn) string {
	t.Helper()
	rows, err := c.Query(ctx, `SELECT k, src FROM placed ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var k int64
		var src string
		err := r.Scan(&k, &src)
		return fmt.Sprintf("%d:%s", k, src), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, " ")
}
