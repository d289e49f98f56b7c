package proxy_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
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

	dsns := []string{p.DSN("app", "app-secret"), p.DSN("app", "app-secret"), p.DSN("app", "app-secret"),
		p.DSN("wide", "wide-secret"), p.DSN("wide", "wide-secret"), p.DSN("wide", "wide-secret")}
	round := func(tag string) int64 { return peakSleeps(t, ctx, direct, dsns, tag) }
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

// peakSleeps runs three sleeps on each of dsns' clients at once and
// returns the most of them the server (direct) ran at once.
func peakSleeps(t *testing.T, ctx context.Context, direct *pgx.Conn, dsns []string, tag string) int64 {
	t.Helper()
	var wg sync.WaitGroup
	for _, dsn := range dsns {
		conn := connect(t, dsn)
		wg.Go(func() {
			for range 3 {
				if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT pg_sleep(0.3), '%s'", tag)); err != nil {
					t.Errorf("%s: %v", conn.Config().User, err)
					return
				}
			}
		})
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

// users[].max_user_connections bounds the server connections of all one
// user's pools to a server together, across databases, as PgBouncer's
// max_user_connections: six clients of one user, three in each of two
// databases on the same server, each pool allowed 3, never run more than 2
// statements at once there, and every statement completes. A reload to 3
// lets 3 run at once.
func TestMaxUserConnections(t *testing.T) {
	host, port, _ := net.SplitHostPort(pg.Shards[0].Primary.Addr())
	yaml := func(limit int) func(string) string {
		return func(listen string) string {
			return fmt.Sprintf(`listen: %s
pool: {size: 3, queue_timeout: 20s}
users: [{name: app, password: app-secret, max_user_connections: %d}]
databases:
  - {name: app, server_database: postgres, server_user: postgres, server_password: %[3]s,
     shards: [{name: s0, primary: {host: %[4]s, port: %[5]s, tls: disable}}]}
  - {name: other, server_database: postgres, server_user: postgres, server_password: %[3]s,
     shards: [{name: o0, primary: {host: %[4]s, port: %[5]s, tls: disable}}]}
`, listen, limit, cluster.Password, host, port)
		}
	}
	p := pgshardtest.Start(t, yaml(2))
	ctx := ctxFor(t, 2*time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	other := "postgres://app:app-secret@" + p.Addr + "/other?sslmode=disable"
	dsns := []string{p.DSN("app", "app-secret"), p.DSN("app", "app-secret"), p.DSN("app", "app-secret"), other, other, other}
	if got := peakSleeps(t, ctx, direct, dsns, "user2"); got != 2 {
		t.Errorf("statements on the server at once with max_user_connections 2: at most %d, want 2", got)
	}
	if changed, err := p.Reload(t, yaml(3)); err != nil || !slices.Equal(changed, []string{"users[app] changed"}) {
		t.Fatalf("reload of max_user_connections: %v %v", changed, err)
	}
	if got := peakSleeps(t, ctx, direct, dsns, "user3"); got != 3 {
		t.Errorf("statements on the server at once with max_user_connections 3: at most %d, want 3", got)
	}
}
