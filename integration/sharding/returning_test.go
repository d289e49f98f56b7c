package sharding_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMultiRowInsertReturningOrder: a multi-row INSERT split over shards
// returns its RETURNING rows in VALUES order, as one PostgreSQL does (ORMs
// match the ids they get back to their objects by position), in both
// protocols.
func TestMultiRowInsertReturningOrder(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	execOnEach(ctx, t, []*pgx.Conn{through, ref}, `DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint NOT NULL, src text NOT NULL)`)
	returned := func(c *pgx.Conn, q string, mode pgx.QueryExecMode, args ...any) string {
		rows, err := c.Query(ctx, q, append([]any{mode}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var k int64
			var src string
			err := r.Scan(&k, &src)
			return fmt.Sprintf("%d:%s", k, src), err
		})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return strings.Join(ks, " ")
	}
	var literal []string
	var params []string
	var args []any
	for i := range 40 {
		k := int64(i*7919 + 13)
		literal = append(literal, fmt.Sprintf("(%d, 'lit %d')", k, i))
		params = append(params, fmt.Sprintf("($%d, $%d)", 2*i+1, 2*i+2))
		args = append(args, k+1, fmt.Sprintf("param %d", i))
	}
	lit := `INSERT INTO placed (k, src) VALUES ` + strings.Join(literal, ", ") + ` RETURNING k, src`
	par := `INSERT INTO placed (k, src) VALUES ` + strings.Join(params, ", ") + ` RETURNING k, src`
	for _, tc := range []struct {
		q    string
		mode pgx.QueryExecMode
		args []any
	}{
		{lit, pgx.QueryExecModeSimpleProtocol, nil},
		{par, pgx.QueryExecModeCacheStatement, args},
	} {
		got, want := returned(through, tc.q, tc.mode, tc.args...), returned(ref, tc.q, tc.mode, tc.args...)
		if got != want {
			t.Fatalf("RETURNING of a split INSERT (%v):\n through pgshard: %s\n one PostgreSQL:  %s", tc.mode, got, want)
		}
	}
}
