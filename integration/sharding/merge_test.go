package sharding_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestMergeIntoShardedTableMatchesOnePostgres: MERGE into a sharded table
// whose source is co-located (joined on the shard key) runs on every shard
// the source needs, each merging its own rows, atomically; one whose
// source is the same on every shard (a reference table, VALUES) and that
// inserts nothing does too, and one whose source is rows of values with
// constant or parameter keys is split by key like a multi-row INSERT. Command tag and tables equal one PostgreSQL's,
// in both protocols, and inserted rows sit on their keys' shards. A MERGE
// that would insert rows on another shard than their own, or join rows
// that may sit on different shards, is refused.
func TestMergeIntoShardedTableMatchesOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	merges := []swriteStep{
		// A key the join condition pins does not narrow an INSERT: every
		// source row it rejects is inserted, on every shard.
		{`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k AND m.k = 9 WHEN NOT MATCHED AND m.k > 300 THEN INSERT (k, v, tag) VALUES (m.k, m.score, 'nm')`, nil},
		{`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k
			WHEN MATCHED AND m.score > 50 THEN UPDATE SET v = m.score
			WHEN MATCHED THEN DELETE
			WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (m.k, m.score, 'merged')`, nil},
		{`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k AND m.k = $1 WHEN MATCHED THEN UPDATE SET tag = 'pinned'`, []any{int64(6)}},
		{`MERGE INTO swrite w USING (SELECT k, count(*) AS n, max(score) AS top FROM swrite_marks GROUP BY k) m ON w.k = m.k
			WHEN MATCHED AND m.top < 20 THEN UPDATE SET v = -m.n WHEN NOT MATCHED THEN DO NOTHING`, nil},
		{`MERGE INTO swrite w USING swrite_codes c ON w.tag = c.code WHEN MATCHED THEN UPDATE SET v = w.v + 1`, nil},
		{`MERGE INTO swrite w USING (VALUES (10, 'x'), (11, 'y'), (9999, 'z')) s(k, tag) ON w.k = s.k WHEN MATCHED THEN UPDATE SET tag = s.tag`, nil},
		// One row of values, pinned to its key (Hibernate's upsert): an
		// existing key is updated, a new one inserted on its shard.
		{`MERGE INTO swrite AS t USING (SELECT CAST($1 AS bigint) id, CAST($2 AS int) v) AS s ON (t.k = s.id)
			WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.id, s.v, 'up') WHEN MATCHED THEN UPDATE SET v = s.v`, []any{int64(5), 77}},
		{`MERGE INTO swrite AS t USING (SELECT CAST($1 AS bigint) id, CAST($2 AS int) v) AS s ON (t.k = s.id)
			WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.id, s.v, 'up') WHEN MATCHED THEN UPDATE SET v = s.v`, []any{int64(5005), 78}},
		{`MERGE INTO swrite t USING (VALUES (7007, 1)) s(id, v) ON t.k = s.id WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.id, s.v, 'vals') WHEN MATCHED THEN UPDATE SET tag = 'vals'`, nil},
		// Several rows of values (a batch upsert): split by key, each
		// shard merging its own rows, as a multi-row INSERT is.
		{`MERGE INTO swrite w USING (VALUES (5), (6), (8002), (8003)) s(k) ON w.k = s.k WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.k, 0, 'x') WHEN MATCHED THEN UPDATE SET tag = 'seen'`, nil},
		{`MERGE INTO swrite t USING (VALUES ($1::bigint, $2::int), ($3::bigint, $4::int), ($5::bigint, $6::int)) s(id, v) ON t.k = s.id
			WHEN MATCHED AND s.v > 11 THEN DELETE WHEN MATCHED THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.id, s.v, 'batch')`,
			[]any{int64(1), 10, int64(8101), 11, int64(2), 12}},
		// Fails on the shard holding k = 3 (division by zero; the first
		// MERGE kept that row) after the others merged: nothing is kept.
		{`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k WHEN MATCHED THEN UPDATE SET v = 100 / (m.k - 3)`, nil},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement},
		merges, writeAnswer, func() { placedKeys(ctx, t, "swrite") })
	for _, q := range []string{
		`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (m.k + 1, 0, 'x')`,
		`MERGE INTO swrite w USING (VALUES (5), (5 + 1)) s(k) ON w.k = s.k WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (s.k, 0, 'x')`,
		`MERGE INTO swrite w USING (VALUES (5)) s(k) ON w.k = s.k WHEN NOT MATCHED THEN INSERT (k, v, tag) VALUES (6, 0, 'x')`,
		`MERGE INTO swrite w USING swrite_marks m ON w.v = m.score WHEN MATCHED THEN DELETE`,
		`MERGE INTO swrite w USING swrite_marks m ON w.k = m.k WHEN MATCHED THEN UPDATE SET k = m.k + 1`,
	} {
		_, err := through.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: %v, want 0A000", q, err)
		}
	}
}
