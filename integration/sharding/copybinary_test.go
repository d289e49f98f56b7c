package sharding_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestBinaryCopyAndHeaders loads the same rows into a sharded table through
// pgshard with pgx's CopyFrom (binary COPY, split per row) and directly into
// the unsharded reference server, then checks what comes back out of
// pgshard: binary COPY TO STDOUT over every shard must be one valid stream
// (the reference server loads it back and finds the same rows), and CSV with
// HEADER one header line and every row once.
func TestBinaryCopyAndHeaders(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	const ddl = `CREATE TABLE bincopy (k bigint NOT NULL, name text, score numeric, at timestamptz, tags int[])`
	for _, c := range []*pgx.Conn{conn, ref} {
		for _, q := range []string{`DROP TABLE IF EXISTS bincopy, bincopy_back`, ddl} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var rows [][]any
	for i := range 1000 {
		var name any = fmt.Sprintf("name %d, \"quoted\"\nline", i)
		if i%7 == 0 {
			name = nil
		}
		rows = append(rows, []any{int64(i*104729 - 50_000_000), name, fmt.Sprintf("%d.%02d", i, i%100), base.Add(time.Duration(i) * time.Minute), []int32{int32(i), -1}})
	}
	cols := []string{"k", "name", "score", "at", "tags"}
	for _, c := range []*pgx.Conn{conn, ref} {
		n, err := c.CopyFrom(ctx, pgx.Identifier{"bincopy"}, cols, pgx.CopyFromRows(rows))
		if err != nil || n != 1000 {
			t.Fatalf("binary COPY FROM: %d rows, %v", n, err)
		}
	}

	// Binary out of every shard, loaded back by one Postgres.
	var bin bytes.Buffer
	tag, err := conn.PgConn().CopyTo(ctx, &bin, `COPY bincopy TO STDOUT (FORMAT binary)`)
	if err != nil || tag.RowsAffected() != 1000 {
		t.Fatalf("binary COPY TO through pgshard: %v %v", tag, err)
	}
	if _, err := ref.Exec(ctx, `CREATE TABLE bincopy_back (LIKE bincopy)`); err != nil {
		t.Fatal(err)
	}
	if tag, err := ref.PgConn().CopyFrom(ctx, &bin, `COPY bincopy_back FROM STDIN (FORMAT binary)`); err != nil || tag.RowsAffected() != 1000 {
		t.Fatalf("the reference server could not load pgshard's binary COPY output: %v %v", tag, err)
	}
	var diff int
	if err := ref.QueryRow(ctx, `SELECT count(*) FROM ((TABLE bincopy EXCEPT ALL TABLE bincopy_back) UNION ALL (TABLE bincopy_back EXCEPT ALL TABLE bincopy)) d`).Scan(&diff); err != nil || diff != 0 {
		t.Fatalf("%d rows differ between the rows loaded and those pgshard's binary COPY returned (%v)", diff, err)
	}

	// CSV with HEADER, of the table and of a query: one header, the same
	// lines as one Postgres gives.
	copyOut := func(pc *pgconn.PgConn, q string) []string {
		var b bytes.Buffer
		if _, err := pc.CopyTo(ctx, &b, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return strings.SplitAfter(b.String(), "\n")
	}
	for q, header := range map[string]string{
		`COPY bincopy TO STDOUT (FORMAT csv, HEADER)`:                                              "k,name,score,at,tags\n",
		`COPY (SELECT k, name, k % 7 AS r FROM bincopy WHERE k % 3 = 0) TO STDOUT WITH CSV HEADER`: "k,name,r\n",
		`COPY (SELECT k, tags FROM bincopy WHERE name IS NULL) TO STDOUT`:                          "",
	} {
		got, want := copyOut(conn.PgConn(), q), copyOut(ref.PgConn(), q)
		if header != "" && (got[0] != want[0] || got[0] != header) {
			t.Fatalf("%s: header %q, want %q", q, got[0], want[0])
		}
		// Quoted names hold newlines: compare the output as a multiset of
		// lines, which is enough to show nothing is lost or doubled.
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(got) < 100 {
			t.Fatalf("%s: %d lines through pgshard, %d from the reference server", q, len(got), len(want))
		}
	}
	// A query whose rows need merging runs first, merged, and one server
	// writes its rows in the COPY's format: byte for byte what one
	// Postgres writes, order included (names hold quotes and newlines,
	// tags are arrays).
	for _, q := range []string{
		`COPY (SELECT k, name, tags FROM bincopy ORDER BY name DESC NULLS LAST, k LIMIT 300) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE (name))`,
		`COPY (SELECT k % 10 AS d, count(*), min(name) FROM bincopy GROUP BY 1 ORDER BY 1) TO STDOUT (NULL 'none', DELIMITER '|')`,
		`COPY (SELECT k, name, score, at, tags FROM bincopy ORDER BY k LIMIT 50) TO STDOUT (FORMAT binary)`,
	} {
		got, want := copyOut(conn.PgConn(), q), copyOut(ref.PgConn(), q)
		if !slices.Equal(got, want) || len(got) < 10 {
			t.Errorf("%s: %d lines through pgshard, %d from the reference server; %s", q, len(got), len(want), firstDifference(strings.Join(got, ""), strings.Join(want, "")))
		}
	}
	// To a file on the server, it is refused.
	_, err = conn.Exec(ctx, `COPY (SELECT k FROM bincopy ORDER BY k) TO '/tmp/pgshard-copy-test'`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Fatalf("COPY (SELECT ... ORDER BY) TO a server file over every shard: %v, want 0A000", err)
	}

	// A NULL key cannot be placed: the COPY fails as a whole.
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"bincopy"}, cols, pgx.CopyFromRows([][]any{{int64(1), "a", "1", base, []int32{1}}, {nil, "b", "2", base, []int32{2}}}))
	if !errors.As(err, &pe) || pe.Code != "23502" {
		t.Fatalf("binary COPY with a NULL key: %v, want 23502", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM bincopy`).Scan(&n); err != nil || n != 1000 {
		t.Fatalf("after the failed COPY: %d rows (%v), want the 1000 from before", n, err)
	}
}
