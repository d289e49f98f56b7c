package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/shard"
)

// fnSchema is the routed functions' schema (sharding.functions in
// pgshardYAML): place_order and restock write rows of their key argument,
// order_count reads them.
var fnSchema = []string{
	`DROP TABLE IF EXISTS fnorders, fnusers`,
	`CREATE TABLE fnorders (user_id bigint NOT NULL, item text NOT NULL, qty int NOT NULL)`,
	`CREATE TABLE fnusers (user_id bigint PRIMARY KEY)`,
	`CREATE OR REPLACE FUNCTION place_order(uid bigint, it text, q int DEFAULT 1) RETURNS bigint LANGUAGE sql
	   AS $$ INSERT INTO fnorders VALUES (uid, it, q) RETURNING user_id $$`,
	`CREATE OR REPLACE PROCEDURE restock(it text, uid bigint, n int) LANGUAGE plpgsql
	   AS $$ BEGIN FOR i IN 1..n LOOP INSERT INTO fnorders VALUES (uid, it, i); END LOOP; END $$`,
	`CREATE OR REPLACE FUNCTION order_count(uid bigint) RETURNS bigint LANGUAGE sql STABLE
	   AS $$ SELECT count(*) FROM fnorders WHERE user_id = uid $$`,
}

// TestRoutedFunctionsWriteWhereTheirKeyLives: calls of functions and
// procedures routed by their key argument, through the simple and the
// extended protocol, in and out of transactions over several shards, leave
// every row on its key's shard, and the answers read back through pgshard
// (pinned calls, calls co-located with the rows of another table, scatter
// reads) are one PostgreSQL's.
func TestRoutedFunctionsWriteWhereTheirKeyLives(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	both := []*pgx.Conn{through, ref}
	execOnEach(ctx, t, both, fnSchema...)

	const users = 40
	for _, c := range both {
		for k := 1; k <= users; k++ {
			steps := []struct {
				q    string
				args []any
			}{
				{fmt.Sprintf("SELECT place_order(%d, 'book')", k), nil},
				{"SELECT place_order($1, $2, $3)", []any{int64(k), "pen", 3}},
				{"SELECT * FROM place_order($1::int, 'ink')", []any{int32(k)}},
				{fmt.Sprintf("CALL restock('cap', %d, 2)", k), nil},
				{"CALL restock($1, $2, $3)", []any{"nib", int64(k), 1}},
				{fmt.Sprintf("INSERT INTO fnusers VALUES (%d)", k), nil},
			}
			for _, s := range steps {
				if _, err := c.Exec(ctx, s.q, s.args...); err != nil {
					t.Fatalf("%s %v: %v", s.q, s.args, err)
				}
			}
		}
		// A transaction over several shards commits every call's rows.
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := users + 1; k <= users+6; k++ {
			if _, err := tx.Exec(ctx, "SELECT place_order($1, 'tx')", int64(k)); err != nil {
				t.Fatalf("in a transaction, key %d: %v", k, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		// A rolled-back one keeps none.
		tx, err = c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= 4; k++ {
			if _, err := tx.Exec(ctx, fmt.Sprintf("CALL restock('lost', %d, 1)", k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}

	keys := placedKeys(ctx, t, "fnorders", "user_id")
	if want := users*(1+1+1+2+1) + 6; len(keys) != want {
		t.Errorf("the shards hold %d rows of fnorders, want %d", len(keys), want)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"SELECT user_id, item, qty FROM fnorders ORDER BY 1, 2, 3", nil},
		{"SELECT order_count(7)", nil},
		{"SELECT order_count($1)", []any{int64(23)}},
		{"SELECT user_id, order_count(user_id) FROM fnusers ORDER BY user_id", nil},
		{"SELECT u.user_id, order_count(u.user_id) FROM fnusers u WHERE u.user_id IN (3, 17, 38) ORDER BY 1", nil},
	} {
		want, wantTag := queryRows(ctx, t, ref, q.sql, q.args...)
		got, gotTag := queryRows(ctx, t, through, q.sql, q.args...)
		if !slices.Equal(got, want) || gotTag != wantTag {
			t.Errorf("%s %v through pgshard:\n%v %s\nwant (one PostgreSQL):\n%v %s", q.sql, q.args, got, gotTag, want, wantTag)
		}
	}

	// A call pgshard cannot place is refused, and the session goes on.
	for _, q := range []struct{ sql, says string }{
		{"SELECT place_order(length('abc'), 'x')", "cannot route the call of place_order"},
		{"SELECT place_order(uid => 5, it => 'x')", "passed by name"},
		{"CALL restock('x', length('abc'), 1)", "cannot route the call of restock"},
		{"SELECT place_order(7, 'x'), place_order(8, 'y')", "different shards"},
	} {
		_, err := through.Exec(ctx, q.sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, q.says) {
			t.Errorf("%s: %v, want 0A000 saying %q", q.sql, err, q.says)
		}
	}
	if got, _ := queryRows(ctx, t, through, "SELECT order_count(7)"); len(got) != 1 {
		t.Errorf("after the refusals: %v", got)
	}
}

// TestFunctionsOnShardedTablesNeedTheirShard: a function whose body names
// a sharded table, called by a statement that names none, would run on the
// default shard alone (a count of one shard's rows, rows written where no
// lookup finds them). pgshard reads the functions' bodies from the catalog
// after DDL and refuses such a call with 0A000; a hint, a statement naming
// the sharded table, and functions that touch no sharded table run.
func TestFunctionsOnShardedTablesNeedTheirShard(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	c := connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, c, fnSchema...)
	mustExec(ctx, t, c,
		`INSERT INTO fnorders SELECT g, 'x', 1 FROM generate_series(1, 30) g`,
		`INSERT INTO fnusers SELECT g FROM generate_series(1, 30) g`,
		`CREATE OR REPLACE FUNCTION fnorders_free() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN length('fnorders_x'); END $$`,
		`CREATE OR REPLACE FUNCTION plain_answer() RETURNS int LANGUAGE sql AS 'SELECT 42'`,
		`CREATE OR REPLACE PROCEDURE drop_orders(uid bigint) LANGUAGE plpgsql AS $$ BEGIN DELETE FROM public.fnorders WHERE user_id = uid; END $$`,
		`CREATE OR REPLACE FUNCTION all_orders_atomic() RETURNS bigint LANGUAGE sql STABLE BEGIN ATOMIC SELECT count(*) FROM fnorders; END`,
		`CREATE OR REPLACE FUNCTION all_orders() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM FnOrders'`)

	// The session's next statement after DDL waits up to 2 s for the
	// catalog round; a loaded machine may take longer. all_orders, created
	// last and only reading, tells when the round has seen them all.
	refused := func(q string) error {
		_, err := c.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "sharded table fnorders") {
			return fmt.Errorf("%s: %v, want 0A000 naming fnorders", q, err)
		}
		return nil
	}
	eventually(t, 15*time.Second, func() error { return refused("SELECT all_orders()") })
	for _, q := range []string{
		"SELECT all_orders()",
		"SELECT all_orders_atomic()",
		"SELECT * FROM all_orders()",
		"CALL drop_orders(5)",
	} {
		_, err := c.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "sharded table fnorders") {
			t.Errorf("%s: %v, want 0A000 naming fnorders", q, err)
		}
	}
	// Named tables decide where a statement runs, and the call runs there.
	got, _ := queryRows(ctx, t, c, "SELECT user_id, all_orders() FROM fnusers WHERE user_id = 7")
	if want := fmt.Sprint(int64(7), int64(len(rowsOnShardOf(ctx, t, 7)))); len(got) != 1 || got[0] != want {
		t.Errorf("all_orders() pinned with fnusers.user_id = 7: %v, want [%s]", got, want)
	}
	// A hint is the way out, one shard at a time.
	var sum int64
	for i := range sharded.Shards {
		var n int64
		if err := c.QueryRow(ctx, fmt.Sprintf("/* pgshard: shard=%d */ SELECT all_orders()", i)).Scan(&n); err != nil {
			t.Fatalf("hinted to shard %d: %v", i, err)
		}
		sum += n
	}
	if sum != 30 {
		t.Errorf("all_orders() summed over the shards by hint: %d, want 30", sum)
	}
	// A word that only begins like a sharded table's name, and no table.
	for _, q := range []string{"SELECT fnorders_free()", "SELECT plain_answer()"} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	// Dropped, the function is the server's to report on again.
	mustExec(ctx, t, c, "DROP FUNCTION all_orders()")
	eventually(t, 15*time.Second, func() error {
		_, err := c.Exec(ctx, "SELECT all_orders()")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42883" {
			return fmt.Errorf("after DROP FUNCTION: %v, want 42883 from the server", err)
		}
		return nil
	})
}

// rowsOnShardOf returns the fnorders rows on the shard owning key k, read
// there directly.
func rowsOnShardOf(ctx context.Context, t *testing.T, k int64) []string {
	t.Helper()
	owner := shard.EqualMap(len(sharded.Shards)).Lookup(shard.HashInt(k))
	rows, _ := queryRows(ctx, t, connect(t, sharded.Shards[owner].Primary.DSN()), "SELECT item FROM fnorders")
	return rows
}
