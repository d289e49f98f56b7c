package sharding_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestViewsOfShardedTables: reads of a view that reads a sharded table,
// directly or through another view, are planned through its query and
// answer as one PostgreSQL does; a write through such a view and a
// materialized view of one are refused with 0A000 naming both (on the
// default shard they would see one shard's rows), while hinted
// statements, DDL on such views and views of default-shard tables work as
// before.
func TestViewsOfShardedTables(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn, ref := loadedPair(ctx, t, p)
	ddl := []string{
		"DROP VIEW IF EXISTS v_users_again", "DROP VIEW IF EXISTS v_users", "DROP MATERIALIZED VIEW IF EXISTS mv_users", "DROP VIEW IF EXISTS v_settings",
		"CREATE VIEW v_users AS SELECT user_id, name, country FROM users WHERE score > 20",
		"CREATE VIEW v_users_again AS SELECT * FROM v_users WHERE country IS NOT NULL",
		"CREATE VIEW v_settings AS SELECT * FROM settings",
		"DROP TABLE IF EXISTS users_child", "CREATE TABLE users_child () INHERITS (users)",
		"DROP VIEW IF EXISTS v_country_stats",
		"CREATE VIEW v_country_stats AS SELECT country, count(*) AS n, sum(balance) AS total, max(score) AS best FROM users GROUP BY country",
		"DROP VIEW IF EXISTS v_top_users",
		"CREATE VIEW v_top_users AS SELECT user_id, name, score FROM users ORDER BY score DESC, user_id LIMIT 20",
	}
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, ddl...)
	t.Cleanup(func() {
		execOnEach(ctxFor(t, 30*time.Second), t, []*pgx.Conn{conn, ref},
			"DROP VIEW IF EXISTS v_country_stats", "DROP VIEW IF EXISTS v_top_users", "DROP VIEW IF EXISTS v_users_again",
			"DROP VIEW IF EXISTS v_users", "DROP MATERIALIZED VIEW IF EXISTS mv_users", "DROP VIEW IF EXISTS v_settings",
			"DROP TABLE IF EXISTS users_child")
	})
	for _, sql := range []string{
		"SELECT count(*) FROM v_users",
		"SELECT * FROM v_users_again WHERE user_id = 42",
		"SELECT country, count(*) FROM v_users_again GROUP BY country ORDER BY 2 DESC, 1 LIMIT 5",
		"SELECT v.name, o.amount FROM v_users v JOIN orders o ON o.user_id = v.user_id ORDER BY 1, 2 LIMIT 10",
		"SELECT count(*) FROM users u WHERE u.user_id IN (SELECT user_id FROM v_users)",
		"SELECT * FROM v_settings ORDER BY k",
		// Views computed over all their rows (a report's GROUP BY, a top
		// list): their queries run first, merged, and the statement runs
		// over the rows.
		"SELECT * FROM v_country_stats ORDER BY country NULLS FIRST",
		"SELECT s.n, s.total FROM v_country_stats s WHERE s.country = 'fr'",
		"SELECT u.user_id, s.best FROM users u JOIN v_country_stats s ON s.country = u.country AND s.best = u.score ORDER BY 1",
		"SELECT u.user_id, u.score * 100 / s.best FROM users u JOIN v_country_stats s USING (country) WHERE u.user_id IN (3, 77, 140) ORDER BY 1",
		"SELECT count(*), min(score) FROM v_top_users",
		"SELECT t.name FROM v_top_users t JOIN orders o ON o.user_id = t.user_id WHERE o.amount > 100 ORDER BY 1",
	} {
		want, got := textRows(ctx, t, ref, sql), textRows(ctx, t, conn, sql)
		if want != got {
			t.Errorf("%s:\n got %s\nwant %s", sql, got, want)
		}
	}
	// A statement prepared while a view read no sharded table is planned
	// again once it does.
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_flip", "CREATE VIEW v_flip AS SELECT 0::bigint AS id FROM settings")
	t.Cleanup(func() { execOnEach(ctxFor(t, 30*time.Second), t, []*pgx.Conn{conn, ref}, "DROP VIEW IF EXISTS v_flip") })
	count := func(c *pgx.Conn) (n int64) {
		t.Helper()
		if err := c.QueryRow(ctx, "SELECT count(*) FROM v_flip WHERE id >= $1", pgx.QueryExecModeCacheStatement, 0).Scan(&n); err != nil {
			t.Fatalf("count through v_flip: %v", err)
		}
		return n
	}
	if got, want := count(conn), count(ref); got != want {
		t.Errorf("v_flip over settings: %d rows, want %d", got, want)
	}
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "CREATE OR REPLACE VIEW v_flip AS SELECT user_id AS id FROM users")
	if got, want := count(conn), count(ref); got != want {
		t.Errorf("the same prepared statement once v_flip reads users: %d rows, want %d", got, want)
	}
	// A cursor over a view, and its EXPLAIN, are planned through it too.
	for _, c := range []*pgx.Conn{conn, ref} {
		mustExec(ctx, t, c, "BEGIN", "DECLARE views_cur CURSOR FOR SELECT user_id, name FROM v_users ORDER BY user_id")
	}
	if want, got := textRows(ctx, t, ref, "FETCH 7 FROM views_cur"), textRows(ctx, t, conn, "FETCH 7 FROM views_cur"); want != got || want == "" {
		t.Errorf("a cursor over a view:\n got %s\nwant %s", got, want)
	}
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "COMMIT")
	if got := textRows(ctx, t, conn, "EXPLAIN SELECT count(*) FROM v_users"); !strings.Contains(got, "Shard ") {
		t.Errorf("EXPLAIN of a view's rows: %s, want every shard's plan", got)
	}
	// Tables and materialized views made from sharded tables' rows would
	// hold one shard's part on each shard.
	for _, sql := range []string{
		"CREATE MATERIALIZED VIEW mv_users AS SELECT count(*) AS n FROM users",
		"CREATE TABLE users_copy AS SELECT * FROM v_users",
		"SELECT * INTO users_copy FROM users WHERE user_id = 7",
	} {
		if _, err := conn.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "over sharded tables would create, on each shard, a table of that shard's rows only") {
			t.Errorf("%s: %v, want it refused", sql, err)
		}
	}
	// A child (or partition) of a sharded table holds each shard's rows
	// of it: refused by name.
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM users_child"); err == nil || !strings.Contains(err.Error(), "table users_child is a partition of sharded table users") {
		t.Errorf("a child of a sharded table: %v, want a refusal naming it and users", err)
	}
	for _, c := range []struct{ sql, view string }{
		{"UPDATE v_users SET name = 'x' WHERE user_id = 5", "v_users"},
		{"INSERT INTO v_users (user_id, name) VALUES (9999, 'x')", "v_users"},
		{"WITH gone AS (DELETE FROM v_users WHERE user_id = 5 RETURNING *) SELECT count(*) FROM gone", "v_users"},
	} {
		_, err := conn.Exec(ctx, c.sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "view "+c.view+" reads sharded table users") {
			t.Errorf("%s: %v, want 0A000 naming view %s and table users", c.sql, err, c.view)
		}
	}
	for _, sql := range []string{
		"CREATE OR REPLACE VIEW v_users AS SELECT user_id, name, country FROM users WHERE score > 30",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
	// The reference server's view as pgshard's now is.
	execOnEach(ctx, t, []*pgx.Conn{ref}, "CREATE OR REPLACE VIEW v_users AS SELECT user_id, name, country FROM users WHERE score > 30")
	// A write reading a report view: the view's rows staged, the write
	// on its keys' shards.
	const write = "UPDATE users SET score = s.best FROM v_country_stats s WHERE s.country = users.country AND users.user_id IN (3, 77, 140) RETURNING users.user_id, users.score"
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "BEGIN")
	sorted := func(rows string) string { // RETURNING rows come in each server's order
		lines := strings.Split(rows, "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if want, got := sorted(textRows(ctx, t, ref, write)), sorted(textRows(ctx, t, conn, write)); want != got || want == "" {
		t.Errorf("%s:\n got %s\nwant %s", write, got, want)
	}
	const after = "SELECT user_id, score FROM users WHERE user_id IN (3, 77, 140) ORDER BY 1"
	if want, got := textRows(ctx, t, ref, after), textRows(ctx, t, conn, after); want != got {
		t.Errorf("after the write:\n got %s\nwant %s", got, want)
	}
	// INSERT ... SELECT from views: the SELECT staged through the view,
	// its rows inserted on their keys' shards.
	for _, ins := range []string{
		"INSERT INTO orders (order_id, user_id, amount, status) SELECT 900000 + user_id, user_id, 1, 'from view' FROM v_users WHERE user_id < 40",
		"INSERT INTO orders (order_id, user_id, amount, status) SELECT 800000 + n * 1000 + ascii(s.country), 7, n, s.country FROM v_country_stats s WHERE s.country IS NOT NULL",
		"INSERT INTO orders (order_id, user_id, amount, status) SELECT 700000 + user_id, user_id, 2, 'returning' FROM v_users WHERE user_id BETWEEN 40 AND 60 RETURNING user_id, order_id",
	} {
		want, werr := ref.Exec(ctx, ins)
		got, gerr := conn.Exec(ctx, ins)
		if werr != nil || gerr != nil || want.String() != got.String() {
			t.Errorf("%s: got %v %v, want %v %v", ins, got, gerr, want, werr)
		}
	}
	const inserted = "SELECT user_id, order_id, amount, status FROM orders WHERE order_id >= 800000 ORDER BY 2"
	if want, got := textRows(ctx, t, ref, inserted), textRows(ctx, t, conn, inserted); want != got {
		t.Errorf("rows inserted from views:\n got %s\nwant %s", got, want)
	}
	execOnEach(ctx, t, []*pgx.Conn{conn, ref}, "ROLLBACK")
}

// textRows is a query's rows as text, one line per row.
func textRows(ctx context.Context, t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	res, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, row := range res[len(res)-1].Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte('|')
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.Write(v)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
