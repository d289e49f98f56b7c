package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// answer is what a simple query returns, as a client sees it on the wire.
type answer struct {
	results []string
	err     string
}

// simpleAnswer runs sql with the simple protocol and renders every result:
// column names and type OIDs, rows, command tag, and an error's code,
// message and cursor position.
func simpleAnswer(ctx context.Context, t *testing.T, c *pgconn.PgConn, sql string) answer {
	t.Helper()
	var a answer
	rr := c.Exec(ctx, sql)
	for rr.NextResult() {
		res := rr.ResultReader()
		var b strings.Builder
		for _, f := range res.FieldDescriptions() {
			fmt.Fprintf(&b, "%s:%d ", f.Name, f.DataTypeOID)
		}
		for res.NextRow() {
			b.WriteString("|")
			for _, v := range res.Values() {
				if v == nil {
					b.WriteString("NULL,")
				} else {
					fmt.Fprintf(&b, "%s,", v)
				}
			}
		}
		tag, err := res.Close()
		fmt.Fprintf(&b, " %s", tag)
		if err != nil {
			fmt.Fprintf(&b, " err %v", err)
		}
		a.results = append(a.results, b.String())
	}
	if err := rr.Close(); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: %v", sql, err)
		}
		a.err = fmt.Sprintf("%s %s at %d", pe.Code, pe.Message, pe.Position)
	}
	return a
}

// TestPrepareSimpleAnswersAsPostgres runs simple queries through pgshard
// with pool.prepare_simple and compares every answer, type OIDs and error
// positions included, with the same query sent straight to the server.
func TestPrepareSimpleAnswersAsPostgres(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startProxy(t, proxyOptions{pool: "prepare_simple: true\nsize: 1"})
	direct, err := pgconn.Connect(ctx, pg.Shards[0].Primary.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	proxied, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Close(context.Background())

	setup := `DROP TABLE IF EXISTS sf_items;
		CREATE TABLE sf_items (id bigint PRIMARY KEY, name text, price numeric, born date, tags text[]);
		INSERT INTO sf_items SELECT g, 'item ' || g, g * 1.25, DATE '2024-01-01' + g, ARRAY['t' || (g % 3)] FROM generate_series(1, 50) g`
	if a := simpleAnswer(ctx, t, direct, setup); a.err != "" {
		t.Fatal(a.err)
	}
	queries := []string{
		"SELECT id, name, price FROM sf_items WHERE id = 12",
		"SELECT id, name FROM sf_items WHERE id IN (10, 11, 12) ORDER BY 1 DESC",
		"SELECT name, count(*) FROM sf_items WHERE id > 10 GROUP BY 1 ORDER BY 2, 1 LIMIT 3",
		// Column 10, not the constant 10.
		"SELECT id, name, price, born, tags, 1, 2, 3, 4, -id FROM sf_items WHERE id < 30 ORDER BY 10, 1 LIMIT 3",
		"SELECT DISTINCT ON (2) id, born > DATE '2024-01-20' FROM sf_items ORDER BY 2, 1",
		"SELECT id FROM sf_items WHERE born = '2024-01-13' AND name = 'item 12'",
		"SELECT 12345, 3000000000, -2147483647, -2147483648, 1.5, 99999999999999999999, 'abc'::text, E'a\\tb' || 'x'",
		"SELECT price * 2.50, price::numeric(10,1), name::varchar(3) FROM sf_items WHERE id = 40",
		"SELECT 'héllo' || name, nocolumn FROM sf_items WHERE id = 40", // error position after a multi-byte literal
		"SELECT id FROM sf_items WHERE id = '12x'",                     // refused at Bind: the simple query's own error
		"SELECT 'unknown type'", // refused at Parse: runs as sent
		"SELECT 'again', 'unknown type'",
		"SELECT tags FROM sf_items WHERE tags = '{t1}' ORDER BY id LIMIT 2",
		"SELECT id FROM sf_items WHERE name LIKE 'item 4%' ORDER BY id",
		"UPDATE sf_items SET name = 'renamed ' || id WHERE id = 45 RETURNING id, name",
		// A write and its undo, so each target runs it on the same rows.
		"INSERT INTO sf_items (id, name) VALUES (1001, 'new'), (1002, 'newer') RETURNING id, price\x00" +
			"DELETE FROM sf_items WHERE id IN (1001, 1002)",
		"SELECT id FROM sf_items WHERE id = 12 FOR UPDATE",
		"SELECT 1/0 FROM sf_items WHERE id = 12", // an error while executing
		"SELECT id FROM sf_items WHERE id = 12",
	}
	run := func(c *pgconn.PgConn, steps string) (out []answer) {
		for _, q := range strings.Split(steps, "\x00") {
			out = append(out, simpleAnswer(ctx, t, c, q))
		}
		return out
	}
	for _, q := range queries {
		want := run(direct, q)
		for range 2 { // the second time, the statement is prepared already
			if got := run(proxied, q); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%q\n got %v\nwant %v", q, got, want)
			}
		}
	}

	// The server ran a prepared statement with the literals as parameters,
	// padded so positions stay: current_query() is the text it holds.
	const probe = "SELECT current_query() WHERE 12345 = 12345"
	if got := simpleAnswer(ctx, t, proxied, probe); !strings.Contains(fmt.Sprint(got), "WHERE $1    = $2   ") {
		t.Errorf("server form not used: %v", got)
	}
	// Not a SELECT inside a transaction, though prepared: DDL could change
	// its result type under the prepared statement, and that refusal would
	// abort the transaction.
	simpleAnswer(ctx, t, proxied, "BEGIN")
	got := simpleAnswer(ctx, t, proxied, probe)
	simpleAnswer(ctx, t, proxied, "COMMIT")
	if !strings.Contains(fmt.Sprint(got), "WHERE 12345 = 12345") {
		t.Errorf("server form of a SELECT used inside a transaction: %v", got)
	}
	writesInTransactions(ctx, t, direct, proxied)

	// A form refused because the query is wrong as sent too (its table
	// does not exist yet) is tried again once the schema is there.
	const later = "SELECT current_query() FROM sf_later WHERE id = 12345"
	simpleAnswer(ctx, t, direct, "DROP TABLE IF EXISTS sf_later")
	if got, want := simpleAnswer(ctx, t, proxied, later), simpleAnswer(ctx, t, direct, later); fmt.Sprint(got) != fmt.Sprint(want) || want.err == "" {
		t.Errorf("before CREATE TABLE: got %v, want %v", got, want)
	}
	simpleAnswer(ctx, t, direct, "CREATE TABLE sf_later (id bigint); INSERT INTO sf_later VALUES (12345)")
	if got := simpleAnswer(ctx, t, proxied, later); !strings.Contains(fmt.Sprint(got), "WHERE id = $1   ") {
		t.Errorf("after CREATE TABLE the form is not used: %v", got)
	}

	// What the operator sees: forms executed, prepared, refused.
	for _, outcome := range []string{"executed", "prepared", "refused"} {
		if n := p.Metric(t, `pgshard_server_forms_total{database="app",outcome="`+outcome+`"}`); n < 1 {
			t.Errorf("pgshard_server_forms_total{outcome=%q} = %v, want some", outcome, n)
		}
	}

	// DDL changes the result type of a prepared SELECT *: the server
	// refuses the old statement at Bind; the query runs as sent and the
	// statement is prepared anew.
	const star = "SELECT * FROM sf_items WHERE id = 12"
	simpleAnswer(ctx, t, proxied, star)
	if a := simpleAnswer(ctx, t, direct, "ALTER TABLE sf_items ADD COLUMN extra int DEFAULT 7"); a.err != "" {
		t.Fatal(a.err)
	}
	want := simpleAnswer(ctx, t, direct, star)
	for range 2 {
		if got := simpleAnswer(ctx, t, proxied, star); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after ALTER TABLE:\n got %v\nwant %v", got, want)
		}
	}
}

// writesInTransactions checks server forms inside transaction blocks: a
// write that returns no rows uses one there once it is prepared on the
// connection, and nothing else does; an error is the client's, as is.
// current_query() records the text the server ran.
func writesInTransactions(ctx context.Context, t *testing.T, direct, proxied *pgconn.PgConn) {
	t.Helper()
	exec := func(c *pgconn.PgConn, sql string) answer { return simpleAnswer(ctx, t, c, sql) }
	if a := exec(direct, "DROP TABLE IF EXISTS sf_log; CREATE TABLE sf_log (id bigint PRIMARY KEY, q text)"); a.err != "" {
		t.Fatal(a.err)
	}
	ran := func(id int) string {
		a := exec(direct, fmt.Sprintf("SELECT q FROM sf_log WHERE id = %d", id))
		return fmt.Sprint(a.results)
	}
	exec(proxied, "INSERT INTO sf_log (id, q) VALUES (10001, current_query())") // prepares the shape
	exec(proxied, "INSERT INTO sf_log (id, q) VALUES ('10003', current_query())")
	exec(proxied, "INSERT INTO sf_log (id, q) VALUES (10005, current_query()) RETURNING id")
	for _, step := range []string{
		"BEGIN",
		"INSERT INTO sf_log (id, q) VALUES (10002, current_query())",              // prepared: the form
		"UPDATE sf_log SET q = current_query() WHERE id = 10001",                  // new shape: as sent
		"INSERT INTO sf_log (id, q) VALUES (10004, current_query()) RETURNING id", // prepared, but rows: as sent
		"COMMIT",
	} {
		if a := exec(proxied, step); a.err != "" {
			t.Fatalf("%s: %s", step, a.err)
		}
	}
	if q := ran(10002); !strings.Contains(q, "VALUES ($1   ,") {
		t.Errorf("a prepared write in a transaction ran as %s", q)
	}
	if q := ran(10001); !strings.Contains(q, "WHERE id = 10001") {
		t.Errorf("an unprepared write in a transaction ran as %s", q)
	}
	if q := ran(10004); !strings.Contains(q, "VALUES (10004,") {
		t.Errorf("a write returning rows in a transaction ran as %s", q)
	}

	// A value the parameter's type rejects fails at Bind: the error and
	// the aborted transaction are the client's, as with the query as sent
	// (only the cursor position is missing).
	const bad = "INSERT INTO sf_log (id, q) VALUES ('1000x', current_query())"
	var want answer
	for _, c := range []*pgconn.PgConn{direct, proxied} {
		exec(c, "BEGIN")
		got := exec(c, bad)
		after := exec(c, "SELECT 1")
		exec(c, "ROLLBACK")
		code, _, _ := strings.Cut(got.err, " at ")
		if c == direct {
			want = answer{err: code}
			continue
		}
		if code != want.err || !strings.HasPrefix(after.err, "25P02") {
			t.Errorf("bad value in a transaction: got %q then %q, want %q then 25P02", got.err, after.err, want.err)
		}
	}
	if a := exec(proxied, "SELECT count(*) FROM sf_log"); a.err != "" || !strings.Contains(fmt.Sprint(a.results), "|5,") {
		t.Errorf("after the rollback: %v", a)
	}
}

// TestPrepareSimpleNoticesOnce: a notice the server raises while parsing
// a statement's server form (an identifier truncated) reaches the client
// once, as from PostgreSQL, even when the form is refused (format's
// "any" argument has no type to infer from a parameter) and the query
// then runs as sent, raising it again.
func TestPrepareSimpleNoticesOnce(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startProxy(t, proxyOptions{pool: "prepare_simple: true\nsize: 1"})
	notices := func(dsn string) []string {
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { got = append(got, n.Code+" "+n.Message) }
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		q := "SELECT format('%s', 'ab') AS " + strings.Repeat("long_name_", 7)
		for range 2 {
			if _, err := c.Exec(ctx, q).ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	want := notices(pg.Shards[0].Primary.DSN())
	if len(want) != 2 {
		t.Fatalf("PostgreSQL raised %v: the test proves nothing", want)
	}
	if got := notices(p.DSN("app", "app-secret")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("notices through pgshard: %v, want %v", got, want)
	}
}
