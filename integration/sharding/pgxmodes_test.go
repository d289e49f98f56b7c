package sharding_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRoutingShapesInPgxModes: a report view, an aggregate pgshard does
// not merge, a row IN list, a keyed CTE, a grouped LIMIT/OFFSET and
// Prisma's count() (a subquery's OFFSET parameter, 0 or not), each
// with parameters pgx binds in binary, answer as one PostgreSQL does in
// pgx's cached-statement, describe-exec and exec modes.
func TestRoutingShapesInPgxModes(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn, ref := loadedPair(ctx, t, p)
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_pgx_stats", "CREATE VIEW v_pgx_stats AS SELECT country, count(*) AS n FROM users GROUP BY country")
	defer execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_pgx_stats")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		for _, c := range []struct {
			sql  string
			args []any
		}{
			{"SELECT country, n FROM v_pgx_stats WHERE n > $1 ORDER BY country NULLS FIRST", []any{10}},
			{"SELECT bit_xor(score), count(*) FROM users WHERE score > $1", []any{10}},
			{"SELECT * FROM orders WHERE (user_id, order_id) IN (($1, $2), ($3, $4)) ORDER BY 1", []any{int64(3), int64(5), int64(7), int64(20)}},
			{"WITH x AS (SELECT user_id FROM users WHERE score > $1) SELECT count(*) FROM x JOIN orders USING (user_id)", []any{50}},
			{"SELECT country, count(*) FROM users GROUP BY 1 ORDER BY 2 DESC, 1 NULLS FIRST LIMIT $1 OFFSET $2", []any{3, 1}},
			{`SELECT COUNT(*) FROM (SELECT "public"."users"."user_id" FROM "public"."users" WHERE 1=1 OFFSET $1) AS "sub"`, []any{int64(0)}},
			{`SELECT COUNT(*) FROM (SELECT "public"."users"."user_id" FROM "public"."users" WHERE 1=1 OFFSET $1) AS "sub"`, []any{int64(4)}},
		} {
			get := func(cn *pgx.Conn) string {
				rows, err := cn.Query(ctx, c.sql, append([]any{mode}, c.args...)...)
				if err != nil {
					return err.Error()
				}
				vals, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) { v, err := r.Values(); return fmt.Sprint(v...), err })
				if err != nil {
					return err.Error()
				}
				return fmt.Sprint(vals)
			}
			if want, got := get(ref), get(conn); want != got {
				t.Errorf("%v %s:\n got %s\nwant %s", mode, c.sql, got, want)
			}
		}
	}
}
