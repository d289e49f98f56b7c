package sharding_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
