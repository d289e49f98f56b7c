package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// swriteTables are the tables of the staged-write tests, each with the
// query that shows its rows: swrite, swrite_marks and swrite_events
// sharded by k, swrite_codes a reference table, swrite_log on the default
// shard.
var swriteTables = []string{
	"SELECT * FROM swrite ORDER BY k",
	"SELECT * FROM swrite_marks ORDER BY k, score",
	"SELECT * FROM swrite_codes ORDER BY code",
	"SELECT * FROM swrite_log ORDER BY k",
	"SELECT * FROM swrite_events ORDER BY k",
}

// loadSwrite creates the staged-write tables afresh on each connection.
func loadSwrite(ctx context.Context, t *testing.T, conns ...*pgx.Conn) {
	t.Helper()
	execOnEach(ctx, t, conns,
		"DROP TABLE IF EXISTS swrite", "DROP TABLE IF EXISTS swrite_marks", "DROP TABLE IF EXISTS swrite_codes", "DROP TABLE IF EXISTS swrite_log",
		"DROP TABLE IF EXISTS swrite_events",
		"CREATE TABLE swrite_events (k bigint PRIMARY KEY, at date NOT NULL, payload jsonb, note text)",
		"CREATE TABLE swrite (k bigint PRIMARY KEY, v int NOT NULL, tag text NOT NULL)",
		"CREATE TABLE swrite_marks (k bigint NOT NULL, score int NOT NULL)",
		"CREATE TABLE swrite_codes (code text PRIMARY KEY, hits int NOT NULL)",
		"CREATE TABLE swrite_log (k bigint NOT NULL, note text)",
		"INSERT INTO swrite SELECT g, (g * 37) % 101, 't' || (g % 5) FROM generate_series(1, 300) g",
		"INSERT INTO swrite_marks SELECT g * 3, (g * 53) % 97 FROM generate_series(1, 120) g",
		"INSERT INTO swrite_codes SELECT 't' || g, 0 FROM generate_series(0, 6) g",
		"INSERT INTO swrite_log SELECT g, 'n' FROM generate_series(1, 300, 7) g")
}

// writeAnswer runs a statement and returns its RETURNING rows (sorted:
// shards return theirs in their own order) and command tag, or its
// error's SQLSTATE.
func writeAnswer(ctx context.Context, conn *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) string {
	rows, tag, ok := runWrite(ctx, conn, mode, sql, args...)
	if !ok {
		return tag
	}
	slices.Sort(rows)
	return strings.Join(rows, ",") + " " + tag
}

// orderedAnswer is writeAnswer keeping the rows in the order they came.
func orderedAnswer(ctx context.Context, conn *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) string {
	rows, tag, ok := runWrite(ctx, conn, mode, sql, args...)
	if !ok {
		return tag
	}
	return strings.Join(rows, ",") + " " + tag
}

// runWrite runs a statement and returns its rows and command tag; on an
// error, ok false and "ERROR <SQLSTATE>" (or the error's text) as the tag.
func runWrite(ctx context.Context, conn *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) (rows []string, tag string, ok bool) {
	res, err := conn.Query(ctx, sql, append([]any{mode}, args...)...)
	if err == nil {
		rows, err = pgx.CollectRows(res, func(r pgx.CollectableRow) (string, error) {
			v, err := r.Values()
			return fmt.Sprint(v...), err
		})
	}
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		return nil, "ERROR " + pe.Code, false
	case err != nil:
		return nil, "error: " + err.Error(), false
	}
	return rows, res.CommandTag().String(), true
}

// swriteStep is a write of the staged-write tests and its arguments.
type swriteStep struct {
	sql  string
	args []any
}

// matchWrites loads the staged-write tables afresh for each mode, runs
// each write through pgshard and on one PostgreSQL, and reports every
// answer (as answer puts it) and table that differ; after runs once a
// mode's writes are done.
func matchWrites(ctx context.Context, t *testing.T, through, ref *pgx.Conn, modes []pgx.QueryExecMode, writes []swriteStep,
	answer func(context.Context, *pgx.Conn, pgx.QueryExecMode, string, ...any) string, after func()) {
	t.Helper()
	for _, mode := range modes {
		loadSwrite(ctx, t, through, ref)
		for _, w := range writes {
			got, want := answer(ctx, through, mode, w.sql, w.args...), answer(ctx, ref, mode, w.sql, w.args...)
			if got != want {
				t.Errorf("%v: %s:\n pgshard:    %s\n PostgreSQL: %s", mode, w.sql, got, want)
			}
			sameTables(ctx, t, through, ref, fmt.Sprintf("%v: %s", mode, w.sql))
		}
		if after != nil {
			after()
		}
	}
}

// sameTables reports each staged-write table whose rows differ between
// pgshard and one PostgreSQL.
func sameTables(ctx context.Context, t *testing.T, through, ref *pgx.Conn, after string) {
	t.Helper()
	for _, q := range swriteTables {
		got, want := strings.Split(textRows(ctx, t, through, q), "\n"), strings.Split(textRows(ctx, t, ref, q), "\n")
		for i := range max(len(got), len(want)) {
			if i >= len(got) || i >= len(want) || got[i] != want[i] {
				t.Errorf("after %s: %s differs first at row %d:\n pgshard:    %q\n PostgreSQL: %q",
					after, q, i+1, strings.Join(got[i:min(i+3, len(got))], " "), strings.Join(want[i:min(i+3, len(want))], " "))
				break
			}
		}
	}
}

// TestStagedWritesMatchOnePostgres: an INSERT, UPDATE or DELETE whose
// subqueries span shards runs them first and then writes on the shards of
// the keys they found (all of them for a reference table, the default shard for
// its tables), atomically. Each answer — command tag, RETURNING rows, or
// error — and every table after it equal one PostgreSQL's, in both
// protocols; a write that fails on one shard keeps nothing on any.
func TestStagedWritesMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	writes := []swriteStep{
		{"UPDATE swrite SET v = v + 1 WHERE k IN (SELECT k FROM swrite_marks WHERE score > 50) RETURNING k, v", nil},
		{"UPDATE swrite SET tag = 'top' WHERE k IN (SELECT k FROM swrite ORDER BY v DESC, k LIMIT 5)", nil},
		{"DELETE FROM swrite WHERE k = ANY(ARRAY(SELECT k FROM swrite_marks WHERE score < (SELECT avg(score) FROM swrite_marks) ORDER BY k LIMIT 7)) RETURNING k, tag", nil},
		{"UPDATE swrite SET v = (SELECT max(score) FROM swrite_marks) WHERE k = $1", []any{int64(31)}},
		{"UPDATE swrite_codes SET hits = hits + 1 WHERE code IN (SELECT tag FROM swrite WHERE v > 90)", nil},
		{"DELETE FROM swrite_log WHERE k IN (SELECT k FROM swrite WHERE tag = 'top')", nil},
		{"UPDATE swrite SET v = v - 1 WHERE k IN (SELECT k FROM swrite_marks WHERE score > $1) RETURNING k", []any{80}},
		{"DELETE FROM swrite WHERE k IN (SELECT k FROM swrite_marks WHERE score < 0)", nil},
		{"UPDATE swrite SET v = 0 WHERE k = 3 AND EXISTS (SELECT 1 FROM swrite_marks WHERE score > 90)", nil},
		{"INSERT INTO swrite (k, v, tag) VALUES (1001, (SELECT max(score) FROM swrite_marks), 'ins') RETURNING k, v", nil},
		{"INSERT INTO swrite (k, v, tag) VALUES (1002, 1, 'a'), (1003, (SELECT count(*) FROM swrite_marks WHERE score > 50), 'b'), (1004, 2, 'c')", nil},
		{"INSERT INTO swrite (k, v, tag) VALUES ((SELECT max(k) + 1 FROM swrite), 5, 'next') RETURNING k", nil},
		{"INSERT INTO swrite (k, v, tag) VALUES ($1, 0, 'c') ON CONFLICT (k) DO UPDATE SET v = (SELECT min(score) FROM swrite_marks) RETURNING v", []any{int64(4)}},
		{"INSERT INTO swrite (k, v, tag) VALUES (6, 0, 'd') ON CONFLICT (k) DO UPDATE SET v = (SELECT count(*) FROM swrite_marks m WHERE m.k = excluded.k) RETURNING v", nil},
		{"INSERT INTO swrite_codes VALUES ('t1', 0) ON CONFLICT (code) DO UPDATE SET hits = (SELECT count(*) FROM swrite_marks) RETURNING hits", nil},
		{"INSERT INTO swrite_codes VALUES ('t9', (SELECT min(v) FROM swrite)) RETURNING hits", nil},
		{"INSERT INTO swrite_log VALUES (5000, (SELECT max(tag) FROM swrite)) RETURNING note", nil},
		{"UPDATE swrite SET tag = 'logged' WHERE k IN (8, 9) AND k IN (SELECT k FROM swrite_log) RETURNING k", nil},
		// INSERT ... SELECT whose rows do not stay on their shards: read
		// and merged by pgshard, then inserted on their keys' shards (a
		// sharded target), every shard (reference) or the default shard.
		{"INSERT INTO swrite_marks (k, score) SELECT k + 1000, v FROM swrite WHERE v > 95 RETURNING k, score", nil},
		{"INSERT INTO swrite_marks (k, score) SELECT k * 7, v FROM swrite WHERE v > $1", []any{97}},
		{"INSERT INTO swrite (k, v, tag) SELECT k + 2000, score, 'm' FROM swrite_marks ORDER BY score DESC, k LIMIT 10 RETURNING k, tag", nil},
		{"INSERT INTO swrite (k, v, tag) SELECT k / 3, score, 'div' FROM swrite_marks WHERE score > 80 ON CONFLICT (k) DO UPDATE SET tag = excluded.tag RETURNING k, v, tag", nil},
		{"INSERT INTO swrite_marks (k, score) SELECT k + 3000, avg(v) FROM swrite GROUP BY k ORDER BY k LIMIT 3 RETURNING score", nil},
		{"INSERT INTO swrite_codes (code, hits) SELECT tag || '_n', count(*) FROM swrite GROUP BY tag RETURNING code, hits", nil},
		{"INSERT INTO swrite_log (k, note) SELECT max(k), 'max' FROM swrite RETURNING k", nil},
		{"INSERT INTO swrite_marks (k, score) SELECT k + 5000, v FROM swrite WHERE v > 1000 RETURNING k", nil},
		{"INSERT INTO swrite (k, v, tag) SELECT g, g, 'gen' FROM generate_series(4001, 4012) g RETURNING k", nil},
		{"INSERT INTO swrite (k, v, tag) VALUES (4001, 0, 'x') ON CONFLICT DO NOTHING", nil},
		// Constants of unknown type take the inserted column's type, as
		// in one PostgreSQL, though the rest of each row is staged.
		{`INSERT INTO swrite_events (k, at, payload, note) SELECT k * 2 + 9000, '2024-06-01', '{"src": "marks"}', NULL FROM swrite_marks WHERE score > 90 RETURNING k, at, payload`, nil},
		{"INSERT INTO swrite_events (k, at, payload) SELECT max(k) + 1, '2024-07-01', '[]' FROM swrite RETURNING k, at", nil},
		{"INSERT INTO swrite_events (k, at, payload) SELECT k + 9500, $1, '{}' FROM swrite_marks WHERE score > $2 RETURNING k, at", []any{"2024-08-01", 93}},
		// An UPDATE's or DELETE's read-only CTEs, referenced once, are
		// inlined as PostgreSQL does, and their subqueries staged.
		{"WITH hi AS (SELECT k FROM swrite_marks WHERE score > 70) UPDATE swrite SET tag = 'hi' WHERE k IN (SELECT k FROM hi) RETURNING k", nil},
		{"WITH top(id) AS (SELECT k FROM swrite ORDER BY v DESC, k LIMIT 3), t AS (SELECT id FROM top) DELETE FROM swrite_log WHERE k IN (SELECT id FROM t) RETURNING k", nil},
		// A WITH on the INSERT whose CTEs only read: the SELECT's, or
		// inlined into the VALUES' subqueries.
		{"WITH x AS (SELECT max(score) AS m FROM swrite_marks) INSERT INTO swrite (k, v, tag) VALUES (6001, (SELECT m FROM x), 'cte') RETURNING k, v", nil},
		{"WITH top AS (SELECT k, v FROM swrite ORDER BY v DESC, k LIMIT 4) INSERT INTO swrite_marks (k, score) SELECT k + 8000, v FROM top RETURNING k", nil},
		{"WITH s AS (SELECT tag, count(*) AS n FROM swrite GROUP BY tag) INSERT INTO swrite_codes (code, hits) SELECT 'w_' || tag, n FROM s", nil},
		// Conflicts with existing keys on some shards only: nothing kept.
		{"INSERT INTO swrite (k, v, tag) SELECT k + 1, v, tag FROM swrite WHERE k > 290", nil},
		// Fails on the one shard holding k = 300 (division by zero),
		// after the others wrote: nothing is kept.
		{"UPDATE swrite SET v = v + 100 / (k - $1) WHERE k IN (SELECT k FROM swrite_marks WHERE score > 10)", []any{int64(300)}},
	}
	matchWrites(ctx, t, through, ref, []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement},
		writes, writeAnswer, nil)

	// Inside a transaction the stages see its own rows on every shard,
	// and ROLLBACK undoes the write on all of them; then COMMIT keeps it.
	k := keysOnShards(1)
	for _, end := range []string{"ROLLBACK", "COMMIT"} {
		loadSwrite(ctx, t, through, ref)
		for _, c := range []*pgx.Conn{through, ref} {
			mustExec(ctx, t, c, "BEGIN", fmt.Sprintf("INSERT INTO swrite_marks VALUES (%d, 99), (%d, 99), (%d, 99)", k[0], k[1], k[2]))
		}
		const q = "UPDATE swrite SET v = -1 WHERE k IN (SELECT k FROM swrite_marks WHERE score = 99) RETURNING k"
		if got, want := writeAnswer(ctx, through, pgx.QueryExecModeExec, q), writeAnswer(ctx, ref, pgx.QueryExecModeExec, q); got != want {
			t.Errorf("in a transaction: %s:\n pgshard:    %s\n PostgreSQL: %s", q, got, want)
		}
		sameTables(ctx, t, through, ref, "the write in a transaction")
		for _, c := range []*pgx.Conn{through, ref} {
			mustExec(ctx, t, c, end)
		}
		sameTables(ctx, t, through, ref, end)
	}

	// Still keyless once filled in: the statement's own refusal, nothing
	// written, and the session goes on.
	loadSwrite(ctx, t, through, ref)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		got := writeAnswer(ctx, through, mode, "DELETE FROM swrite WHERE v IN (SELECT score FROM swrite_marks)")
		if got != "ERROR 0A000" {
			t.Errorf("%v: a write with no key once staged: %s, want ERROR 0A000", mode, got)
		}
		sameTables(ctx, t, through, ref, "the refused write")
	}
	if n := preparedLeft(ctx, t); n != 0 {
		t.Errorf("%d prepared transactions left behind", n)
	}
}
