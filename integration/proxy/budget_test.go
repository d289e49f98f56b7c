package proxy_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// databases[].max_db_connections bounds the server connections of all
// users' pools together, as PgBouncer's max_db_connections: six clients
// of two users, each user's pool allowed 3, never run more than 2
// statements at once on the server, and every statement completes (a pool
// at the bound waits for another user's connection, released or idle). A
// reload to 3 lets 3 run at once. The waits are counted in
// pgshard_pool_budget_waits_total.
func TestMaxDBConnections(t *testing.T) {
	opts := proxyOptions{
		pool:     "size: 3\nqueue_timeout: 20s",
		users:    "  - {name: wide, password: wide-secret}",
		database: "    max_db_connections: 2",
	}
	p := startProxy(t, opts)
	ctx := ctxFor(t, 2*time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())

	// round runs three sleeps from each of three clients per user and
	// returns the most statements the server ran at once.
	round := func(tag string) int64 {
		var wg sync.WaitGroup
		for _, u := range []struct{ name, password string }{{"app", "app-secret"}, {"wide", "wide-secret"}} {
			for range 3 {
				conn := connect(t, p.DSN(u.name, u.password))
				wg.Go(func() {
					for range 3 {
						if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT pg_sleep(0.3), '%s'", tag)); err != nil {
							t.Errorf("%s's statement with max_db_connections: %v", u.name, err)
							return
						}
					}
				})
			}
		}
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		q := fmt.Sprintf("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(0.3), ''%s''%%'", tag)
		var peak int64
		for {
			select {
			case <-finished:
				return peak
			case <-time.After(10 * time.Millisecond):
			}
			var n int64
			if err := direct.QueryRow(ctx, q).Scan(&n); err != nil {
				t.Fatal(err)
			}
			peak = max(peak, n)
		}
	}
	if got := round("bound2"); got != 2 {
		t.Errorf("statements on the server at once with max_db_connections 2: at most %d, want 2", got)
	}
	waits := 0.0
	for _, u := range []string{"app", "wide"} {
		waits += p.Metric(t, `pgshard_pool_budget_waits_total{database="app",node="s0-primary",shard="s0",user="`+u+`"}`)
	}
	if waits == 0 {
		t.Error("pgshard_pool_budget_waits_total counted no wait for max_db_connections")
	}
	opts.database = "    max_db_connections: 3"
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"databases[app].max_db_connections"}) {
		t.Fatalf("reload of max_db_connections: %v %v", changed, err)
	}
	if got := round("bound3"); got != 3 {
		t.Errorf("statements on the server at once with max_db_connections 3: at most %d, want 3", got)
	}
}
