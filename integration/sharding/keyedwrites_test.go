package sharding_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestKeyedWritesMatchOnePostgres: writes that name their keys in the ways
// drivers bind them — a multi-row upsert of parameters, ANY of an array
// parameter, IN and OR lists, UPDATE ... FROM and DELETE ... USING a
// co-located table — and the archive pattern, a DELETE ... RETURNING in a
// WITH whose rows an INSERT ... SELECT writes on their own shard, each
// answer and table equal one PostgreSQL's in both protocols.
func TestKeyedWritesMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	writes := []swriteStep{
		{"INSERT INTO swrite (k, v, tag) VALUES ($1, $2, 'a'), ($3, $4, 'b') ON CONFLICT (k) DO UPDATE SET v = swrite.v + EXCLUDED.v RETURNING k, v", []any{int64(1), 5, int64(2000), 6}},
		{"UPDATE swrite SET v = v + 1 WHERE k = ANY($1) RETURNING k, v", []any{[]int64{3, 4, 5, 6, 7}}},
		{"DELETE FROM swrite WHERE k = ANY($1::bigint[]) AND v > $2 RETURNING k", []any{[]int64{8, 9, 10, 11}, 20}},
		{"WITH moved AS (DELETE FROM swrite_marks WHERE k = $1 RETURNING k, score) INSERT INTO swrite_marks (k, score) SELECT k, score + 1000 FROM moved RETURNING k, score", []any{int64(3)}},
		{"WITH moved AS (DELETE FROM swrite WHERE k IN ($1, $2) RETURNING *) INSERT INTO swrite_marks (k, score) SELECT k, v FROM moved", []any{int64(50), int64(51)}},
		{"UPDATE swrite SET tag = upper(tag) WHERE k IN ($1, $2, $3) AND tag LIKE $4 RETURNING k, tag", []any{int64(12), int64(13), int64(14), "t%"}},
		{"INSERT INTO swrite (k, v, tag) SELECT k + 10000, score, 'm' FROM swrite_marks WHERE k = $1 RETURNING k", []any{int64(6)}},
		{"UPDATE swrite s SET v = m.score FROM swrite_marks m WHERE m.k = s.k AND s.k = ANY($1) RETURNING s.k, s.v", []any{[]int64{9, 12, 15, 18}}},
		{"DELETE FROM swrite s USING swrite_marks m WHERE m.k = s.k AND m.score > $1 AND s.k IN (21, 24, 27, 30) RETURNING s.k", []any{10}},
		{"INSERT INTO swrite (k, v, tag) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING k", []any{int64(1), 1, "dup"}},
		{"INSERT INTO swrite_codes (code, hits) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET hits = swrite_codes.hits + $2 RETURNING code, hits", []any{"t1", 3}},
		{"UPDATE swrite SET v = v * 2 WHERE k = $1 OR k = $2 RETURNING k, v", []any{int64(40), int64(41)}},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement},
		writes, writeAnswer, nil)
}

// TestKeyedWritesInTransactions: the session's write shapes — a split
// multi-row MERGE, the archive pattern over several shards, a row IN list,
// a staged INSERT ... SELECT with untyped constants — in one transaction
// over several shards: ROLLBACK undoes all of them on every shard, COMMIT
// keeps all of them, as on one PostgreSQL.
func TestKeyedWritesInTransactions(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	for _, end := range []string{"ROLLBACK", "COMMIT"} {
		loadSwrite(ctx, t, through, ref)
		for _, c := range []*pgx.Conn{through, ref} {
			mustExec(ctx, t, c, "BEGIN",
				"MERGE INTO swrite w USING (VALUES (5), (6), (8002), (8003)) s(k) ON w.k = s.k WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.k, 0, 'x') WHEN MATCHED THEN UPDATE SET tag = 'seen'",
				"WITH moved AS (DELETE FROM swrite WHERE k IN (50, 51, 52) RETURNING *) INSERT INTO swrite_marks (k, score) SELECT k, v FROM moved",
				"UPDATE swrite SET v = -v WHERE (k, tag) IN ((1, 't1'), (2, 't2'), (3, 't3'))",
				"INSERT INTO swrite_events (k, at, payload) SELECT k + 9000, '2024-01-02', '{}' FROM swrite_marks WHERE score > 90",
				end)
		}
		sameTables(ctx, t, through, ref, end)
	}
}

// TestInsertManyValuesReturnsRowsInOrder: SQLAlchemy 2's "insertmanyvalues"
// batch, which sorts its VALUES by a counter so that RETURNING rows come
// back in the order of its parameters (it matches them to its objects by
// position), gets its rows in that order through pgshard too, the rows
// being on several shards, in every protocol mode.
func TestInsertManyValuesReturnsRowsInOrder(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	writes := []swriteStep{
		{"INSERT INTO swrite (k, v, tag) SELECT p0::BIGINT, p1::INTEGER, p2::VARCHAR FROM (VALUES ($1, $2, $3, 0), ($4, $5, $6, 1), ($7, $8, $9, 2), ($10, $11, $12, 3)) AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING swrite.k, swrite.k AS k__1, swrite.tag",
			[]any{int64(9001), 1, "a", int64(501), 2, "b", int64(7003), 3, "c", int64(602), 4, "d"}},
		{"INSERT INTO swrite (k, v, tag) SELECT p0::BIGINT, p1::INTEGER, p2::VARCHAR FROM (VALUES (8004, 5, 'e', 0), (403, 6, 'f', 1), (6005, 7, 'g', 2)) AS imp_sen(p0, p1, p2, sen_counter) ORDER BY sen_counter RETURNING swrite.k, swrite.v", nil},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement},
		writes, orderedAnswer, func() { placedKeys(ctx, t, "swrite") })
}
