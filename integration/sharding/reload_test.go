package sharding_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestStatementOverShardsWaitingAcrossAReload: a statement over every
// shard that has taken some of its connections and waits for another when
// a reload moves a shard's primary starts over on the new nodes instead
// of failing.
func TestStatementOverShardsWaitingAcrossAReload(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	shards := pgshardtest.ShardsYAML(sharded)
	const pool = "pool: {size: 1, queue_timeout: 20s}"
	p := pgshardtest.Start(t, pgshardYAML(shards, pool))
	setup := connect(t, p.DSN("app", "app-secret"))
	var values []string
	for k := 1; k <= 30; k++ {
		values = append(values, fmt.Sprintf("(%d)", k))
	}
	for _, q := range []string{"DROP TABLE IF EXISTS reloaded", "CREATE TABLE reloaded (k bigint, v int)",
		"INSERT INTO reloaded (k) VALUES " + strings.Join(values, ", ")} {
		if _, err := setup.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A key of the middle shard, s1: a statement over every shard takes
	// s0's connection first, then waits for s1's.
	holder := connect(t, p.DSN("app", "app-secret"))
	key := 0
	for k := 1; k <= 30 && key == 0; k++ {
		var node string
		tx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT current_setting('cluster_name') FROM reloaded WHERE k = %d", k)).Scan(&node); err != nil {
			t.Fatal(err)
		}
		_ = tx.Rollback(ctx)
		if node == "s1_primary" {
			key = k
		}
	}
	if key == 0 {
		t.Fatal("no key of 1..30 on s1")
	}
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("UPDATE reloaded SET v = 1 WHERE k = %d", key)); err != nil {
		t.Fatal(err)
	}

	scatter := connect(t, p.DSN("app", "app-secret"))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var n int
		err := scatter.QueryRow(ctx, "SELECT count(*) FROM reloaded").Scan(&n)
		done <- result{n, err}
	}()
	time.Sleep(500 * time.Millisecond) // it holds s0's connection and waits for s1's
	select {
	case r := <-done:
		t.Fatalf("the statement over every shard did not wait for s1: %d %v", r.n, r.err)
	default:
	}

	// Move s1's primary to a relay in front of the same server.
	addr := sharded.Shards[1].Primary.Addr()
	link := pgshardtest.NewLink(t, addr)
	host, port, _ := net.SplitHostPort(addr)
	lhost, lport, _ := net.SplitHostPort(link.Addr)
	moved := strings.Replace(shards, "primary: {host: "+host+", port: "+port+",", "primary: {host: "+lhost+", port: "+lport+",", 1)
	if changed, err := p.Reload(t, pgshardYAML(moved, pool)); err != nil || !strings.Contains(strings.Join(changed, ","), "nodes") {
		t.Fatalf("reload: %v %v", changed, err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.n != 30 {
			t.Fatalf("statement over every shard across the reload: %d, %v; want 30", r.n, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the statement over every shard still waits after the reload")
	}
	if link.Accepted() == 0 {
		t.Error("the statement did not run on s1's new address")
	}
	// The transaction that held s1 finishes where it began.
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit of the transaction from before the reload: %v", err)
	}
}
