package replicas_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestScatterReadRetriedOnPrimaries: a read that runs on every shard uses
// their replicas; when the replicas' backends die mid-query, each shard's
// part runs again on its primary and the client gets the whole answer, not
// an error.
func TestScatterReadRetriedOnPrimaries(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "max_lag: 1h, max_lag_bytes: 1000000000")
	conn := connect(t, p.DSN("app", "app-secret"))
	resetTable(ctx, t, conn)
	const rows = 500
	var values []string
	for k := range rows {
		values = append(values, fmt.Sprintf("(%d, 0)", k))
	}
	if _, err := conn.Exec(ctx, `INSERT INTO rw (k, v) VALUES `+strings.Join(values, ", ")); err != nil {
		t.Fatal(err)
	}
	// Which node answered each shard's part, and with how many rows.
	// generate_series makes it as slow as wanted (pg_sleep is not on the
	// read-only list, so it would run on the primary).
	const q = `SELECT current_setting('cluster_name') AS node, count(DISTINCT rw.k) FROM rw, generate_series(1, $1::int) g GROUP BY 1`
	answer := func(spin int) (map[string]int64, error) {
		rs, err := conn.Query(ctx, q, spin)
		if err != nil {
			return nil, err
		}
		out := map[string]int64{}
		var node string
		var n int64
		_, err = pgx.ForEachRow(rs, []any{&node, &n}, func() error { out[node] = n; return nil })
		return out, err
	}
	waitFor(t, 20*time.Second, "both shards read on replicas with every row", func() bool {
		got, err := answer(1)
		if err != nil || len(got) != len(pg.Shards) {
			return false
		}
		var total int64
		for node, n := range got {
			if !strings.Contains(node, "replica") {
				return false
			}
			total += n
		}
		return total == rows
	})

	done := make(chan struct{})
	var got map[string]int64
	var err error
	go func() {
		defer close(done)
		got, err = answer(20000)
	}()
	// Once the read is running on a replica of each shard, that backend
	// is terminated.
	killed := make([]bool, len(pg.Shards))
	waitFor(t, 10*time.Second, "the slow read running on both shards' replicas", func() bool {
		all := true
		for i, sh := range pg.Shards {
			for _, r := range sh.Replicas {
				var n int
				if err := connect(t, r.DSN()).QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
					WHERE state = 'active' AND query LIKE '%generate_series%' AND pid <> pg_backend_pid()`).Scan(&n); err == nil && n > 0 {
					killed[i] = true
				}
			}
			all = all && killed[i]
		}
		return all
	})
	<-done
	if err != nil {
		t.Fatalf("the client saw %v after its replica backends were terminated", err)
	}
	var total int64
	for node, n := range got {
		if !strings.HasSuffix(node, "_primary") {
			t.Errorf("%s answered after its backend was terminated; want each shard's primary", node)
		}
		total += n
	}
	if len(got) != len(pg.Shards) || total != rows {
		t.Fatalf("answer %v: want %d shards and %d rows in all", got, len(pg.Shards), rows)
	}
}
