package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/shard"
)

// TestShardDownFailsOnlyWhatNeedsIt: with one shard's primary stopped, a
// statement that needs it fails fast with an error naming the shard, a
// statement on another shard still works, and the session survives.
func TestShardDownFailsOnlyWhatNeedsIt(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{`DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint NOT NULL, src text NOT NULL)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	down := sharded.Shards[2].Primary
	if err := down.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := down.Start(ctx); err != nil {
			t.Errorf("restart shard 2: %v", err)
		}
	})
	keys := keysOnShards(77)
	m := shard.EqualMap(len(sharded.Shards))
	if m.Lookup(shard.HashInt(keys[2])) != 2 {
		t.Fatal("key helper is wrong")
	}
	start := time.Now()
	_, err := conn.Exec(ctx, `SELECT count(*) FROM placed`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "08") || !strings.Contains(pe.Message, "s2") {
		t.Fatalf("scatter with shard s2 down: want an 08xxx error naming s2, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the error took %v", d)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES ($1, 'up')`, keys[0]); err != nil {
		t.Fatalf("a statement on a healthy shard failed: %v", err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES ($1, 'a'), ($2, 'b')`, keys[0], keys[2])
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Code, "08") {
		t.Fatalf("split insert touching the down shard: want 08xxx, got %v", err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM placed WHERE k = $1`, keys[0]).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the failed split insert, shard 0 holds %d rows for its key (%v); want 1: the split must not apply partly", n, err)
	}
}
