package sharding_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestExplainAcrossShards: EXPLAIN of a read that runs on every shard shows
// how pgshard merges, then every shard's own plan, each exactly what that
// shard answers for the query pgshard sends it.
func TestExplainAcrossShards(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{`DROP TABLE IF EXISTS ex`, `CREATE TABLE ex (k bigint PRIMARY KEY, v numeric)`,
		`INSERT INTO ex SELECT g, g * 1.5 FROM generate_series(1, 300) g`} {
		// INSERT ... SELECT into a sharded table is refused: fill each
		// shard directly instead (which rows land where does not matter).
		if strings.HasPrefix(q, "INSERT") {
			for _, sh := range sharded.Shards {
				if _, err := connect(t, sh.Primary.DSN()).Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	const q = `EXPLAIN (COSTS OFF) SELECT k, v FROM ex WHERE v > 10 ORDER BY v DESC LIMIT 5 OFFSET 2`
	got := textColumn(t, conn, q)
	if !strings.HasPrefix(got[0], "pgshard: Scatter to every shard") || !strings.Contains(got[0], "ORDER BY") || !strings.Contains(got[0], "LIMIT") {
		t.Fatalf("first line %q does not say how the rows are merged", got[0])
	}
	// The shards run LIMIT 5 + 2 (limit plus offset) and no OFFSET.
	sent := `EXPLAIN (COSTS OFF) SELECT k, v FROM ex WHERE v > 10 ORDER BY v DESC LIMIT 5::bigint + 2::bigint`
	want := []string{got[0]}
	for _, sh := range sharded.Shards {
		want = append(want, fmt.Sprintf("  ->  Shard s%d", sh.Index))
		for _, l := range textColumn(t, connect(t, sh.Primary.DSN()), sent) {
			want = append(want, "        "+l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("EXPLAIN through pgshard:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// avg is computed from every shard's sum and count: the shards' plans
	// show the rewritten aggregates.
	verbose := strings.Join(textColumn(t, conn, `EXPLAIN (VERBOSE, COSTS OFF) SELECT avg(v) FROM ex`), "\n")
	if !strings.Contains(verbose, "sum(v)") || !strings.Contains(verbose, "count(v)") || !strings.Contains(verbose, "aggregates combined") {
		t.Fatalf("EXPLAIN VERBOSE of avg does not show the rewritten query:\n%s", verbose)
	}

	// ANALYZE runs the read on every shard; the extended protocol with a
	// parameter works too.
	analyzed := textColumn(t, conn, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT count(*) FROM ex WHERE v > $1`, 100)
	if n := strings.Count(strings.Join(analyzed, "\n"), "actual rows="); n < len(sharded.Shards) {
		t.Fatalf("EXPLAIN ANALYZE shows %d executed nodes, want at least one per shard:\n%s", n, strings.Join(analyzed, "\n"))
	}

	// Formats other than text cannot be nested under shard names.
	_, err := conn.Exec(ctx, `EXPLAIN (FORMAT JSON) SELECT * FROM ex`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "FORMAT JSON") {
		t.Fatalf("EXPLAIN (FORMAT JSON) over every shard: %v, want 0A000 naming the format", err)
	}
	// On one shard, EXPLAIN is that shard's, in any format.
	if _, err := conn.Exec(ctx, `EXPLAIN (FORMAT JSON) SELECT * FROM ex WHERE k = 3`); err != nil {
		t.Fatalf("EXPLAIN (FORMAT JSON) on one shard: %v", err)
	}
}
