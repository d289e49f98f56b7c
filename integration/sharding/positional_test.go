package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestInsertWithoutColumnList: INSERT INTO t VALUES (...) into a sharded
// table whose key is not its first column. pgshard reads the column order
// from a server, so each row lands on the shard owning the value in the
// key's position — by simple and extended protocol, one row or many, inside
// a transaction too — and keeps doing so after the column order changes
// behind its back (a column dropped directly on the shards). In session
// pooling with one connection per shard, the column order is read on the
// session's own connections.
func TestInsertWithoutColumnList(t *testing.T) {
	for _, pool := range []string{"pool: {size: 8, queue_timeout: 10s}", "pool: {mode: session, size: 1, queue_timeout: 3s}"} {
		t.Run(pool, func(t *testing.T) { insertWithoutColumnList(t, startPgshard(t, pool)) })
	}
}

func insertWithoutColumnList(t *testing.T, p *pgshardtest.Proxy) {
	ctx := ctxFor(t, 2*time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	execOnEach(ctx, t, []*pgx.Conn{conn},
		`DROP TABLE IF EXISTS positional`,
		`CREATE TABLE positional (note text, k bigint NOT NULL, n int)`)

	keys := keysOnShards(5000)
	var want []int64
	run := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// One row per statement, simple protocol: one key on each shard.
	for _, k := range keys {
		run(fmt.Sprintf(`INSERT INTO positional VALUES ('simple', %d, 1)`, k), pgx.QueryExecModeSimpleProtocol)
		want = append(want, k)
	}
	// One statement whose rows belong to every shard: split per shard.
	run(fmt.Sprintf(`INSERT INTO positional VALUES ('multi', %d, 2), ('multi', %d, 2), ('multi', %d, 2)`, keys[0]+100_000, keys[1]+100_000, keys[2]+100_000),
		pgx.QueryExecModeSimpleProtocol)
	want = append(want, keys[0]+100_000, keys[1]+100_000, keys[2]+100_000)
	// Extended protocol, the key a Bind parameter, prepared by pgx's cache.
	for i := int64(0); i < 30; i++ {
		run(`INSERT INTO positional VALUES ($1, $2, $3)`, "extended", 200_000+i, 3)
		want = append(want, 200_000+i)
	}
	// Inside a transaction that already holds a shard, and in a pipelined batch.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`SELECT count(*) FROM positional WHERE k = %d`, keys[1]),
		fmt.Sprintf(`INSERT INTO positional VALUES ('in tx', %d, 4)`, keys[1]+300_000),
	} {
		if _, err := tx.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, keys[1]+300_000)
	batch := &pgx.Batch{}
	for i := int64(0); i < 5; i++ {
		batch.Queue(`INSERT INTO positional VALUES ($1, $2, $3)`, "batch", 400_000+i, 5)
		want = append(want, 400_000+i)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatal(err)
	}
	checkPositional(ctx, t, want)

	// The column order changes on the shards without pgshard seeing the
	// DDL: the key is now the first column, and routing follows.
	for _, sh := range sharded.Shards {
		execOnEach(ctx, t, []*pgx.Conn{connect(t, sh.Primary.DSN())}, `ALTER TABLE positional DROP COLUMN note`)
	}
	for i := int64(0); i < 12; i++ {
		run(fmt.Sprintf(`INSERT INTO positional VALUES (%d, 6)`, 500_000+i), pgx.QueryExecModeSimpleProtocol)
		run(`INSERT INTO positional VALUES ($1, $2)`, 600_000+i, 7)
		want = append(want, 500_000+i, 600_000+i)
	}
	checkPositional(ctx, t, want)

	// Rows pgshard cannot place are refused with the reason, and the
	// session goes on.
	for q, code := range map[string]string{
		`INSERT INTO positional VALUES (NULL, 1)`:  "23502",
		`INSERT INTO positional VALUES (1 + 1, 1)`: "0A000",
		`INSERT INTO positional VALUES (DEFAULT)`:  "0A000",
	} {
		_, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("%s: %v, want SQLSTATE %s", q, err, code)
		}
	}
	checkPositional(ctx, t, want)
}

// checkPositional reads every shard directly: each key in want sits once,
// on the shard owning its hash, and there is nothing else.
func checkPositional(ctx context.Context, t *testing.T, want []int64) {
	t.Helper()
	got := slices.Sorted(slices.Values(placedKeys(ctx, t, "positional")))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("keys on the shards:\n%v\nwant:\n%v", got, want)
	}
}
