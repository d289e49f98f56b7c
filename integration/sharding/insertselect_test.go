package sharding_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestInsertSelectStaysOnEachShard: INSERT ... SELECT into a sharded table,
// its key selected from a table sharded the same way, runs on every shard
// the SELECT needs, each inserting its own rows; other such INSERTs are
// staged. The same statements run
// on one PostgreSQL must leave the same table (and RETURNING the same
// rows), and every row must sit on the shard owning its key.
func TestInsertSelectStaysOnEachShard(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through, ref := loadedPair(ctx, t, p)
	execOnEach(ctx, t, []*pgx.Conn{through, ref}, `DROP TABLE IF EXISTS archive`,
		`CREATE TABLE archive (user_id bigint NOT NULL, order_id bigint NOT NULL, amount numeric(12,2), note text)`)

	type stmt struct {
		sql  string
		args []any
	}
	for _, st := range []stmt{
		{`INSERT INTO archive (user_id, order_id, amount, note) SELECT user_id, order_id, amount, 'big' FROM orders WHERE amount > 700`, nil},
		{`INSERT INTO archive (order_id, user_id, amount, note) SELECT o.order_id, u.user_id, o.amount, u.country FROM orders o JOIN users u ON u.user_id = o.user_id WHERE u.score < 5`, nil},
		{`INSERT INTO archive (user_id, order_id, amount, note) SELECT user_id, -1, sum(amount), 'total' FROM orders GROUP BY user_id HAVING count(*) > 4 RETURNING user_id, amount`, nil},
		{`INSERT INTO archive (user_id, order_id, note) SELECT user_id, order_id, status FROM orders WHERE user_id IN (3, 4, 5, 6) RETURNING *`, nil},
		{`INSERT INTO archive (user_id, order_id, amount) SELECT user_id, order_id, amount FROM orders WHERE amount < $1`, []any{20}},
		{`INSERT INTO archive (user_id, order_id, note) SELECT user_id, 0, name FROM users WHERE user_id = 42 ON CONFLICT DO NOTHING`, nil},
		// Rows that do not stay on their shards (a key computed otherwise,
		// a SELECT that needs merging): staged, each row sent to its key's
		// shard.
		{`INSERT INTO archive (user_id, order_id) SELECT score, 1 FROM users`, nil},
		{`INSERT INTO archive (user_id, order_id) SELECT user_id, 1 FROM orders ORDER BY amount, order_id LIMIT 3 RETURNING user_id`, nil},
		{`INSERT INTO archive (user_id, order_id) SELECT u.user_id, count(*) FROM users u GROUP BY u.country, u.user_id HAVING false UNION SELECT 1, 1`, nil},
	} {
		run := func(c *pgx.Conn) string {
			out, tag := queryRows(ctx, t, c, st.sql, st.args...)
			slices.Sort(out) // RETURNING follows the SELECT's order, which SQL leaves open
			return tag + "\n" + strings.Join(out, "\n")
		}
		if want, got := run(ref), run(through); want != got {
			t.Errorf("%s:\n PostgreSQL: %.300s\n pgshard:    %.300s", st.sql, want, got)
		}
	}
	contents := func(c *pgx.Conn) string {
		all, _ := queryRows(ctx, t, c, `SELECT user_id, order_id, amount, note FROM archive ORDER BY 1, 2, 3, 4`)
		return strings.Join(all, "\n")
	}
	if want, got := contents(ref), contents(through); want != got {
		t.Errorf("archive differs from PostgreSQL's (%d vs %d bytes)", len(want), len(got))
	}
	if n := len(placedKeys(ctx, t, "archive", "user_id")); n == 0 {
		t.Fatal("archive is empty on the shards")
	}
	// Without a column list the key's position is the servers' to tell.
	_, err := through.Exec(ctx, `INSERT INTO archive SELECT user_id, order_id, amount, status FROM orders`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Errorf("INSERT ... SELECT without a column list: %v, want 0A000", err)
	}
}
