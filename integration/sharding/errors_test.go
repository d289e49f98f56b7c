package sharding_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestErrorsMatchOnePostgres: statements that fail — unknown names, bad
// values (in the query, in Bind parameters, in a merged HAVING), a
// division by zero on a shard, a duplicate key, a subquery of several
// rows — fail through pgshard with PostgreSQL's SQLSTATE, and with its
// message except where pgshard itself reads the value as a shard key
// (its message then names the key), and the session goes on.
func TestErrorsMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through, direct := loadedPair(ctx, t, p)
	qs := []query{
		{sql: `SELECT nosuch FROM users`},
		{sql: `SELECT * FROM nosuch`},
		{sql: `SELECT user_id FROM users u JOIN orders o USING (user_id) WHERE amount = 'x'`},
		{sql: `SELECT 1 / (score - score) FROM users`},
		{sql: `SELECT sum(1 / (score - score)) FROM users`},
		{sql: `SELECT * FROM users WHERE user_id = $1`, args: []string{"abc"}},
		{sql: `SELECT * FROM users WHERE user_id = ANY($1::bigint[])`, args: []string{"{1,x}"}},
		{sql: `SELECT count(*) FROM users GROUP BY nosuch`},
		{sql: `SELECT name, count(*) FROM users`},
		{sql: `SELECT * FROM users ORDER BY 42`},
		{sql: `INSERT INTO users (user_id, name) VALUES (1, 'dup')`},
		{sql: `INSERT INTO users (user_id) VALUES (999999)`},
		{sql: `UPDATE users SET score = 'x' WHERE user_id = 5`},
		{sql: `SELECT * FROM users LIMIT -1`},
		{sql: `SELECT * FROM users WHERE user_id = 1 FOR UPDATE OF nosuch`},
		{sql: `SELECT (SELECT user_id FROM users) `},
		{sql: `SELECT country, count(*) FROM users GROUP BY 1 HAVING count(*) > 'x'`},
	}
	for i, q := range qs {
		_, werr := run(ctx, direct, q)
		_, gerr := run(ctx, through, q)
		var we, ge *pgconn.PgError
		if !errors.As(werr, &we) {
			t.Errorf("query %d: reference: %v", i, werr)
			continue
		}
		keyValue := q.args != nil // a Bind value pgshard reads as a key
		if !errors.As(gerr, &ge) || ge.Code != we.Code || ge.Message != we.Message && !keyValue {
			t.Errorf("query %d %s: got %v, want %s %s", i, q.sql, gerr, we.Code, we.Message)
		}
		if _, err := run(ctx, through, query{sql: "SELECT 1"}); err != nil {
			t.Fatalf("session broken: %v", err)
		}
	}
}
