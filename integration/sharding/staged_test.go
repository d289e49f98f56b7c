package sharding_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestStagedSubqueriesInTransactions: a subquery that spans shards runs
// first, inside the client's transaction, so it sees the transaction's own
// writes on every shard and another client does not; compared with one
// PostgreSQL step by step (the differential corpus covers the shapes).
func TestStagedSubqueriesInTransactions(t *testing.T) {
	k := keysOnShards(80000)
	ins := func(key int64, v int) string { return fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, %d)", key, v) }
	const (
		distinct = "SELECT count(*) FROM (SELECT DISTINCT v FROM txr) t"
		aboveAvg = "SELECT k FROM txr WHERE v > (SELECT avg(v) FROM txr) ORDER BY k"
		top      = "SELECT k, v FROM txr WHERE k IN (SELECT k FROM txr ORDER BY v DESC, k LIMIT 2) ORDER BY k"
	)
	runScenariosWith(t, scenarioOptions{poolSize: 8, modes: []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}}, map[string][]step{
		"own writes": {
			{'a', ins(k[0], 1)}, {'a', ins(k[1], 2)},
			{'a', "BEGIN"}, {'a', ins(k[2], 30)}, {'a', ins(k[0]+1000, 40)},
			{'a', distinct}, {'a', aboveAvg}, {'a', top},
			{'b', distinct}, {'b', aboveAvg}, {'b', top},
			{'a', "COMMIT"},
			{'b', distinct}, {'b', aboveAvg}, {'b', top},
		},
		"failed transaction": {
			{'a', ins(k[0], 1)},
			{'a', "BEGIN"}, {'a', ins(k[1], 2)}, {'a', "SELECT 1/0"},
			{'a', distinct}, {'a', "ROLLBACK"}, {'a', distinct},
		},
	}, nil)
}

// TestStagedSubqueryRefusals: what staging cannot do is refused with the
// statement's own 0A000, and the session goes on: a subquery correlated
// through a column only the outer query has (found when the subquery,
// run on its own, fails — the detail says so), a subquery with a
// parameter, a staged COPY through the extended protocol, a staged
// statement among other statements in one query string. PGSHARD ROUTE
// shows the stages.
func TestStagedSubqueryRefusals(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS staged", "DROP TABLE IF EXISTS staged_marks",
		"CREATE TABLE staged (k bigint PRIMARY KEY, v int)", "CREATE TABLE staged_marks (k bigint PRIMARY KEY, score int)",
		"INSERT INTO staged VALUES (1, 10), (2, 20), (3, 30), (4, 40)", "INSERT INTO staged_marks VALUES (1, 15), (2, 25), (3, 35)")

	refused := func(name, sql string, mode pgx.QueryExecMode, detail string, args ...any) {
		t.Helper()
		// Query, not Exec: pgx sends an Exec without arguments as a
		// simple query whatever the mode.
		rows, err := conn.Query(ctx, sql, append([]any{mode}, args...)...)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Detail, detail) {
			t.Errorf("%s: got %v (detail %q), want 0A000 with detail containing %q", name, err, detailOf(pe), detail)
		}
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("%s: the session did not go on: %v", name, err)
		}
	}
	refused("correlated by an unqualified column",
		`SELECT k, (SELECT count(*) FROM staged_marks m WHERE m.score < v) FROM staged`, pgx.QueryExecModeSimpleProtocol,
		`column "v" does not exist`)
	refused("COPY in the extended protocol", `COPY (SELECT v FROM staged ORDER BY v) TO STDOUT`, pgx.QueryExecModeExec, "")
	// Among other statements of a query string: run apart, in order.
	if results, err := conn.PgConn().Exec(ctx, `SELECT 1; SELECT count(*) FROM (SELECT DISTINCT v FROM staged) t`).ReadAll(); err != nil ||
		len(results) != 2 || len(results[1].Rows) != 1 || string(results[1].Rows[0][0]) != "4" {
		t.Errorf("a staged statement among others: %v, %v", results, err)
	}

	// The same shapes as queries of their own, in both protocols.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT v FROM staged) t`, mode).Scan(&n); err != nil || n != 4 {
			t.Errorf("staged count (%v): %d, %v", mode, n, err)
		}
	}
	// In a pipelined batch, after writes on two shards: the stages see the
	// batch's own rows, as one server would.
	k := keysOnShards(90000)
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO staged VALUES ($1, 50)`, k[0])
	b.Queue(`INSERT INTO staged VALUES ($1, 60)`, k[1])
	var inBatch int
	b.Queue(`SELECT count(*) FROM (SELECT DISTINCT v FROM staged) t`).QueryRow(func(r pgx.Row) error { return r.Scan(&inBatch) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil || inBatch != 6 {
		t.Errorf("staged count in a batch after two inserts: %d (%v), want 6", inBatch, err)
	}
	mustExec(ctx, t, conn, fmt.Sprintf("DELETE FROM staged WHERE k IN (%d, %d)", k[0], k[1]))

	// A subquery with a parameter, or correlated through a qualified
	// column, cannot run first: its table's rows are staged instead, and
	// the statement runs over them.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT DISTINCT v FROM staged WHERE v > $1) t`, mode, 15).Scan(&n); err != nil || n != 3 {
			t.Errorf("a parameter in the subquery (%v): %d, %v; want 3", mode, n, err)
		}
		got := textColumn(t, conn, `SELECT k || ':' || (SELECT count(*) FROM staged_marks m WHERE m.score < s.v) FROM staged s ORDER BY k`, mode)
		if want := "1:0 2:1 3:2 4:3"; strings.Join(got, " ") != want {
			t.Errorf("correlated by a qualified column (%v): %v, want %s", mode, got, want)
		}
	}

	// Rows past what a stage may hold: refused, and pgshard stops keeping
	// them (10 MiB of rows pulled up for a window function, past 256 KiB).
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS staged_big", "CREATE TABLE staged_big (k bigint PRIMARY KEY, pad text)",
		"INSERT INTO staged_big SELECT g, repeat('x', 100000) FROM generate_series(1, 100) g")
	tooMany := func(name, sql, message string) {
		t.Helper()
		_, err := conn.Exec(ctx, sql)
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, message) ||
			!strings.Contains(pe.Detail, "tried to stage the rows of b that the statement needs, but they pass its bounds") {
			t.Errorf("%s: %v (detail %q), want 0A000 saying %q, and in its detail which rows did not fit", name, err, detailOf(pe), message)
		}
	}
	tooMany("10 MiB of rows pulled up", `SELECT k, row_number() OVER (ORDER BY k), length(pad) FROM staged_big b`, "window function row_number()")
	// A join not on the shard key stages one side: the smaller one
	// works, 10 MiB does not.
	tooMany("10 MiB of rows joined", `SELECT count(*) FROM staged s JOIN staged_big b ON length(b.pad) = s.v * 10000`, "joins sharded tables staged and staged_big")
	// A parameter whose type the statement and its subquery alone would
	// infer differently (int8 from k, int4 from score), sent in binary by
	// pgx: the subquery takes it as the statement's type.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged WHERE k > $1 AND v + 5 IN (SELECT score FROM staged_marks WHERE score > $1)`, mode, 1).Scan(&n); err != nil || n != 2 {
			t.Errorf("a parameter typed by the statement (%v): %d, %v; want 2", mode, n, err)
		}
	}
	// A broadcast stages only the columns the statement names (all
	// qualified): an enum column, which pgshard cannot pass, stays home.
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS staged_kinds", "DROP TYPE IF EXISTS staged_mood",
		"CREATE TYPE staged_mood AS ENUM ('sad', 'glad')", "CREATE TABLE staged_kinds (k bigint PRIMARY KEY, m staged_mood, v int)",
		"INSERT INTO staged_kinds VALUES (1, 'sad', 20), (2, 'glad', 30), (3, 'glad', 99)")
	var n, sum int64
	if err := conn.QueryRow(ctx, `SELECT count(*), sum(s.k * 10 + e.k) FROM staged s JOIN staged_kinds e ON e.v = s.v`).Scan(&n, &sum); err != nil || n != 2 || sum != 53 {
		t.Errorf("a broadcast of named columns: %d, %d, %v; want 2 rows summing to 53", n, sum, err)
	}
	// An enum column staged: each shard gave the type its own OID, and
	// its values go back under the type's name.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		got := textColumn(t, conn, `SELECT s.k || ':' || e.m FROM staged s JOIN staged_kinds e ON e.v = s.v WHERE e.k > 0 ORDER BY s.k`, mode)
		if want := "2:sad 3:glad"; strings.Join(got, " ") != want {
			t.Errorf("a broadcast of an enum column (%v): %v, want %s", mode, got, want)
		}
		var glad int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged_kinds WHERE m IN (SELECT m FROM staged_kinds WHERE v > 25 ORDER BY v LIMIT 1)`, mode).Scan(&glad); err != nil || glad != 2 {
			t.Errorf("an enum column staged as an IN list (%v): %d, %v; want 2", mode, glad, err)
		}
	}
	// Past what constants may take (256 KiB) but within what parameters
	// may (2 MiB): 20,000 rows passed as Bind parameters, in both
	// protocols.
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS staged_mid", "CREATE TABLE staged_mid (k bigint PRIMARY KEY, v int)",
		"INSERT INTO staged_mid SELECT g, g % 50 FROM generate_series(1, 20000) g")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		var joined, in, window int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged s JOIN staged_mid m ON m.v = s.v`, mode).Scan(&joined); err != nil || joined != 1600 {
			t.Errorf("20,000 rows joined (%v): %d, %v; want 1600", mode, joined, err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged WHERE k IN (SELECT k FROM staged_mid ORDER BY k DESC LIMIT 19999)`, mode).Scan(&in); err != nil || in != 3 {
			t.Errorf("19,999 keys in an IN list (%v): %d, %v; want 3", mode, in, err)
		}
		if err := conn.QueryRow(ctx, `SELECT max(r) FROM (SELECT row_number() OVER (ORDER BY k) AS r FROM staged_mid WHERE v > 0) w`, mode).Scan(&window); err != nil || window != 19600 {
			t.Errorf("19,600 rows pulled up (%v): %d, %v; want 19600", mode, window, err)
		}
	}
	// Known too large: refused for a while without reading the rows again.
	_, err := conn.Exec(ctx, `SELECT count(*) FROM staged s JOIN staged_big b ON length(b.pad) = s.v * 10000`)
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Detail, "less than 1m0s ago") {
		t.Errorf("the same join again: %v (detail %q), want 0A000 saying the rows were too large less than a minute ago", err, detailOf(pe))
	}
	var joined int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged_big b JOIN staged s ON length(b.pad) = s.v * 10000`).Scan(&joined); err != nil || joined != 100 {
		t.Errorf("join staging the small side: %d, %v; want 100", joined, err)
	}
	var window []int64
	rows, err := conn.Query(ctx, `SELECT row_number() OVER (ORDER BY k) FROM staged_big WHERE k <= 2`, pgx.QueryExecModeSimpleProtocol)
	if err == nil {
		window, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err != nil || len(window) != 2 || window[1] != 2 {
		t.Errorf("a window over the rows the WHERE clause keeps: %v, %v", window, err)
	}

	var matched int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM staged s WHERE EXISTS (SELECT 1 FROM staged_marks m WHERE m.score = s.v + 5)`).Scan(&matched); err != nil || matched != 3 {
		t.Errorf("a decorrelated EXISTS: %d, %v; want 3", matched, err)
	}
	// Operators see how often this happens.
	if n := p.Metric(t, `pgshard_helped_statements_total{database="app",how="staged"}`); n < 4 {
		t.Errorf("staged statements counted: %v, want at least the 4 above", n)
	}
	if n := p.Metric(t, `pgshard_helped_statements_total{database="app",how="pulled_up"}`); n < 1 {
		t.Errorf("pulled-up statements counted: %v, want at least 1", n)
	}
	if n := p.Metric(t, `pgshard_helped_statements_total{database="app",how="broadcast"}`); n < 3 {
		t.Errorf("broadcast statements counted: %v, want at least the joins above", n)
	}
	if n := p.Metric(t, `pgshard_helped_statements_total{database="app",how="decorrelated"}`); n != 1 {
		t.Errorf("decorrelated statements counted: %v, want the EXISTS above", n)
	}

	route := textColumn(t, conn, `PGSHARD ROUTE SELECT k FROM staged WHERE v > (SELECT avg(score) FROM staged_marks)`, pgx.QueryExecModeSimpleProtocol)
	if got := strings.Join(route, "\n"); !strings.Contains(got, "kind=staged") || !strings.Contains(got, "stage 0 (value): SELECT avg(score) FROM staged_marks") {
		t.Errorf("PGSHARD ROUTE:\n%s", got)
	}
}

func detailOf(pe *pgconn.PgError) string {
	if pe == nil {
		return ""
	}
	return pe.Detail
}
