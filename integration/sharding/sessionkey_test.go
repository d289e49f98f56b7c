package sharding_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSessionShardKey: SET pgshard.shard_key routes statements that name
// no key (a scatter read, a keyless UPDATE) to that key's shard; statements
// with their own key ignore it; SET LOCAL lasts until the transaction ends.
func TestSessionShardKey(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	createTP(ctx, t, conn)
	k := keysOnShards(40000)
	for i, key := range k {
		if _, err := conn.Exec(ctx, `INSERT INTO tp (k, v, note) VALUES ($1, $2, 'same')`, key, 40000+i); err != nil {
			t.Fatal(err)
		}
	}
	simple := pgx.QueryExecModeSimpleProtocol
	count := func(mode pgx.QueryExecMode) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM tp WHERE note = 'same'`, mode).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(simple); n != 3 {
		t.Fatalf("without a session key: %d rows, want 3 (one per shard)", n)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`SET pgshard.shard_key = '%d'`, k[1]), simple); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := count(simple), count(pgx.QueryExecModeCacheStatement); n1 != 1 || n2 != 1 {
		t.Fatalf("with pgshard.shard_key: %d and %d rows, want 1 (shard 1's)", n1, n2)
	}
	// A keyless UPDATE, refused otherwise, runs on the key's shard.
	if tag, err := conn.Exec(ctx, `UPDATE tp SET note = 'touched' WHERE note = 'same'`, simple); err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("keyless UPDATE with a session key: %v %v", tag, err)
	}
	// A statement with its own key is not redirected.
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM tp WHERE k = $1`, k[2]).Scan(&v); err != nil || v != 40002 {
		t.Fatalf("a keyed read under a session key: %d %v", v, err)
	}
	if _, err := conn.Exec(ctx, `RESET pgshard.shard_key`, simple); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE tp SET note = 'x'`, simple); err == nil {
		t.Fatal("after RESET a keyless UPDATE was not refused")
	}
	// SET LOCAL ends with the transaction.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`SET LOCAL pgshard.shard_key = '%d'`, k[0]), simple); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM tp WHERE note = 'same'`, simple).Scan(&n); err != nil || n != 1 {
		t.Fatalf("SET LOCAL inside the transaction: %d %v", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(simple); n != 2 {
		t.Fatalf("after the transaction: %d rows, want 2 (SET LOCAL over, shard 1's row updated)", n)
	}
}
