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
	"github.com/pgshard/pgshard/shard"
)

// keysOnShards returns one key owned by each shard, distinct from avoid.
func keysOnShards(start int64) []int64 {
	m := shard.EqualMap(len(sharded.Shards))
	keys := make([]int64, len(sharded.Shards))
	found := 0
	for k := start; found < len(keys); k++ {
		if id := m.Lookup(shard.HashInt(k)); keys[id] == 0 {
			keys[id] = k
			found++
		}
	}
	return keys
}

// onShard counts rows of tp with key k directly on the shard owning k.
func rowsOnShard(ctx context.Context, t *testing.T, k int64) int {
	t.Helper()
	id := shard.EqualMap(len(sharded.Shards)).Lookup(shard.HashInt(k))
	conn := connect(t, sharded.Shards[id].Primary.DSN())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tp WHERE k = $1`, k).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// preparedLeft counts pgshard's prepared transactions on every shard.
func preparedLeft(ctx context.Context, t *testing.T) int {
	t.Helper()
	total := 0
	for _, sh := range sharded.Shards {
		conn := connect(t, sh.Primary.DSN())
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'pgshard:%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

func createTP(ctx context.Context, t *testing.T, conn *pgx.Conn) {
	for _, q := range []string{`DROP TABLE IF EXISTS tp`,
		`CREATE TABLE tp (k bigint NOT NULL, v int, note text, CONSTRAINT tp_v UNIQUE (v) DEFERRABLE INITIALLY DEFERRED)`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestTransactionsAcrossShards: a transaction that writes on several
// shards commits everywhere with two-phase commit or nowhere.
// Session pooling keeps a connection per shard the session used: one that
// a transaction reaches later must join the transaction too.
func TestTransactionsAcrossShards(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			transactionsAcrossShards(t, startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}"))
		})
	}
}

func transactionsAcrossShards(t *testing.T, p *pgshardtest.Proxy) {
	ctx := ctxFor(t, 2*time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	createTP(ctx, t, conn)
	k := keysOnShards(1000)

	t.Run("commit", func(t *testing.T) {
		for _, q := range []string{"BEGIN",
			fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 1)", k[0]),
			fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 2)", k[1]),
			fmt.Sprintf("UPDATE tp SET note = 'x' WHERE k = %d", k[2]),
			"COMMIT"} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if rowsOnShard(ctx, t, k[0]) != 1 || rowsOnShard(ctx, t, k[1]) != 1 {
			t.Fatal("a committed cross-shard transaction is missing rows")
		}
		if n := preparedLeft(ctx, t); n != 0 {
			t.Fatalf("%d prepared transactions left behind", n)
		}
	})
	t.Run("rollback", func(t *testing.T) {
		for _, q := range []string{"BEGIN",
			fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 11)", k[0]+100000),
			fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 12)", k[1]),
			"ROLLBACK"} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if rowsOnShard(ctx, t, k[1]) != 1 {
			t.Fatal("ROLLBACK kept a row")
		}
	})
	t.Run("a failure at commit rolls back every shard", func(t *testing.T) {
		// v is unique, checked at commit (uniqueness is per shard): v = 1
		// exists on shard 0, which commits in one phase as the
		// coordinator, and v = 2 on shard 1, which is prepared.
		for i, failing := range []struct {
			shard, v int
		}{{0, 1}, {1, 2}} {
			keys := keysOnShards(int64(5000 + 1000*i))
			other := 1 - failing.shard
			if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, %d)", keys[other], 100+i),
				fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, %d)", keys[failing.shard], failing.v)} {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			_, err := conn.Exec(ctx, "COMMIT")
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "23505" {
				t.Fatalf("COMMIT failing on shard %d: want 23505, got %v", failing.shard, err)
			}
			if rowsOnShard(ctx, t, keys[other]) != 0 {
				t.Fatalf("COMMIT failing on shard %d: shard %d kept its row", failing.shard, other)
			}
			if n := preparedLeft(ctx, t); n != 0 {
				t.Fatalf("%d prepared transactions left behind", n)
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("session after a failed commit: %v", err)
			}
		}
	})
	t.Run("pgx transaction with parameters", func(t *testing.T) {
		k3 := keysOnShards(9000)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, key := range k3 {
			if _, err := tx.Exec(ctx, `INSERT INTO tp (k, v, note) VALUES ($1, $2, $3)`, key, 9000+i, "pgx"); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for _, key := range k3 {
			if rowsOnShard(ctx, t, key) != 1 {
				t.Fatalf("key %d missing after commit", key)
			}
		}
	})
	t.Run("multi-shard writes inside transactions, again and again", func(t *testing.T) {
		// More rounds than the pool has connections per shard: a round that
		// left a connection checked out would starve the next ones.
		for round := range 12 {
			k5 := keysOnShards(int64(30000 + 1000*round))
			end := []string{"COMMIT", "ROLLBACK"}[round%2]
			for _, q := range []string{"BEGIN",
				fmt.Sprintf("UPDATE tp SET note = 'r' WHERE k = %d", k5[0]),
				fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, %d), (%d, %d), (%d, %d)", k5[0], 30000+3*round, k5[1], 30001+3*round, k5[2], 30002+3*round),
				end} {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("round %d: %s: %v", round, q, err)
				}
			}
			want := 1 - round%2
			for _, key := range k5 {
				if n := rowsOnShard(ctx, t, key); n != want {
					t.Fatalf("round %d (%s): key %d has %d rows, want %d", round, end, key, n, want)
				}
			}
		}
	})
	t.Run("one statement on several shards is atomic", func(t *testing.T) {
		k4 := keysOnShards(20000)
		// The second row's v collides with a row on its shard at commit.
		q := fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 501), (%d, 2), (%d, 503)", k4[0], k4[1], k4[2])
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Fatalf("want 23505, got %v", err)
		}
		for _, key := range k4 {
			if rowsOnShard(ctx, t, key) != 0 {
				t.Fatalf("key %d was inserted although the statement failed", key)
			}
		}
		q = fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 601), (%d, 602), (%d, 603)", k4[0], k4[1], k4[2])
		if tag, err := conn.Exec(ctx, q); err != nil || tag.RowsAffected() != 3 {
			t.Fatalf("%v %v", tag, err)
		}
	})
}

// TestInDoubtTransactionsAreResolved leaves prepared transactions as a
// crashed pgshard would, then starts pgshard: the one whose coordinator
// recorded the decision commits, the other rolls back.
func TestInDoubtTransactionsAreResolved(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	setup := startPgshard(t)
	createTP(ctx, t, connect(t, setup.DSN("app", "app-secret")))
	setup.Stop()

	k := keysOnShards(30000)
	direct := func(i int) *pgx.Conn { return connect(t, sharded.Shards[i].Primary.DSN()) }
	exec := func(c *pgx.Conn, qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	coord, other := direct(0), direct(1)
	exec(coord, `CREATE TABLE IF NOT EXISTS pgshard_2pc_decisions (gid text PRIMARY KEY, decided_at timestamptz NOT NULL DEFAULT now())`)
	// Decided: the coordinator committed (in one phase, as pgshard commits
	// it), the other shard is in doubt.
	exec(coord, "BEGIN", `INSERT INTO pgshard_2pc_decisions (gid) VALUES ('pgshard:0:decided')`,
		fmt.Sprintf("INSERT INTO tp (k, note) VALUES (%d, 'decided')", k[0]), "COMMIT")
	exec(other, "BEGIN", fmt.Sprintf("INSERT INTO tp (k, note) VALUES (%d, 'decided')", k[1]), "PREPARE TRANSACTION 'pgshard:0:decided'")
	// Undecided: both prepared (the coordinator is, when its transaction
	// made itself READ ONLY), no decision committed.
	exec(coord, "BEGIN", `INSERT INTO pgshard_2pc_decisions (gid) VALUES ('pgshard:0:undecided')`,
		fmt.Sprintf("INSERT INTO tp (k, note) VALUES (%d, 'undecided')", k[0]), "PREPARE TRANSACTION 'pgshard:0:undecided'")
	exec(other, "BEGIN", fmt.Sprintf("INSERT INTO tp (k, note) VALUES (%d, 'undecided')", k[1]), "PREPARE TRANSACTION 'pgshard:0:undecided'")

	startPgshard(t, "two_phase: {resolve_after: 1s, resolve_interval: 200ms}")
	deadline := time.Now().Add(30 * time.Second)
	for preparedLeft(ctx, t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d in-doubt transactions still prepared after 30s", preparedLeft(ctx, t))
		}
		time.Sleep(200 * time.Millisecond)
	}
	count := func(c *pgx.Conn, note string) int {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM tp WHERE note = $1`, note).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(other, "decided") != 1 {
		t.Error("the decided transaction was not committed on the in-doubt shard")
	}
	if count(coord, "undecided") != 0 || count(other, "undecided") != 0 {
		t.Error("the undecided transaction was not rolled back everywhere")
	}
}

// TestTransactionStartingOnSeveralShards: a transaction whose first
// statement runs on several shards (a split INSERT, DDL) starts on each
// of them with the client's own BEGIN — its isolation level included — and
// what it did is visible to its later statements, by either protocol.
func TestTransactionStartingOnSeveralShards(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	createTP(ctx, t, conn)
	k := keysOnShards(40000)

	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO tp (k, v) VALUES (%d, 1), (%d, 2), (%d, 3)", k[0], k[1], k[2]), pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT DISTINCT current_setting('transaction_isolation') FROM tp")
	if err != nil {
		t.Fatal(err)
	}
	levels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(levels) != 1 || levels[0] != "repeatable read" {
		t.Fatalf("isolation on the shards: %v %v, want only repeatable read", levels, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// DDL first, then rows into the new table, by the extended protocol
	// (pgx prepares: the statement is described inside the transaction).
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS positional`); err != nil {
		t.Fatal(err)
	}
	tx, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE positional (note text, k bigint NOT NULL, n int)`); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 6; i++ {
		if _, err := tx.Exec(ctx, `INSERT INTO positional VALUES ($1, $2, $3)`, "x", i, 1); err != nil {
			t.Fatalf("insert %d into the table the transaction created: %v", i, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(placedKeys(ctx, t, "positional")); n != 6 {
		t.Fatalf("%d rows on the shards, want 6", n)
	}
}

// TestTwoPhaseCommitWhateverTheClientsSearchPath: the commit decision is
// recorded on a connection that carries the client's settings, so a
// search_path that does not include the decisions table's schema (pg_dump
// sets it empty; an application may set its own) must not fail the commit.
// The first commit creates the table on every shard.
func TestTwoPhaseCommitWhateverTheClientsSearchPath(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	for _, sh := range sharded.Shards {
		mustExec(ctx, t, connect(t, sh.Primary.DSN()), `DROP TABLE IF EXISTS pgshard_2pc_decisions`)
	}
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	createTP(ctx, t, conn)
	k := keysOnShards(9100)
	for _, path := range []string{`SET search_path = pg_catalog`, `SELECT pg_catalog.set_config('search_path', '', false)`} {
		mustExec(ctx, t, conn, path)
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, key := range k {
				if _, err := tx.Exec(ctx, `INSERT INTO public.tp (k, v) VALUES ($1, NULL)`, key); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("after %s: %v", path, err)
		}
		mustExec(ctx, t, conn, `RESET search_path`)
	}
	for _, key := range k {
		if n := rowsOnShard(ctx, t, key); n != 2 {
			t.Errorf("key %d: %d rows on its shard, want 2", key, n)
		}
	}
	// The decisions table is on every shard, not only the coordinator's:
	// a pg_dump through pgshard locks it on every shard.
	for i, sh := range sharded.Shards {
		var exists bool
		err := connect(t, sh.Primary.DSN()).QueryRow(ctx, `SELECT to_regclass('pgshard_2pc_decisions') IS NOT NULL`).Scan(&exists)
		if err != nil || !exists {
			t.Errorf("shard %d: decisions table exists = %v (%v)", i, exists, err)
		}
	}
}
