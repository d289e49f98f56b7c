package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/shard"
)

// TestWithoutPreparedTransactions: on servers with max_prepared_transactions
// = 0, whatever needs two-phase commit across shards — a transaction that
// wrote on two shards, a multi-row INSERT or COPY split over shards, a
// pipelined batch, a write to a reference table — is refused with 0A000 and
// a message saying why, and leaves no row anywhere; everything that stays
// on one shard works, and the session carries on.
func TestWithoutPreparedTransactions(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	c, err := cluster.Start(ctx, cluster.Spec{Shards: 2, Settings: []string{"max_prepared_transactions=0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Terminate(context.Background()); err != nil {
			t.Errorf("terminate: %v", err)
		}
	})
	p := startPgshardOver(t, c)
	conn := connect(t, p.DSN("app", "app-secret"))
	execOnEach(ctx, t, []*pgx.Conn{conn},
		`CREATE TABLE tp (k bigint PRIMARY KEY, note text)`,
		`CREATE TABLE countries (code text PRIMARY KEY)`)

	// keys(from) is one key per shard, key i on shard i.
	m := shard.EqualMap(len(c.Shards))
	keys := func(from int64) [2]int64 {
		var k [2]int64
		for key, found := from, 0; found < 2; key++ {
			if id := m.Lookup(shard.HashInt(key)); k[id] == 0 {
				k[id], found = key, found+1
			}
		}
		return k
	}
	k := keys(1)
	refused := func(what string, err error) {
		t.Helper()
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "max_prepared_transactions") {
			t.Errorf("%s: %v, want 0A000 naming max_prepared_transactions", what, err)
		}
	}
	exec := func(q string) error {
		_, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		return err
	}

	// One shard: a transaction, savepoints included, commits as usual.
	for _, q := range []string{"BEGIN",
		fmt.Sprintf("INSERT INTO tp VALUES (%d, 'one shard')", k[0]),
		"SAVEPOINT s", fmt.Sprintf("UPDATE tp SET note = 'kept' WHERE k = %d", k[0]), "RELEASE s",
		"COMMIT"} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Reads on other shards (by key, and over every shard) and a SET LOCAL
	// join the transaction, but only the one shard it wrote on needs
	// committing atomically: no two-phase commit, by either protocol.
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{fmt.Sprintf("SELECT count(*) FROM tp WHERE k = %d", k[1]), "SET LOCAL statement_timeout = '5s'", "SELECT count(*) FROM tp",
			fmt.Sprintf("UPDATE tp SET note = note || '%d' WHERE k = %d", i, k[0]), "SELECT count(*) FROM tp"} {
			if _, err := tx.Exec(ctx, q, mode); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("COMMIT of a transaction that wrote on one shard and read on both (%v): %v", mode, err)
		}
	}
	var note string
	if err := conn.QueryRow(ctx, `SELECT note FROM tp WHERE k = $1`, k[0]).Scan(&note); err != nil || note != "kept01" {
		t.Fatalf("after both transactions the row says %q (%v), want kept01", note, err)
	}
	if err := exec(fmt.Sprintf("UPDATE tp SET note = 'kept' WHERE k = %d", k[0])); err != nil {
		t.Fatal(err)
	}

	// Two shards in one transaction: refused at COMMIT, nothing kept.
	for _, q := range []string{"BEGIN",
		fmt.Sprintf("INSERT INTO tp VALUES (%d, 'tx')", keys(1_000_000)[0]),
		fmt.Sprintf("INSERT INTO tp VALUES (%d, 'tx')", k[1])} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	refused("COMMIT of a transaction over two shards", exec("COMMIT"))

	// One statement over two shards.
	k2, k3 := keys(2_000_000), keys(3_000_000)
	refused("multi-row INSERT over two shards",
		exec(fmt.Sprintf("INSERT INTO tp VALUES (%d, 'multi'), (%d, 'multi')", k2[0], k2[1])))
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader(fmt.Sprintf("%d\tcopy\n%d\tcopy\n", k3[0], k3[1])), `COPY tp FROM STDIN`)
	refused("COPY over two shards", err)

	// A pipelined batch whose writes reach both shards.
	b := &pgx.Batch{}
	k4 := keys(4_000_000)
	b.Queue(`INSERT INTO tp VALUES ($1, 'batch')`, k4[0])
	b.Queue(`INSERT INTO tp VALUES ($1, 'batch')`, k4[1])
	refused("pipelined batch over two shards", conn.SendBatch(ctx, b).Close())

	// A reference table's copies must change together.
	refused("write to a reference table", exec(`INSERT INTO countries VALUES ('fr')`))

	// Nothing of the refused writes is anywhere, nothing is left prepared,
	// and the session still works.
	var rows []string
	for _, sh := range c.Shards {
		direct := connect(t, sh.Primary.DSN())
		r, err := direct.Query(ctx, `SELECT k || ' ' || note FROM tp UNION ALL SELECT code FROM countries`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(r, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, got...)
	}
	if want := []string{fmt.Sprintf("%d kept", k[0])}; strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("rows on the shards: %q, want %q", rows, want)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM tp`).Scan(&n); err != nil || n != 1 {
		t.Errorf("count through pgshard after the refusals: %d %v, want 1", n, err)
	}
}
