package sharding_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestConcatenatingAggregates: string_agg, array_agg, json_agg and
// jsonb_agg without an ORDER BY of their own, over rows of every shard.
// PostgreSQL promises no order of their elements, so each answer is
// compared with one PostgreSQL's after sorting the elements of every
// aggregate; everything else must be equal. Both protocols: pgx reads
// arrays and jsonb in binary through the extended protocol.
func TestConcatenatingAggregates(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through, ref := loadedPair(ctx, t, p)

	queries := []string{
		`SELECT string_agg(name, ',') FROM users`,
		`SELECT string_agg(name, ' | ') FROM users WHERE user_id < 0`,
		`SELECT country, array_agg(user_id), count(*), string_agg(name, ';') FILTER (WHERE score > 50) FROM users GROUP BY country ORDER BY country NULLS FIRST`,
		`SELECT status, json_agg(order_id), jsonb_agg(amount) FILTER (WHERE amount > 100) FROM orders GROUP BY status ORDER BY 1 NULLS FIRST`,
		`SELECT array_agg(ARRAY[user_id, score]) FROM users WHERE user_id < 40 AND score IS NOT NULL`,
		`SELECT array_agg(name) FROM users WHERE country = 'fr' HAVING count(*) > 1`,
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheDescribe} {
		for _, q := range queries {
			want, got := canonicalRows(ctx, t, ref, q, mode), canonicalRows(ctx, t, through, q, mode)
			if want != got {
				t.Errorf("%v %s:\n PostgreSQL: %.400s\n pgshard:    %.400s", mode, q, want, got)
			}
		}
	}
}

// canonicalRows prints q's rows with each aggregate's elements sorted: a
// list's elements, or a string's parts between the separators the
// queries above use.
func canonicalRows(ctx context.Context, t *testing.T, c *pgx.Conn, q string, mode pgx.QueryExecMode) string {
	t.Helper()
	rows, err := c.Query(ctx, q, mode)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var line []string
		for _, v := range vals {
			line = append(line, canonical(v))
		}
		out = append(out, strings.Join(line, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rows.CommandTag().String() + "\n" + strings.Join(out, "\n")
}

func canonical(v any) string {
	switch v := v.(type) {
	case []any:
		var parts []string
		for _, e := range v {
			parts = append(parts, canonical(e))
		}
		slices.Sort(parts)
		return "[" + strings.Join(parts, ",") + "]"
	case string:
		for _, sep := range []string{" | ", ";", ","} {
			if strings.Contains(v, sep) {
				parts := strings.Split(v, sep)
				slices.Sort(parts)
				return strings.Join(parts, sep)
			}
		}
		return v
	}
	return fmt.Sprint(v)
}
