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
