package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

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
		"a statement over several shards failing on one": {
			{'a', "BEGIN"},
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', "SAVEPOINT s"},
			{'a', fmt.Sprintf("UPDATE txr SET v = v + 1 WHERE k = %d", k[1])},
			{'a', fmt.Sprintf("UPDATE txr SET v = 10 / (v - 1) WHERE k IN (%d, %d, %d)", k[0], k[1], k[2])},
			{'a', fmt.Sprintf("SELECT v FROM txr WHERE k = %d", k[1])},
			{'a', fmt.Sprintf("SELECT v FROM txr WHERE k = %d", k[2])},
			{'a', "SELECT count(*) FROM txr"},
			{'a', "ROLLBACK TO s"},
			{'a', all},
			{'a', fmt.Sprintf("UPDATE txr SET v = v * 10 WHERE k IN (%d, %d)", k[1], k[2])},
			{'a', "COMMIT"},
			{'b', all},
		},
		"COMMIT after a statement over several shards failed on one": {
			{'a', "BEGIN"},
			{'a', fmt.Sprintf("INSERT INTO txr (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2])},
			{'a', fmt.Sprintf("UPDATE txr SET v = v + 1 WHERE k = %d", k[2])},
			{'a', fmt.Sprintf("UPDATE txr SET v = 10 / (v - 1) WHERE k IN (%d, %d, %d)", k[0], k[1], k[2])},
			{'a', fmt.Sprintf("UPDATE txr SET v = v + 1 WHERE k = %d", k[2])},
			{'a', "COMMIT"},
			{'b', all},
		},
		"READ ONLY after writing on several shards": {
			{'a', "BEGIN"},
			{'a', ins(k[0], 1)},
			{'a', ins(k[1], 2)},
			{'a', "SET TRANSACTION READ ONLY"},
			{'a', ins(k[2], 3)},
			{'a', "ROLLBACK TO SAVEPOINT none"},
			{'a', "COMMIT"},
			{'a', "BEGIN"},
			{'a', fmt.Sprintf("UPDATE txr SET v = v + 10 WHERE k IN (%d, %d)", k[0], k[1])},
			{'a', "SELECT k FROM txr ORDER BY k FOR UPDATE"},
			{'a', "START TRANSACTION READ ONLY"},
			{'a', "SELECT count(*) FROM txr"},
			{'a', "COMMIT"},
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
	runScenarios(t, scenarios, func(ctx context.Context, t *testing.T, p *pgshardtest.Proxy) {
		t.Run("a statement over several shards failing inside a batch", func(t *testing.T) {
			failingInABatch(ctx, t, p, k)
		})
		t.Run("a shard lost mid-transaction", func(t *testing.T) {
			savepointOnALostShard(ctx, t, p, k)
		})
	})
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

// failingInABatch: in a transaction, a pipelined batch (one Sync) runs a
// statement on one shard, then one over several shards that fails on
// another: the transaction is failed on every shard, the one the batch
// was on included, so nothing after it runs and nothing is committed.
func failingInABatch(ctx context.Context, t *testing.T, p *pgshardtest.Proxy, k []int64) {
	conn := connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS txr", "CREATE TABLE txr (k bigint PRIMARY KEY, v int NOT NULL)",
		fmt.Sprintf("INSERT INTO txr VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2]), "BEGIN",
		fmt.Sprintf("UPDATE txr SET v = v + 100 WHERE k = %d", k[2]))
	b := &pgx.Batch{}
	b.Queue(`UPDATE txr SET v = v + 10 WHERE k = $1`, k[1])
	b.Queue(`UPDATE txr SET v = 10 / (v - 1) WHERE k = ANY($1)`, []int64{k[0], k[1], k[2]})
	var pe *pgconn.PgError
	if err := conn.SendBatch(ctx, b).Close(); !errors.As(err, &pe) || pe.Code != "22012" {
		t.Fatalf("the batch: %v, want 22012", err)
	}
	for _, key := range []int64{k[1], k[2]} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT v FROM txr WHERE k = %d", key)); !errors.As(err, &pe) || pe.Code != "25P02" {
			t.Errorf("a read of key %d after the failed batch: %v, want 25P02", key, err)
		}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	rows, _ := queryRows(ctx, t, conn, "SELECT v FROM txr ORDER BY v")
	if fmt.Sprint(rows) != "[1 2 3]" {
		t.Errorf("after COMMIT of the failed transaction: %v, want nothing of it", rows)
	}
}
