package sharding_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestUserDefinedAggregatesMatchOnePostgres: an aggregate created through
// pgshard (on every shard, as DDL) is known as one from the next
// statement on: a read over every shard that calls it is answered from
// the table's rows pulled up to one shard, as one PostgreSQL answers it,
// not with one row per shard. A statement prepared while the name was a
// plain function is planned again.
func TestUserDefinedAggregatesMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn, ref := loadedPair(ctx, t, p)
	drop := []string{"DROP AGGREGATE IF EXISTS agg_total(int)", "DROP FUNCTION IF EXISTS agg_total(int)"}
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, drop...)
	t.Cleanup(func() { execOnEach(ctxFor(t, 30*time.Second), t, []*pgx.Conn{conn, ref}, drop...) })

	// First a plain function of that name: one row per row, concatenated.
	const perRow = "SELECT agg_total(score) FROM users WHERE score > $1"
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "CREATE FUNCTION agg_total(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1'")
	count := func(c *pgx.Conn) int {
		t.Helper()
		rows, err := c.Query(ctx, perRow, pgx.QueryExecModeCacheStatement, 50)
		if err != nil {
			t.Fatalf("%s: %v", perRow, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", perRow, err)
		}
		return n
	}
	if got, want := count(conn), count(ref); got != want || want < 2 {
		t.Fatalf("agg_total as a plain function: %d rows, want %d (more than 1)", got, want)
	}

	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP FUNCTION agg_total(int)",
		"CREATE AGGREGATE agg_total(int) (sfunc = int4pl, stype = int4)")
	if got, want := count(conn), count(ref); got != want || want != 1 {
		t.Errorf("the statement prepared before, now an aggregate: %d rows, want %d", got, want)
	}
	for _, sql := range []string{
		"SELECT agg_total(score) FROM users",
		"SELECT country, agg_total(score) FROM users GROUP BY country ORDER BY 1 NULLS FIRST",
		"SELECT status, agg_total(amount::int) FROM orders GROUP BY status HAVING count(*) > 1 ORDER BY 1",
		"SELECT user_id FROM users WHERE score * 100 > (SELECT agg_total(score) FROM users) / 10 ORDER BY 1",
		"SELECT agg_total(score) FROM users WHERE user_id = 42",
	} {
		if want, got := textRows(ctx, t, ref, sql), textRows(ctx, t, conn, sql); want != got {
			t.Errorf("%s:\n got %s\nwant %s", sql, got, want)
		}
	}
}
