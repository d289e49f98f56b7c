package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/shard"
)

// TestQueryStringsOverShards sends query strings whose statements need
// different shards — a migration file sent as one query, a script's
// BEGIN ... COMMIT, SET before a read over every shard — through pgshard
// and to one PostgreSQL holding the same rows, and checks the answers are
// the same: each statement's result, the error that stops the string (and
// where it points), the transaction state after it, the warnings, and what
// was committed or rolled back.
func TestQueryStringsOverShards(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through, direct := loadedPair(ctx, t, p)
	viaProxy, viaProxyNotices := noticeConn(ctx, t, p.DSN("app", "app-secret"))
	ref, refNotices := noticeConn(ctx, t, single.Shards[0].Primary.DSN())
	// Keys 1, 6 and 9 (and 2, 8 and 10) are on every shard, so each
	// string below needs several.
	m := shard.EqualMap(len(sharded.Shards))
	for _, keys := range [][]int64{{1, 6, 9}, {2, 8, 10}} {
		owners := map[shard.ShardID]bool{}
		for _, k := range keys {
			owners[m.Lookup(shard.HashInt(k))] = true
		}
		if len(owners) != len(sharded.Shards) {
			t.Fatalf("keys %v are on %d of %d shards", keys, len(owners), len(sharded.Shards))
		}
	}
	for _, tc := range []struct {
		name string
		sqls []string // sent in turn; the last one's answer is compared too
	}{
		{"statements over several shards commit together", []string{
			`UPDATE users SET score = score + 1 WHERE user_id IN (1, 6, 9, 2, 8, 10); SELECT user_id, score FROM users WHERE user_id IN (1, 6, 9, 2, 8, 10) ORDER BY 1; SELECT count(*), sum(score) FROM users`}},
		{"an error rolls back the statements before it", []string{
			`UPDATE users SET score = 0 WHERE user_id IN (1, 6, 9, 2, 8, 10); INSERT INTO users (user_id, name) VALUES (7, 'taken')`}},
		{"the error's position counts from the start of the string", []string{
			`UPDATE users SET name = 'n' WHERE user_id IN (1, 6, 9, 2, 8, 10);   SELECT no_such_column FROM users WHERE user_id = 3`}},
		{"a migration file sent as one query", []string{
			`CREATE TABLE qs_notes (id bigint PRIMARY KEY, body text); CREATE INDEX qs_notes_body ON qs_notes (body); INSERT INTO qs_notes VALUES (1, 'x'), (2, 'y'); ALTER TABLE users ADD COLUMN qs_flag boolean DEFAULT false`,
			`SELECT count(*) FROM qs_notes; SELECT user_id, qs_flag FROM users WHERE user_id IN (1, 6, 9, 2, 8, 10) ORDER BY 1`}},
		{"a migration that fails leaves nothing behind", []string{
			`CREATE TABLE qs_half (id int); ALTER TABLE users ADD COLUMN qs_flag2 int; ALTER TABLE users ADD COLUMN user_id int`,
			`SELECT count(*) FROM pg_class WHERE relname = 'qs_half'`}},
		{"a script's own transaction block", []string{
			`BEGIN; UPDATE users SET score = 7 WHERE user_id IN (1, 6, 9, 2, 8, 10); DELETE FROM orders WHERE user_id IN (1, 6, 9); COMMIT`}},
		{"an error inside a script's transaction block leaves it failed", []string{
			`BEGIN; UPDATE users SET score = 8 WHERE user_id IN (1, 6, 9, 2, 8, 10); SELECT 1 / 0; COMMIT`,
			`ROLLBACK`}},
		{"COMMIT ends the implicit transaction, with PostgreSQL's warning", []string{
			`INSERT INTO users (user_id, name) VALUES (5001, 'a'), (5002, 'b'); COMMIT; INSERT INTO users (user_id, name) VALUES (5001, 'again')`}},
		{"BEGIN makes the implicit transaction the client's", []string{
			`UPDATE users SET score = 1 WHERE user_id IN (1, 6, 9); BEGIN; UPDATE users SET score = 2 WHERE user_id IN (2, 8, 10); SELECT sum(score) FROM users`,
			`COMMIT`}},
		{"savepoints need a transaction block", []string{
			`SAVEPOINT s1; SELECT count(*) FROM users`}},
		{"inside the client's transaction", []string{
			`BEGIN`,
			`UPDATE users SET score = 3 WHERE user_id IN (1, 6, 9, 2, 8, 10); SELECT count(*) FROM users WHERE score = 3`,
			`ROLLBACK`}},
		{"a string that commits the client's transaction from another shard", []string{
			`BEGIN; SHOW statement_timeout`,
			`SELECT name FROM users WHERE user_id = 8; COMMIT; RELEASE SAVEPOINT sp`,
			`SAVEPOINT sp; SHOW statement_timeout`}},
		{"after a failed transaction, ROLLBACK in a string", []string{
			`BEGIN; SELECT 1 / 0`,
			`ROLLBACK; SELECT name FROM users WHERE user_id IN (1, 6, 9) ORDER BY name; RELEASE SAVEPOINT sp`}},
		{"settings before a read over every shard", []string{
			`SET statement_timeout = '5s'; SELECT count(*) FROM users; SHOW statement_timeout`,
			`RESET statement_timeout`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			*viaProxyNotices, *refNotices = nil, nil
			for _, sql := range tc.sqls {
				want := runString(ctx, ref, sql)
				got := runString(ctx, viaProxy, sql)
				if got != want {
					t.Errorf("%s\ngot:  %s\nwant: %s", sql, got, want)
				}
			}
			if !slices.Equal(*viaProxyNotices, *refNotices) {
				t.Errorf("notices %q, want %q", *viaProxyNotices, *refNotices)
			}
			sameUsersAndOrders(ctx, t, through, direct)
		})
	}
	for _, sql := range []string{`DROP TABLE IF EXISTS qs_notes, qs_half`, `ALTER TABLE users DROP COLUMN IF EXISTS qs_flag`} {
		for _, c := range []*pgx.Conn{through, direct} {
			if _, err := c.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRandomQueryStringsMatchOnePostgres sends strings of random
// statements — reads and writes on one shard or several, SET, SHOW,
// transaction control, savepoints, statements that fail — one after the
// other on one session through pgshard and on one to a PostgreSQL holding
// the same rows, so each string meets the state the last ones left, and
// checks every answer, the notices and, at the end, the tables.
func TestRandomQueryStringsMatchOnePostgres(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) {
			ctx := ctxFor(t, 3*time.Minute)
			p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
			through, direct := loadedPair(ctx, t, p)
			viaProxy, viaProxyNotices := noticeConn(ctx, t, p.DSN("app", "app-secret"))
			ref, refNotices := noticeConn(ctx, t, single.Shards[0].Primary.DSN())
			r := rand.New(rand.NewPCG(11, 5))
			statements := []string{
				"SELECT count(*), sum(score) FROM users",
				"SELECT user_id, score FROM users WHERE user_id IN (1, 6, 9) ORDER BY 1",
				"SELECT name FROM users WHERE user_id = 8",
				"UPDATE users SET score = score + 1 WHERE user_id IN (1, 6, 9, 2)",
				"UPDATE users SET score = score * 2 WHERE user_id = 10",
				"DELETE FROM orders WHERE user_id IN (2, 8) AND status = 'new'",
				"INSERT INTO orders (order_id, user_id, amount, status) VALUES (90001, 1, 5, 'x'), (90002, 9, 6, 'x') ON CONFLICT DO NOTHING",
				"SET statement_timeout = '7s'", "SHOW statement_timeout",
				"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT sp", "ROLLBACK TO SAVEPOINT sp", "RELEASE SAVEPOINT sp",
				"SELECT 1 / 0", "SELECT no_col FROM users WHERE user_id = 6", "INSERT INTO users (user_id, name) VALUES (9, 'dup')",
				"SELECT count(*) FROM (SELECT DISTINCT country FROM users) t",
				"SELECT * FROM (SELECT user_id FROM users ORDER BY balance DESC NULLS LAST, user_id) t LIMIT 3",
				"SELECT 42",
			}
			for i := range 300 {
				parts := make([]string, 2+r.IntN(4))
				for j := range parts {
					parts[j] = statements[r.IntN(len(statements))]
				}
				sql := strings.Join(parts, "; ")
				*viaProxyNotices, *refNotices = nil, nil
				want := runString(ctx, ref, sql)
				if got := runString(ctx, viaProxy, sql); got != want {
					t.Fatalf("string %d: %s\ngot:  %s\nwant: %s", i, sql, got, want)
				}
				if !slices.Equal(*viaProxyNotices, *refNotices) {
					t.Fatalf("string %d: %s: notices %q, want %q", i, sql, *viaProxyNotices, *refNotices)
				}
			}
			runString(ctx, ref, "ROLLBACK")
			runString(ctx, viaProxy, "ROLLBACK")
			sameUsersAndOrders(ctx, t, through, direct)
		})
	}
}

// sameUsersAndOrders checks that users and orders hold the same rows through
// pgshard and on the reference server.
func sameUsersAndOrders(ctx context.Context, t *testing.T, through, direct *pgx.Conn) {
	t.Helper()
	for _, table := range []string{"users", "orders"} {
		q := query{sql: "SELECT * FROM " + table}
		want, werr := run(ctx, direct, q)
		got, gerr := run(ctx, through, q)
		if werr != nil || gerr != nil {
			t.Fatalf("reading %s: %v, %v", table, werr, gerr)
		}
		if diff := compare(want, got, false); diff != "" {
			t.Errorf("%s differs afterwards: %s", table, diff)
		}
	}
}

// runString sends sql as one simple query and describes its answer:
// each result's tag and rows, the error that ended it (code, message,
// position), and the transaction state after it.
func runString(ctx context.Context, c *pgx.Conn, sql string) string {
	results, err := c.PgConn().Exec(ctx, sql).ReadAll()
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "[%s", r.CommandTag)
		for _, row := range r.Rows {
			b.WriteString(" |")
			for _, v := range row {
				fmt.Fprintf(&b, " %s", v)
			}
		}
		b.WriteString("] ")
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		fmt.Fprintf(&b, "error %s %q at %d ", pe.Code, pe.Message, pe.Position)
	} else if err != nil {
		fmt.Fprintf(&b, "error %v ", err)
	}
	fmt.Fprintf(&b, "tx %c", c.PgConn().TxStatus())
	return b.String()
}

// noticeConn connects to dsn and collects the notices it receives.
func noticeConn(ctx context.Context, t *testing.T, dsn string) (*pgx.Conn, *[]string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	notices := new([]string)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		*notices = append(*notices, n.Severity+" "+n.Code+" "+n.Message)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, notices
}
