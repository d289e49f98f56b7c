package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// TestSavepointsAcrossShards: SAVEPOINT, RELEASE and ROLLBACK TO work in
// a transaction whatever shards it reaches — before, while and after it
// spreads — as ORMs' nested transactions use them; errors inside them
// are recovered from as on one server. Each scenario runs through
// pgshard and on one PostgreSQL, by both protocols and in both pool
// modes, and the transcripts must match.
func TestSavepointsAcrossShards(t *testing.T) {
	k := keysOnShards(90000)
	ins := func(key int64, v int) string { return fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, %d)", key, v) }
	all := "SELECT k, v FROM txr ORDER BY k"
	scenarios := map[string][]step{
		"nested blocks on other shards": {
			{'a', "BEGIN"},
			{'a', "SAVEPOINT a"},
			{'a', ins(k[1], 1)},
			{'a', "RELEASE SAVEPOINT a"},
			{'a', "SAVEPOINT b"},
			{'a', ins(k[0], 2)},
			{'a', ins(k[2], 3)},
			{'a', all},
			{'a', "ROLLBACK TO SAVEPOINT b"},
			{'a', all},
			{'a', "COMMIT"},
			{'b', all},
		},
		"rolled back on a shard reached after the savepoint": {
			{'a', "BEGIN"},
			{'a', ins(k[0], 1)},
			{'a', "SAVEPOINT s"},
			{'a', ins(k[1], 2)},
			{'a', "SELECT count(*) FROM txr"},
			{'a', "ROLLBACK TO s"},
			{'a', all},
			{'a', ins(k[2], 3)},
			{'a', "COMMIT"},
			{'b', all},
		},
		"errors recovered from": {
			{'a', "BEGIN"},
			{'a', ins(k[0], 1)},
			{'a', ins(k[1], 2)},
			{'a', "SAVEPOINT s"},
			{'a', ins(k[1], 3)},
			{'a', "SELECT 1"},
			{'a', "ROLLBACK TO s"},
			{'a', "SAVEPOINT t"},
			{'a', "SELECT k / (v - v) FROM txr"},
			{'a', ins(k[2], 3)},
			{'a', "ROLLBACK WORK TO SAVEPOINT t"},
			{'a', ins(k[2], 4)},
			{'a', "RELEASE no_such_savepoint"},
			{'a', "ROLLBACK TRANSACTION TO t"},
			{'a', "RELEASE s"},
			{'a', "COMMIT"},
			{'b', all},
		},
		"SET LOCAL undone by ROLLBACK TO, on shards reached later too": {
			{'a', "BEGIN"},
			{'a', ins(k[0], 1)},
			{'a', "SAVEPOINT s"},
			{'a', "SET LOCAL statement_timeout = '3s'"},
			{'a', "SAVEPOINT t"},
			{'a', "SET LOCAL lock_timeout = '2s'"},
			{'a', "ROLLBACK TO s"},
			{'a', ins(k[1], 2)},
			{'a', "SELECT DISTINCT current_setting('statement_timeout') || current_setting('lock_timeout') FROM txr"},
			{'a', "ROLLBACK TO t"},
			{'a', "ROLLBACK"},
			{'b', all},
		},
		"savepoints before the first statement": {
			{'a', "BEGIN"},
			{'a', "SAVEPOINT outer_block"},
			{'a', "SAVEPOINT inner_block"},
			{'a', ins(k[2], 1)},
			{'a', "ROLLBACK TO inner_block"},
			{'a', ins(k[1], 2)},
			{'a', "RELEASE outer_block"},
			{'a', "COMMIT"},
			{'b', all},
		},
	}
	for _, pool := range []string{"transaction", "session"} {
		t.Run(pool+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, 2*time.Minute)
			p := startPgshard(t, "pool: {mode: "+pool+", size: 8, queue_timeout: 10s}")
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
				for name, steps := range scenarios {
					t.Run(fmt.Sprintf("%s/%v", name, mode), func(t *testing.T) {
						compareTranscripts(ctx, t, p, mode, steps)
					})
				}
			}
			t.Run("a shard lost mid-transaction", func(t *testing.T) {
				savepointOnALostShard(ctx, t, p, k)
			})
			if n := preparedLeft(ctx, t); n != 0 {
				t.Errorf("%d prepared transactions left behind", n)
			}
		})
	}
}

// savepointOnALostShard: a savepoint statement that fails on one shard
// of a transaction (its server connection was lost) fails the
// transaction on every shard, as one server's error would: the next
// statement, on a shard where the savepoint worked, is refused with
// 25P02, ROLLBACK ends it, and none of its rows remain.
func savepointOnALostShard(ctx context.Context, t *testing.T, p *pgshardtest.Proxy, k []int64) {
	conn := connect(t, p.DSN("app", "app-secret"))
	exec := func(q string) error {
		_, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	for _, q := range []string{"DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)", "BEGIN",
		fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1)", k[0]), fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 2)", k[1])} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var pid int
	if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT pg_backend_pid() FROM txr WHERE k = %d", k[1]), pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, sharded.Shards[1].Primary.DSN()).Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	if err := exec("SAVEPOINT s"); err == nil {
		t.Fatal("SAVEPOINT on a transaction whose connection to a shard is gone succeeded")
	}
	var pe *pgconn.PgError
	if err := exec(fmt.Sprintf("UPDATE txr SET v = 5 WHERE k = %d", k[0])); !errors.As(err, &pe) || pe.Code != "25P02" {
		t.Errorf("a statement after the failed SAVEPOINT: %v, want 25P02", err)
	}
	if err := exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM txr").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the ROLLBACK: %d rows (%v), want none", n, err)
	}
}
