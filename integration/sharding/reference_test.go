package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestReferenceWritesAnswerOnce: a write to a reference table runs on every
// shard, yet the client gets what one PostgreSQL answers — the same
// command tag and RETURNING rows, once — and every shard holds the result.
// Writes that would let the copies drift apart, or write a sharded table
// outside its key, are refused.
func TestReferenceWritesAnswerOnce(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	mode := pgx.QueryExecModeSimpleProtocol
	answer := func(c *pgx.Conn, q string) string {
		out, tag := queryRows(ctx, t, c, q, mode)
		return tag + " " + strings.Join(out, "; ")
	}
	// Both protocols, each from the same start on both sides.
	for _, mode = range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		execOnEach(ctx, t, []*pgx.Conn{through, ref}, `DROP TABLE IF EXISTS countries`, `CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL)`,
			`INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany')`)
		for _, q := range []string{
			`INSERT INTO countries (code, name) VALUES ('zz', 'Z') RETURNING code, name`,
			`INSERT INTO countries (code, name) VALUES ('zz', 'Z') ON CONFLICT (code) DO NOTHING RETURNING code`,
			`UPDATE countries SET name = name || '!' WHERE code IN ('fr', 'de')`,
			`WITH u AS (UPDATE countries SET name = 'Zed' WHERE code = 'zz' RETURNING code, name) SELECT * FROM u`,
			`MERGE INTO countries c USING (VALUES ('de', 'Deutschland'), ('it', 'Italy')) v(code, name) ON c.code = v.code
			WHEN MATCHED THEN UPDATE SET name = v.name WHEN NOT MATCHED THEN INSERT VALUES (v.code, v.name)`,
			`DELETE FROM countries WHERE code = 'fr' RETURNING name`,
			`BEGIN`,
			`UPDATE countries SET name = upper(name) WHERE code = 'it' RETURNING name`,
			`INSERT INTO countries VALUES ('es', 'Spain') RETURNING code`,
			`COMMIT`,
			`SELECT code, name FROM countries ORDER BY code`,
		} {
			got, want := answer(through, q), answer(ref, q)
			if got != want {
				t.Errorf("%s (%v)\n through pgshard: %s\n one PostgreSQL:  %s", q, mode, got, want)
			}
		}
	}
	want := answer(ref, `SELECT code, name FROM countries ORDER BY code`)
	for i, sh := range sharded.Shards {
		if got := answer(connect(t, sh.Primary.DSN()), `SELECT code, name FROM countries ORDER BY code`); got != want {
			t.Errorf("shard %d holds %s, want %s", i, got, want)
		}
	}
	for _, q := range []string{
		`WITH d AS (DELETE FROM users RETURNING *) SELECT count(*) FROM d`,
		`MERGE INTO users u USING (VALUES (1), (1 + 1)) v(id) ON u.user_id = v.id WHEN NOT MATCHED THEN INSERT (user_id) VALUES (v.id)`,
		`WITH u AS (UPDATE countries SET name = 'x' RETURNING code) SELECT * FROM u JOIN users ON users.country = u.code`,
	} {
		_, err := through.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: %v, want 0A000", q, err)
		}
	}
}
