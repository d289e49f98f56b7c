package sharding_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestTextOrderUnderAnotherCollation runs pgshard over shard databases
// whose default collation is ICU's en-US, where 'a' sorts before 'B'.
// pgshard compares text bytewise (C's order), so a merge that would order
// text must be refused rather than answered in another order; with
// COLLATE "C" it is exact, and so is anything on one shard.
func TestTextOrderUnderAnotherCollation(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := pgshardOverNewDatabase(t, "collated", `LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`)
	conn := connect(t, p.DSN("app", "app-secret"))
	words := []string{"apple", "Banana", "banana", "Apple", "_under", "-dash", "zebra", "Zulu", "école", "eclair", "1st", "Ärger", "arm"}
	if _, err := conn.Exec(ctx, `CREATE TABLE words (k int PRIMARY KEY, w text)`); err != nil {
		t.Fatal(err)
	}
	for i, w := range words {
		if _, err := conn.Exec(ctx, `INSERT INTO words VALUES ($1, $2)`, i, w); err != nil {
			t.Fatal(err)
		}
	}
	// PostgreSQL's own answers, from one server holding every word.
	ref := connect(t, sharded.Shards[0].Primary.DSN())
	bytewise := textColumn(t, ref, `SELECT w FROM unnest($1::text[]) w ORDER BY w COLLATE "C"`, words)
	linguistic := textColumn(t, ref, `SELECT w FROM unnest($1::text[]) w ORDER BY w COLLATE "en-US-x-icu"`, words)
	if slices.Equal(bytewise, linguistic) {
		t.Fatalf("the words sort the same bytewise and in en-US (%v): the test proves nothing", bytewise)
	}

	// Ordered reads: pgshard cannot compare en-US text, so one shard
	// orders the shards' rows (each shard's LIMIT + OFFSET of them).
	twice := make([]string, 0, 2*len(linguistic))
	for _, w := range linguistic {
		twice = append(twice, w, w)
	}
	for q, want := range map[string][]string{
		`SELECT w FROM words ORDER BY w`:                                            linguistic,
		`SELECT w FROM words ORDER BY w DESC LIMIT 3`:                               reversed(linguistic)[:3],
		`SELECT w FROM words ORDER BY w OFFSET 2 ROWS FETCH FIRST 4 ROWS WITH TIES`: linguistic[2:6],
		`SELECT w AS x FROM words UNION ALL SELECT w FROM words ORDER BY x`:         twice,
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			if got := textColumn(t, conn, q, mode); !slices.Equal(got, want) {
				t.Errorf("%s (%v): got %v, want %v", q, mode, got, want)
			}
		}
	}
	if n := p.Metric(t, `pgshard_helped_statements_total{database="app",how="sorted_on_shard"}`); n < 8 {
		t.Errorf("reads ordered on a shard counted: %v, want at least the 8 above", n)
	}
	// With the key, an int the extended protocol asks for in binary: the
	// sorting shard returns it in binary too.
	var want []string
	for _, w := range linguistic[1:6] {
		want = append(want, fmt.Sprintf("%s=%d", w, slices.Index(words, w)))
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		var lines []string
		rows, err := conn.Query(ctx, `SELECT k, w FROM words ORDER BY w LIMIT 5 OFFSET 1`, mode)
		if err == nil {
			lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
				var k int
				var w string
				err := r.Scan(&k, &w)
				return fmt.Sprintf("%s=%d", w, k), err
			})
		}
		if err != nil || !slices.Equal(lines, want) {
			t.Errorf("ORDER BY w LIMIT 5 OFFSET 1 with the key (%v): got %v (%v), want %v", mode, lines, err, want)
		}
	}
	// min and max, which pgshard merges itself, cannot be merged in
	// en-US: as a simple query of one table, the table's rows are pulled
	// up to one shard, which computes them; through the extended protocol
	// they are refused.
	var lo, hi string
	if err := conn.QueryRow(ctx, `SELECT min(w), max(w) FROM words`, pgx.QueryExecModeSimpleProtocol).Scan(&lo, &hi); err != nil ||
		lo != linguistic[0] || hi != linguistic[len(linguistic)-1] {
		t.Errorf("min and max: %q, %q (%v), want %q, %q", lo, hi, err, linguistic[0], linguistic[len(linguistic)-1])
	}
	_, err := conn.Exec(ctx, `SELECT min(w), max(w) FROM words WHERE k > $1`, -1)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, `COLLATE "C"`) {
		t.Errorf("min and max with a parameter: want 0A000 naming COLLATE \"C\", got %v", err)
	}
	if got := textColumn(t, conn, `SELECT w FROM words ORDER BY w COLLATE "C"`); !slices.Equal(got, bytewise) {
		t.Errorf("ORDER BY w COLLATE \"C\": got %v, want %v", got, bytewise)
	}
	if got := textColumn(t, conn, `SELECT w COLLATE "C" AS x FROM words ORDER BY x DESC LIMIT 4`); !slices.Equal(got, reversed(bytewise)[:4]) {
		t.Errorf("ORDER BY an alias with COLLATE \"C\": got %v, want %v", got, reversed(bytewise)[:4])
	}
	if got := textColumn(t, conn, `SELECT min(w COLLATE "C") FROM words`); !slices.Equal(got, bytewise[:1]) {
		t.Errorf("min(w COLLATE \"C\"): got %v, want %v", got, bytewise[:1])
	}
	// On one shard the shard itself orders, by its own collation.
	if got := textColumn(t, conn, `SELECT w FROM words WHERE k = 3 ORDER BY w`); !slices.Equal(got, []string{"Apple"}) {
		t.Errorf("one shard: got %v", got)
	}
	// Merges that do not order text are unaffected.
	if got := textColumn(t, conn, `SELECT count(DISTINCT w)::text FROM words`); !slices.Equal(got, []string{fmt.Sprint(len(words))}) {
		t.Errorf("count(DISTINCT w): got %v", got)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// TestColumnCollations runs pgshard over C databases whose tables give
// some columns a collation of their own. A merge that would order such a
// column's text, or text pgshard cannot trace to a column, is refused;
// columns of the default collation merge as before. DDL through pgshard is
// seen by the next statement: pgshard reads the shards' catalogs again.
func TestColumnCollations(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := pgshardOverNewDatabase(t, "colcollated", `LOCALE 'C'`)
	conn := connect(t, p.DSN("app", "app-secret"))
	// pgshard's first connections read the catalogs before this table
	// exists: only the DDL's own refresh can tell it about w.
	words := []string{"apple", "Banana", "banana", "Apple", "_under", "zebra", "Zulu", "école", "eclair", "Ärger", "arm"}
	if _, err := conn.Exec(ctx, `CREATE TABLE words (k int PRIMARY KEY, w text COLLATE "en-US-x-icu", c text)`); err != nil {
		t.Fatal(err)
	}
	for i, w := range words {
		if _, err := conn.Exec(ctx, `INSERT INTO words VALUES ($1, $2, $2)`, i, w); err != nil {
			t.Fatal(err)
		}
	}
	ref := connect(t, sharded.Shards[0].Primary.DSN())
	bytewise := textColumn(t, ref, `SELECT w FROM unnest($1::text[]) w ORDER BY w COLLATE "C"`, words)

	refused := func(conn *pgx.Conn, q, why string) {
		t.Helper()
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, why) {
			t.Errorf("%s: want 0A000 saying %q, got %v", q, why, err)
		}
	}
	for _, c := range []*pgx.Conn{conn, connect(t, p.DSN("app", "app-secret"))} {
		refused(c, `SELECT w FROM words ORDER BY w`, "its column has a collation other than C")
		refused(c, `SELECT x FROM (SELECT w AS x, k FROM words) s ORDER BY x DESC LIMIT 3`, "its column has a collation other than C")
		refused(c, `SELECT k FROM words ORDER BY w`, "its column has a collation other than C")
		refused(c, `SELECT lower(c) AS l FROM words ORDER BY l`, "cannot tell which orders it")
		refused(c, `SELECT max(w) FROM words`, "cannot tell which orders it")
		// Staged rows would lose w's collation: neither pulled up at plan
		// time (a window function) nor after the merge failed.
		refused(c, `SELECT w, row_number() OVER (ORDER BY w) FROM words`, "collation of its own")
		refused(c, `SELECT count(*) FROM (SELECT w FROM words ORDER BY k LIMIT 5) s WHERE w > 'b'`, "collation of its own")
		if got := textColumn(t, c, `SELECT c FROM words ORDER BY c`); !slices.Equal(got, bytewise) {
			t.Errorf("ORDER BY a column of the default collation: got %v, want %v", got, bytewise)
		}
		if got := textColumn(t, c, `SELECT w FROM words ORDER BY w COLLATE "C"`); !slices.Equal(got, bytewise) {
			t.Errorf("ORDER BY w COLLATE \"C\": got %v, want %v", got, bytewise)
		}
		if got := textColumn(t, c, `SELECT max(w COLLATE "C") FROM words`); !slices.Equal(got, bytewise[len(bytewise)-1:]) {
			t.Errorf("max(w COLLATE \"C\"): got %v, want %v", got, bytewise[len(bytewise)-1:])
		}
	}

	// A collation given in a transaction counts once it commits; one
	// taken away no longer refuses.
	for _, q := range []string{`BEGIN`, `ALTER TABLE words ALTER COLUMN c TYPE text COLLATE "de-DE-x-icu"`, `COMMIT`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	refused(conn, `SELECT c FROM words ORDER BY c`, "its column has a collation other than C")
	for _, q := range []string{
		`ALTER TABLE words ALTER COLUMN c TYPE text COLLATE "C"`,
		`ALTER TABLE words ALTER COLUMN w TYPE text COLLATE "default"`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if got := textColumn(t, conn, `SELECT w FROM words ORDER BY w`); !slices.Equal(got, bytewise) {
		t.Errorf("ORDER BY w after its collation was dropped: got %v, want %v", got, bytewise)
	}
	if got := textColumn(t, conn, `SELECT max(c) FROM words`); !slices.Equal(got, bytewise[len(bytewise)-1:]) {
		t.Errorf("max(c) with no collated column left: got %v, want %v", got, bytewise[len(bytewise)-1:])
	}

	// A case-insensitive (nondeterministic) collation holds 'same' and
	// 'SAME' equal: one group in PostgreSQL, two if compared by bytes. The
	// words are spread over every shard, so both spellings reach the merge.
	for _, q := range []string{
		`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`ALTER TABLE words ADD COLUMN e text COLLATE ci`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range words {
		if _, err := conn.Exec(ctx, `UPDATE words SET e = $2 WHERE k = $1`, i, []string{"same", "SAME"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	// PostgreSQL counts one value; a bytewise merge would count two.
	u, err := url.Parse(sharded.Shards[0].Primary.DSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/colcollated"
	direct := connect(t, u.String())
	if got := textColumn(t, direct, `SELECT count(DISTINCT x COLLATE ci)::text FROM unnest(ARRAY['same', 'SAME']) x`); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("ci holds 'same' and 'SAME' apart (%v): the test proves nothing", got)
	}
	for _, q := range []string{
		`SELECT e, count(*) FROM words GROUP BY e`,
		`SELECT DISTINCT e FROM words`,
		`SELECT count(DISTINCT e) FROM words`,
		`SELECT DISTINCT lower(c) FROM words`, // an expression, where a nondeterministic collation exists
	} {
		refused(conn, q, "nondeterministic")
	}
	// Text of deterministic collations still groups across shards.
	if got := textColumn(t, conn, `SELECT count(DISTINCT w)::text FROM words`); !slices.Equal(got, []string{fmt.Sprint(len(words))}) {
		t.Errorf("count(DISTINCT w) beside a nondeterministic column: got %v", got)
	}
	// On one shard the shard groups by its collation itself.
	if got := textColumn(t, conn, `SELECT count(DISTINCT e)::text FROM words WHERE k = 3`); !slices.Equal(got, []string{"1"}) {
		t.Errorf("one shard: got %v", got)
	}
}

// pgshardOverNewDatabase creates database name on every shard (options
// go to CREATE DATABASE), drops it when the test ends, and serves it
// through pgshard as database app, with table words sharded by k, or with
// the sharding section's body given.
func pgshardOverNewDatabase(t *testing.T, name, options string, sharding ...string) *pgshardtest.Proxy {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	for i, sh := range sharded.Shards {
		c := connect(t, sh.Primary.DSN())
		if _, err := c.Exec(ctx, `CREATE DATABASE `+name+` `+options+` TEMPLATE template0`); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
		t.Cleanup(func() {
			c := connect(t, sh.Primary.DSN())
			_, _ = c.Exec(ctxFor(t, time.Minute), `DROP DATABASE `+name+` WITH (FORCE)`)
		})
	}
	body := "      tables:\n        - {name: words, key: k}"
	if len(sharding) > 0 {
		body = strings.Join(sharding, "\n")
	}
	return pgshardtest.Start(t, func(listen string) string {
		return fmt.Sprintf(`listen: %s
users:
  - name: app
    password: app-secret
databases:
  - name: app
    server_database: %s
    server_user: postgres
    server_password: %s
    sharding:
%s
%s`, listen, name, cluster.Password, body, pgshardtest.ShardsYAML(sharded))
	})
}
