package sharding_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCopyOutAndReferenceCopyIn: COPY TO STDOUT of a sharded table returns
// every shard's rows once, as one COPY; COPY FROM STDIN into a reference
// table gives every shard every row.
func TestCopyOutAndReferenceCopyIn(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{`DROP TABLE IF EXISTS placed, countries`,
		`CREATE TABLE placed (k bigint NOT NULL, src text NOT NULL)`,
		`CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var want []string
	var rows []string
	for k := range 300 {
		rows = append(rows, fmt.Sprintf("(%d, 'row %d')", k*13, k))
		want = append(want, fmt.Sprintf("%d\trow %d", k*13, k))
	}
	if _, err := conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES `+strings.Join(rows, ", ")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tag, err := conn.PgConn().CopyTo(ctx, &out, `COPY placed (k, src) TO STDOUT`)
	if err != nil || tag.RowsAffected() != 300 {
		t.Fatalf("COPY TO: %v %v", tag, err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("COPY TO returned %d lines, want the 300 rows once each", len(got))
	}

	data := "fr\tFrance\nde\tGermany\nit\tItaly\n"
	tag, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(data), `COPY countries (code, name) FROM STDIN`)
	if err != nil || tag.RowsAffected() != 3 {
		// Every shard got 3 rows; the client is told 3, as by one Postgres.
		t.Fatalf("COPY FROM into a reference table: %v %v", tag, err)
	}
	for i, sh := range sharded.Shards {
		var n int
		if err := connect(t, sh.Primary.DSN()).QueryRow(ctx, `SELECT count(*) FROM countries`).Scan(&n); err != nil || n != 3 {
			t.Fatalf("shard %d has %d countries (%v), want all 3", i, n, err)
		}
	}
}

// copyRows is COPY text data for keys from..to-1 with v = k, and extra
// lines after them.
func copyRows(from, to int, extra ...string) string {
	var b strings.Builder
	for k := from; k < to; k++ {
		fmt.Fprintf(&b, "%d\t%d\n", k, k)
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// TestCopyInsideTransactionsMatchesOnePostgres: COPY FROM STDIN into a
// sharded table inside a transaction (pg_restore --single-transaction,
// psql -1, a driver's CopyFrom in a transaction) joins every shard its
// rows reach to the transaction: its rows are seen by the transaction,
// not by others, and commit or roll back with it; a COPY that fails fails
// the transaction everywhere, and ROLLBACK TO recovers it. Compared step
// by step with one PostgreSQL.
func TestCopyInsideTransactionsMatchesOnePostgres(t *testing.T) {
	const copyTxr = `COPY txr (k, v) FROM STDIN`
	count := step{'a', `SELECT count(*), coalesce(sum(v), 0) FROM txr`}
	runScenarios(t, map[string][]step{
		"rolled back": {
			{'a', `BEGIN`}, copyStep('a', copyTxr, copyRows(1, 13)), count,
			{'b', `SELECT count(*) FROM txr`}, {'a', `ROLLBACK`}, count,
		},
		"after a write, committed": {
			{'a', `BEGIN`}, {'a', `INSERT INTO txr VALUES (100, 1)`}, copyStep('a', copyTxr, copyRows(1, 21)),
			{'a', `SELECT v FROM txr WHERE k = 7`}, {'a', `COMMIT`}, count,
		},
		"a failing COPY fails the transaction": {
			{'a', `BEGIN`}, {'a', `INSERT INTO txr VALUES (100, 1)`}, copyStep('a', copyTxr, copyRows(90, 110)),
			{'a', `SELECT 1`}, {'a', `COMMIT`}, count,
		},
		"rolled back to a savepoint": {
			{'a', `BEGIN`}, {'a', `INSERT INTO txr VALUES (100, 1)`}, {'a', `SAVEPOINT s`},
			copyStep('a', copyTxr, copyRows(1, 9, "9\t\\N")), {'a', `ROLLBACK TO s`},
			copyStep('a', copyTxr, copyRows(1, 9)), {'a', `COMMIT`}, count,
		},
		"in a failed transaction": {
			{'a', `BEGIN`}, {'a', `SELECT 1/0`}, copyStep('a', copyTxr, copyRows(1, 5)), {'a', `ROLLBACK`}, count,
		},
		// pg_restore sends the blank lines pg_dump writes after the end
		// marker; the server ignores what follows it.
		"data after the end marker": {
			copyStep('a', copyTxr, copyRows(1, 9, `\.`, ``, ``, `junk`)), count,
			{'a', `BEGIN`}, copyStep('a', copyTxr, copyRows(20, 29, `\.`, ``)), {'a', `COMMIT`}, count,
		},
	}, nil)
}
