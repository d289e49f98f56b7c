package sharding_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCopyOfQueriesMatchesOnePostgres: COPY (query) TO STDOUT of the
// session's new shapes — a report view, aggregates pgshard does not merge,
// a row IN list, a CTE co-located through its key — writes what one
// PostgreSQL writes, in text and CSV.
func TestCopyOfQueriesMatchesOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn, ref := loadedPair(ctx, t, p)
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_copy_stats", "CREATE VIEW v_copy_stats AS SELECT country, count(*) AS n FROM users GROUP BY country")
	defer execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_copy_stats")
	for _, q := range []string{
		"COPY (SELECT * FROM v_copy_stats ORDER BY 1) TO STDOUT",
		"COPY (SELECT bit_xor(score), bit_or(score) FROM users) TO STDOUT (FORMAT csv)",
		"COPY (SELECT user_id, order_id FROM orders WHERE (user_id, order_id) IN ((3, 1), (5, 9)) ORDER BY 1) TO STDOUT",
		"COPY (WITH x AS (SELECT user_id FROM users WHERE score > 90) SELECT count(*) FROM x JOIN orders USING (user_id)) TO STDOUT",
	} {
		var want, got bytes.Buffer
		_, werr := ref.PgConn().CopyTo(ctx, &want, q)
		_, gerr := conn.PgConn().CopyTo(ctx, &got, q)
		if werr != nil || gerr != nil || want.String() != got.String() {
			t.Errorf("%s: got %q %v, want %q %v", q, got.String(), gerr, want.String(), werr)
		}
	}
}
