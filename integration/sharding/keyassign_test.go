package sharding_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/shard"
)

// TestKeyAssignmentsMatchOnePostgres: writes that set the shard key as
// ORMs write them — every column of an UPDATE, an upsert's SET k =
// EXCLUDED.k, a MERGE's SET k = s.k, UPDATE ... FROM a co-located table —
// and a key changed to another value of the same shard, each answer and
// table equal one PostgreSQL's in three protocol modes, and every row
// stays on the shard that owns its key. A key that another shard owns
// moves the row there in an UPDATE (keymove_test.go); in ON CONFLICT DO
// UPDATE, or as an expression, it is refused (0A000) before anything
// runs.
func TestKeyAssignmentsMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	m := shard.EqualMap(len(sharded.Shards))
	// A key above the loaded ones (1..300) on the shard of k, and one on
	// another shard.
	onShardOf := func(k int64, same bool, not ...int64) int64 {
		for c := int64(1000); ; c++ {
			if (m.Lookup(shard.HashInt(c)) == m.Lookup(shard.HashInt(k))) == same && !slices.Contains(not, c) {
				return c
			}
		}
	}
	near7, near8 := onShardOf(7, true), onShardOf(8, true)
	writes := []swriteStep{
		{"UPDATE swrite SET k = $1, v = $2, tag = $3 WHERE k = $1 RETURNING k, v, tag", []any{int64(4), 44, "orm"}},
		{"INSERT INTO swrite (k, v, tag) VALUES ($1, $2, $3), ($4, $5, $6) ON CONFLICT (k) DO UPDATE SET k = EXCLUDED.k, v = EXCLUDED.v, tag = EXCLUDED.tag RETURNING k, v, tag",
			[]any{int64(5), 55, "up", int64(5000), 50, "new"}},
		{"UPDATE swrite SET k = $1 WHERE k = $2 RETURNING k, v", []any{near7, int64(7)}},
		{"UPDATE swrite s SET k = m.k, v = m.score FROM swrite_marks m WHERE s.k = m.k AND s.k = $1 RETURNING s.k, s.v", []any{int64(6)}},
		{"MERGE INTO swrite w USING (VALUES ($1::bigint, $2::int)) s(k, v) ON w.k = s.k WHEN MATCHED THEN UPDATE SET k = s.k, v = s.v WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.k, s.v, 'm')",
			[]any{int64(9), 99}},
		{"INSERT INTO swrite (k, v, tag) VALUES ($1, 0, 'c') ON CONFLICT (k) DO UPDATE SET k = $2 RETURNING k, v, tag", []any{int64(8), near8}},
		{"UPDATE swrite SET (tag, k) = ('pair', 10) WHERE k = 10 RETURNING k, tag", nil},
		{"UPDATE swrite SET k = $1 WHERE k = $2 RETURNING k, v", []any{onShardOf(12, false), int64(12)}},
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement}
	matchWrites(ctx, t, through, ref, modes, writes, writeAnswer, func() {
		placedKeys(ctx, t, "swrite")
	})

	loadSwrite(ctx, t, through, ref)
	far := onShardOf(11, false)
	for _, mode := range modes {
		for _, w := range []swriteStep{
			{"INSERT INTO swrite (k, v, tag) VALUES ($2, 0, 'c') ON CONFLICT (k) DO UPDATE SET k = $1", []any{far, int64(11)}},
			{"UPDATE swrite SET k = k + 1 WHERE k = $1", []any{int64(11)}},
		} {
			if got := writeAnswer(ctx, through, mode, w.sql, w.args...); got != "ERROR 0A000" {
				t.Errorf("%v: %s %v: %s, want ERROR 0A000 (the row would leave the shard owning its key)", mode, w.sql, w.args, got)
			}
		}
	}
	sameTables(ctx, t, through, ref, "the refused key changes")
	placedKeys(ctx, t, "swrite")
}
