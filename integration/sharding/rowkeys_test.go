package sharding_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRowComparisonsOnTheKeyMatchOnePostgres: writes and reads that name
// rows by a row comparison including the shard key, as ORMs write
// composite keys ((k, score) = ($1, $2), (k, score) IN ((...), (...))),
// go to the shards of those keys — a write is no longer refused as
// keyless — and answer as one PostgreSQL does, in both protocols.
func TestRowComparisonsOnTheKeyMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	// swrite_marks holds (3g, 53g mod 97); swrite (g, 37g mod 101, 't' || g mod 5).
	writes := []swriteStep{
		{"UPDATE swrite_marks SET score = score + 1 WHERE (k, score) = ($1, $2) RETURNING k, score", []any{int64(3), 53}},
		{"DELETE FROM swrite_marks WHERE (k, score) IN ((6, 9), (9, 62), (300, 1)) RETURNING k", nil},
		{"UPDATE swrite SET v = 7 WHERE ROW(tag, k) = ROW('t0', 10) RETURNING k, v", nil},
		{"UPDATE swrite SET v = v + 1 WHERE (k, tag) = (11, 't0')", nil}, // no such row
		{"DELETE FROM swrite WHERE (k, v) = ($1, $2) OR (k, v) = ($3, $4) RETURNING k", []any{int64(1), 37, int64(2), 74}},
		{"SELECT k, v FROM swrite WHERE (k, v) IN ((4, 47), (5, 84), (6, 99))", nil},
		{"SELECT s.k, m.score FROM swrite s JOIN swrite_marks m ON (s.k, s.tag) = (m.k, 't' || (m.k % 5)) WHERE s.v > 50", nil},
		{"SELECT s.k, m.score FROM swrite s LEFT JOIN swrite_marks m ON (s.k, s.tag) = (m.k, 't' || (m.k % 5)) WHERE s.v > 90", nil},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement},
		writes, writeAnswer, nil)
}
