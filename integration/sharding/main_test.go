package sharding_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/cluster"
	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/shard"
)

// sharded holds three shards behind pgshard; single is one unsharded
// PostgreSQL that gets the same data directly: the reference answer.
var sharded, single *cluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	var err error
	if sharded, err = cluster.Start(ctx, cluster.Spec{Shards: 3}); err != nil {
		fmt.Fprintln(os.Stderr, "start sharded cluster:", err)
		os.Exit(1)
	}
	if single, err = cluster.Start(ctx, cluster.Spec{Shards: 1}); err != nil {
		fmt.Fprintln(os.Stderr, "start reference server:", err)
		_ = sharded.Terminate(ctx)
		os.Exit(1)
	}
	code := m.Run()
	for _, c := range []*cluster.Cluster{sharded, single} {
		if err := c.Terminate(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "terminate cluster:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// startPgshard runs pgshard over the sharded cluster with the test schema's
// table roles. extra lines go at the top of the configuration; a "pool:"
// line among them replaces the default pool settings.
func startPgshard(t testing.TB, extra ...string) *pgshardtest.Proxy {
	return startPgshardOver(t, sharded, extra...)
}

// startPgshardOver is startPgshard over another cluster.
func startPgshardOver(t testing.TB, c *cluster.Cluster, extra ...string) *pgshardtest.Proxy {
	return pgshardtest.Start(t, pgshardYAML(pgshardtest.ShardsYAML(c), extra...))
}

// pgshardYAML is the configuration startPgshard serves, with shards (as
// pgshardtest.ShardsYAML writes them) for its shard list.
func pgshardYAML(shards string, extra ...string) func(listen string) string {
	pool := "pool: {size: 8, queue_timeout: 10s}"
	if i := slices.IndexFunc(extra, func(l string) bool { return strings.HasPrefix(l, "pool:") }); i >= 0 {
		pool, extra = extra[i], slices.Delete(slices.Clone(extra), i, i+1)
	}
	// A "keyless_writes:" line goes into the database's sharding section.
	keyless := ""
	if i := slices.IndexFunc(extra, func(l string) bool { return strings.HasPrefix(l, "keyless_writes:") }); i >= 0 {
		keyless, extra = "\n      "+extra[i], slices.Delete(slices.Clone(extra), i, i+1)
	}
	return func(listen string) string {
		return fmt.Sprintf(`listen: %s
%s
%s
users:
  - name: app
    password: app-secret
databases:
  - name: app
    server_database: postgres
    server_user: postgres
    server_password: %s
    sharding:
      tables:
        - {name: users, key: user_id}
        - {name: orders, key: user_id}
        - {name: placed, key: k}
        - {name: tp, key: k}
        - {name: bincopy, key: k}
        - {name: ex, key: k}
        - {name: jaccounts, key: id}
        - {name: jledger, key: id}
        - {name: positional, key: k}
        - {name: curs, key: k}
        - {name: archive, key: user_id}
        - {name: reloaded, key: k}
        - {name: txr, key: k}
        - {name: dumped_users, key: user_id}
        - {name: dumped_orders, key: user_id}
        - {name: pgbench_accounts, key: aid}
        - {name: metered, key: k}
        - {name: term, key: k}
        - {name: pgbench_history, key: aid}
        - {name: mistyped, key: k}
        - {name: mistyped_text, key: k, key_type: text}
        - {name: fnorders, key: user_id}
        - {name: fnusers, key: user_id}
        - {name: seqorders, key: user_id}
        - {name: staged, key: k}
        - {name: staged_marks, key: k}
        - {name: staged_big, key: k}
        - {name: staged_mid, key: k}
        - {name: staged_kinds, key: k}
        - {name: swrite, key: k}
        - {name: swrite_marks, key: k}
        - {name: swrite_events, key: k}
        - {name: kmove, key: k}
        - {name: kmove_child, key: k}
        - {name: kmove_owner, key: k}
        - {name: kmove_owned, key: k}
        - {name: kmove_part, key: k}
        - {name: kmove_inh, key: k}
        - {name: proto, key: k}
        - {name: downparse, key: k}
        - {name: gk_serial, key: id}
        - {name: gk_identity, key: id}
        - {name: gk_uuid, key: id, key_type: uuid}
        - {name: gk_plain, key: id}
        - {name: gk_later, key: id}
        - {name: pyacc, key: id}
        - {name: pyledger, key: id}
        - {name: apacc, key: id}
        - {name: apledger, key: id}
        - {name: p2acc, key: id}
        - {name: dj_customer, key: id}
        - {name: dj_order, key: customer_id}
        - {name: ar_customer, key: id}
        - {name: ar_order, key: customer_id}
      reference_tables: [countries, dumped_countries, swrite_codes, dj_country]%s
      functions:
        - {name: place_order, key_arg: 1, table: fnorders}
        - {name: restock, key_arg: 2, table: fnorders}
        - {name: order_count, key_arg: 1, table: fnorders}
        - {name: jdeposit, key_arg: 1, table: jaccounts}
        - {name: jopen, key_arg: 1, table: jaccounts}
%s`, listen, strings.Join(extra, "\n"), pool, cluster.Password, keyless, shards)
	}
}

func connect(t testing.TB, dsn string) *pgx.Conn { return pgshardtest.Connect(t, dsn) }

// eventually runs check until it returns nil, failing the test with its
// last error once d has passed: for what pgshard learns from the catalogs
// in a round after DDL, which the session that sent the DDL waits for only
// up to 2 s, and a loaded machine may finish later.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// textColumn runs a query whose answer is one text column (an EXPLAIN's
// QUERY PLAN, say) and returns its values.
func textColumn(t *testing.T, conn *pgx.Conn, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(ctxFor(t, 30*time.Second), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return lines
}

func ctxFor(t testing.TB, d time.Duration) context.Context { return pgshardtest.Context(t, d) }

// execOnEach runs the statements, in order, on each connection: the same
// schema set up through pgshard and on the reference server.
func execOnEach(ctx context.Context, t testing.TB, conns []*pgx.Conn, stmts ...string) {
	t.Helper()
	for _, c := range conns {
		for _, q := range stmts {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
}

// placedKeys reads table's shard key column (k unless named) directly on
// every shard of the sharded cluster, reports any key found on a shard that
// does not own it, and returns all keys found.
func placedKeys(ctx context.Context, t *testing.T, table string, column ...string) []int64 {
	t.Helper()
	col := "k"
	if len(column) > 0 {
		col = column[0]
	}
	return placedKeysIn(ctx, t, "", table, col)
}

// placedKeysIn is placedKeys in database db of the shards ("" for the
// one the package's tests use).
func placedKeysIn(ctx context.Context, t *testing.T, db, table, col string) []int64 {
	t.Helper()
	m := shard.EqualMap(len(sharded.Shards))
	var all []int64
	for i, sh := range sharded.Shards {
		dsn := sh.Primary.DSN()
		if db != "" {
			dsn = strings.Replace(dsn, "/postgres?", "/"+db+"?", 1)
		}
		rows, err := connect(t, dsn).Query(ctx, `SELECT `+col+` FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			if owner := m.Lookup(shard.HashInt(key)); int(owner) != i {
				t.Errorf("key %d of %s is on shard %d, owned by shard %d", key, table, i, owner)
			}
		}
		all = append(all, keys...)
	}
	return all
}

// queryRows runs q and returns each row's values printed on one line, and
// the command tag.
func queryRows(ctx context.Context, t *testing.T, c *pgx.Conn, q string, args ...any) ([]string, string) {
	t.Helper()
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out, rows.CommandTag().String()
}
