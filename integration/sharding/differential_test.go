package sharding_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// query is one corpus entry. Ordered queries are compared row by row; the
// others as multisets (SQL promises no order without ORDER BY).
type query struct {
	sql     string
	args    []string // text parameters: run with the extended protocol
	ordered bool
}

// TestDifferentialAgainstOnePostgres loads the same data through pgshard
// into three shards and directly into one PostgreSQL, then checks every
// corpus query gives the same answer both ways, in both pool modes (session
// pooling runs multi-shard statements on the session's own connections).
func TestDifferentialAgainstOnePostgres(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			differential(t, startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}"))
		})
	}
}

func differential(t *testing.T, p *pgshardtest.Proxy) {
	ctx := ctxFor(t, 5*time.Minute)
	through, direct := loadedPair(ctx, t, p)

	qs := corpus()
	if len(qs) < 300 {
		t.Fatalf("corpus has %d queries, want at least 300", len(qs))
	}
	for i, q := range qs {
		want, werr := run(ctx, direct, q)
		got, gerr := run(ctx, through, q)
		if werr != nil {
			t.Fatalf("query %d on the reference server: %s: %v", i, q.sql, werr)
		}
		if gerr != nil {
			t.Errorf("query %d through pgshard: %s %v: %v", i, q.sql, q.args, gerr)
			continue
		}
		if diff := compare(want, got, q.ordered); diff != "" {
			t.Errorf("query %d differs: %s %v\n%s", i, q.sql, q.args, diff)
		}
	}
	// Errors the merge raises, as PostgreSQL raises them.
	for _, sql := range []string{
		`SELECT sum(balance)::numeric(3,0) FROM users`,
		`SELECT country, (sum(score) * 1000)::numeric(4,2) FROM users GROUP BY country`,
		`SELECT * FROM users ORDER BY 7, name`, // the shards have a hidden column 7
		`SELECT * FROM users ORDER BY 99`,
		// Staged subqueries that do not fit their place.
		`SELECT * FROM users WHERE user_id = (SELECT user_id FROM users ORDER BY user_id LIMIT 2)`,
		`SELECT * FROM users WHERE score > (SELECT score, user_id FROM users ORDER BY user_id LIMIT 1)`,
	} {
		_, werr := run(ctx, direct, query{sql: sql})
		_, gerr := run(ctx, through, query{sql: sql})
		var we, ge *pgconn.PgError
		if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code || we.Message != ge.Message || we.Detail != ge.Detail {
			t.Errorf("%s: got %v, want %v", sql, gerr, werr)
		}
	}
	// A Bind bringing another number of values than the statement takes,
	// staged (pgshard adds its stages' parameters after the client's) or
	// not: the server's error.
	for _, c := range []query{
		{sql: `SELECT user_id FROM users WHERE score > (SELECT avg(score) FROM users) AND user_id = $1`, args: []string{"5", "6"}},
		{sql: `SELECT user_id FROM users WHERE score > (SELECT avg(score) FROM users) AND user_id = $2`, args: []string{"5", "6", "7"}},
		{sql: `SELECT user_id FROM users WHERE score > (SELECT avg(score) FROM users WHERE score > $2) AND user_id = $1`, args: []string{"5"}},
		{sql: `SELECT user_id FROM users WHERE user_id = $1`, args: []string{"5", "6"}},
	} {
		_, werr := run(ctx, direct, c)
		_, gerr := run(ctx, through, c)
		var we, ge *pgconn.PgError
		if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code || we.Message != ge.Message {
			t.Errorf("%s with %d values: got %v, want %v", c.sql, len(c.args), gerr, werr)
		}
	}
	for _, sql := range refused {
		_, err := run(ctx, through, query{sql: sql})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" {
			t.Errorf("%s: want 0A000, got %v", sql, err)
		}
		// The session goes on.
		if _, err := run(ctx, through, query{sql: "SELECT 1"}); err != nil {
			t.Fatalf("session broken after refusal: %v", err)
		}
	}
}

// result is a query's answer as text.
type result struct {
	cols []string
	rows [][]string
	tag  string
}

func run(ctx context.Context, conn *pgx.Conn, q query) (*result, error) {
	var rr *pgconn.ResultReader
	if q.args == nil {
		results, err := conn.PgConn().Exec(ctx, q.sql).ReadAll()
		if err != nil {
			return nil, err
		}
		res := results[len(results)-1]
		return toResult(res.FieldDescriptions, res.Rows, res.CommandTag.String()), nil
	}
	params := make([][]byte, len(q.args))
	for i, a := range q.args {
		params[i] = []byte(a)
	}
	rr = conn.PgConn().ExecParams(ctx, q.sql, params, nil, nil, nil)
	res := rr.Read()
	if res.Err != nil {
		return nil, res.Err
	}
	return toResult(res.FieldDescriptions, res.Rows, res.CommandTag.String()), nil
}

func toResult(fields []pgconn.FieldDescription, rows [][][]byte, tag string) *result {
	r := &result{tag: tag}
	for _, f := range fields {
		r.cols = append(r.cols, f.Name)
	}
	for _, row := range rows {
		var out []string
		for _, v := range row {
			if v == nil {
				out = append(out, "NULL")
			} else {
				out = append(out, string(bytes.Clone(v)))
			}
		}
		r.rows = append(r.rows, out)
	}
	return r
}

// compare describes how got differs from want, or returns "".
func compare(want, got *result, ordered bool) string {
	if !slices.Equal(want.cols, got.cols) {
		return fmt.Sprintf("columns: want %v, got %v", want.cols, got.cols)
	}
	if want.tag != got.tag {
		return fmt.Sprintf("command tag: want %q, got %q", want.tag, got.tag)
	}
	w, g := lines(want.rows), lines(got.rows)
	if !ordered {
		slices.Sort(w)
		slices.Sort(g)
	}
	if !slices.Equal(w, g) {
		return fmt.Sprintf("rows (%d vs %d):\nwant: %s\ngot:  %s", len(w), len(g), abbreviate(w), abbreviate(g))
	}
	return ""
}

func lines(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, "|")
	}
	return out
}

func abbreviate(l []string) string {
	if len(l) > 8 {
		return strings.Join(l[:8], "; ") + fmt.Sprintf("; ... (%d more)", len(l)-8)
	}
	return strings.Join(l, "; ")
}
