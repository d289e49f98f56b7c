package sharding_test

import (
	"slices"
	"testing"
	"time"
)

// TestMergesThroughPgxStatementCache runs merged statements through pgx's
// default statement cache, which describes each statement first, then
// asks for results per column (binary where it can) and sends parameters
// in binary (int8 for count(*) > $1, int4 for $1::int). The shards return
// hidden columns too, in text; HAVING parameters are read as the type
// PostgreSQL infers. The answers must be one PostgreSQL's.
func TestMergesThroughPgxStatementCache(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	through, ref := loadedPair(ctx, t, startPgshard(t))
	for _, tc := range []struct {
		sql  string
		args []any
	}{
		{`SELECT avg(score), count(*) FROM users`, nil},
		{`SELECT country, round(avg(balance), 2), stddev(score), count(*)::int FROM users GROUP BY country ORDER BY sum(score) / count(*) DESC, 1 NULLS FIRST`, nil},
		{`SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > $1 ORDER BY 1`, []any{3}},
		{`SELECT country, count(*) FROM users WHERE score > $2 GROUP BY country HAVING count(*)::int >= $1::int ORDER BY 1 NULLS FIRST`, []any{40, 10}},
		{`SELECT country, sum(balance) FROM users GROUP BY country HAVING sum(balance) > $1 AND max(score) < $2 ORDER BY 1 NULLS FIRST`, []any{"20000.5", 100}},
		{`SELECT status FROM orders GROUP BY status HAVING count(*) > $1 OR $1 IS NULL ORDER BY 1`, []any{nil}},
	} {
		want, _ := queryRows(ctx, t, ref, tc.sql, tc.args...)
		got, _ := queryRows(ctx, t, through, tc.sql, tc.args...)
		if !slices.Equal(want, got) {
			t.Errorf("%s %v:\n got  %v\n want %v", tc.sql, tc.args, got, want)
		}
		if len(want) == 0 {
			t.Errorf("%s %v: the reference returns no rows; the test proves little", tc.sql, tc.args)
		}
	}
}
