package sharding_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// dumpTables are the tables of the dump scenario: two sharded on user_id
// (co-located, with a foreign key between them and a bigserial), one
// reference table and one unsharded table.
var dumpTables = []string{"dumped_orders", "dumped_users", "dumped_countries", "dumped_notes"}

// TestDumpRestoreThroughPgshard moves an existing database behind pgshard
// the way an operator would: pg_dump of the single server, restored
// through pgshard with pg_restore --single-transaction (every shard joins
// one transaction, COPYs included), with pg_restore -j 3 and with psql -1. pgshard splits each COPY
// by shard key, runs the DDL and constraints on every shard, and carries
// pg_dump's set_config of an empty search_path in transaction pooling.
// Then pg_dump through pgshard must give back the same dump: the same
// schema, every row once (reference rows too), and the sequence where the
// source left it.
func TestDumpRestoreThroughPgshard(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	ref := connect(t, single.Shards[0].Primary.DSN())
	through := connect(t, p.DSN("app", "app-secret"))
	drop := "DROP TABLE IF EXISTS " + strings.Join(dumpTables, ", ") + " CASCADE"
	execOnEach(ctx, t, []*pgx.Conn{ref, through}, drop)
	mustExec(ctx, t, ref,
		`CREATE TABLE dumped_countries (code text PRIMARY KEY, name text NOT NULL)`,
		`CREATE TABLE dumped_users (user_id bigint PRIMARY KEY, name text NOT NULL, note text, born date,
			country text REFERENCES dumped_countries)`,
		`CREATE TABLE dumped_orders (user_id bigint NOT NULL REFERENCES dumped_users, order_id bigserial,
			amount numeric(10,2), tags text[], PRIMARY KEY (user_id, order_id))`,
		`CREATE INDEX dumped_users_name ON dumped_users (name)`,
		`CREATE TABLE dumped_notes (id serial PRIMARY KEY, body jsonb)`,
		`INSERT INTO dumped_countries VALUES ('de', 'Deutschland'), ('fr', 'France'), ('jp', '日本')`,
		// Text that COPY must escape: tabs, newlines, backslashes, NULLs.
		`INSERT INTO dumped_users SELECT g, 'user ' || g || CASE g % 4 WHEN 0 THEN E'\ttab' WHEN 1 THEN E'\nline'
			WHEN 2 THEN E'back\\slash' ELSE ' ünïcödé' END, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END,
			date '1970-01-01' + g, (ARRAY['de', 'fr', 'jp'])[g % 3 + 1] FROM generate_series(1, 1500) g`,
		`INSERT INTO dumped_orders (user_id, amount, tags) SELECT g % 1500 + 1, g / 7.0, ARRAY['a' || g % 5, NULL]
			FROM generate_series(1, 4000) g`,
		`INSERT INTO dumped_notes (body) SELECT jsonb_build_object('n', g) FROM generate_series(1, 50) g`,
	)
	source := pgDump(ctx, t, single.Shards[0].Primary.DSN())

	// pg_restore of a custom-format dump, in one transaction over every
	// shard; then the plain dump with psql over it.
	custom := pgDump(ctx, t, single.Shards[0].Primary.DSN(), "--format=custom")
	restore := exec.CommandContext(ctx, "pg_restore", "--no-owner", "--single-transaction", "--exit-on-error", "-d", p.DSN("app", "app-secret"))
	restore.Stdin = strings.NewReader(custom)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore through pgshard: %v\n%s", err, out)
	}
	checkRestored(ctx, t, ref, through)
	mustExec(ctx, t, through, drop)
	// pg_restore -j: tables, data and indexes over parallel connections.
	dir := t.TempDir() + "/dir"
	pgDump(ctx, t, single.Shards[0].Primary.DSN(), "--format=directory", "-f", dir)
	restore = exec.CommandContext(ctx, "pg_restore", "--no-owner", "-j", "3", "--exit-on-error", "-d", p.DSN("app", "app-secret"), dir)
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore -j 3 through pgshard: %v\n%s", err, out)
	}
	checkRestored(ctx, t, ref, through)
	mustExec(ctx, t, through, drop)
	// And the plain dump with psql, in one transaction.
	psql := exec.CommandContext(ctx, "psql", p.DSN("app", "app-secret"), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-f", "-")
	psql.Stdin = strings.NewReader(source)
	if out, err := psql.CombinedOutput(); err != nil {
		t.Fatalf("restoring pg_dump's output through pgshard: %v\n%s", err, out)
	}
	checkRestored(ctx, t, ref, through)

	if got, want := canonicalDump(pgDump(ctx, t, p.DSN("app", "app-secret"))), canonicalDump(source); got != want {
		t.Errorf("pg_dump through pgshard differs from the source's dump:\n%s", firstDifference(got, want))
	}

	// A parallel dump shares the leader's snapshot, which is one shard's:
	// refused with a hint.
	args := []string{"--no-owner", "--no-privileges", "-j", "2", "-Fd", "-f", t.TempDir() + "/parallel", "-d", p.DSN("app", "app-secret")}
	for _, table := range dumpTables {
		args = append(args, "-t", table)
	}
	if out, err := exec.CommandContext(ctx, "pg_dump", args...).CombinedOutput(); err == nil || !strings.Contains(string(out), "without -j") {
		t.Errorf("pg_dump -j through pgshard: %v, want a refusal saying to dump without -j:\n%s", err, out)
	}
}

// checkRestored checks that every row of the scenario's tables sits on the
// shard owning it, and that each table reads through pgshard as it does on
// the source.
func checkRestored(ctx context.Context, t *testing.T, ref, through *pgx.Conn) {
	t.Helper()
	// Every row on the shard that owns it, and nowhere else.
	if n := len(placedKeys(ctx, t, "dumped_users", "user_id")); n != 1500 {
		t.Errorf("dumped_users: %d rows on the shards, want 1500", n)
	}
	if n := len(placedKeys(ctx, t, "dumped_orders", "user_id")); n != 4000 {
		t.Errorf("dumped_orders: %d rows on the shards, want 4000", n)
	}
	for _, q := range []string{
		`SELECT * FROM dumped_users ORDER BY user_id`,
		`SELECT * FROM dumped_orders ORDER BY user_id, order_id`,
		`SELECT * FROM dumped_countries ORDER BY code`,
		`SELECT * FROM dumped_notes ORDER BY id`,
	} {
		want, _ := queryRows(ctx, t, ref, q)
		got, _ := queryRows(ctx, t, through, q)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows through pgshard differ from the source's %d", q, len(got), len(want))
		}
	}
}

// pgDump runs pg_dump of the scenario's tables, without owners and
// privileges (pgshard's user differs from the source's).
func pgDump(ctx context.Context, t *testing.T, dsn string, options ...string) string {
	t.Helper()
	args := append([]string{"--no-owner", "--no-privileges", "-d", dsn}, options...)
	for _, table := range dumpTables {
		args = append(args, "-t", table)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "pg_dump", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump %s: %v\n%s", dsn, err, stderr.String())
	}
	return stdout.String()
}

// canonicalDump sorts the rows of each COPY block (a scatter returns each
// shard's rows in turn) and drops the \restrict lines, whose key is random
// per dump.
func canonicalDump(dump string) string {
	lines := strings.Split(dump, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, `\restrict `) || strings.HasPrefix(l, `\unrestrict `) {
			continue
		}
		out = append(out, l)
		if !strings.HasPrefix(l, "COPY ") {
			continue
		}
		end := i + 1
		for end < len(lines) && lines[end] != `\.` {
			end++
		}
		rows := slices.Clone(lines[i+1 : end])
		slices.Sort(rows)
		out = append(out, rows...)
		i = end - 1
	}
	return strings.Join(out, "\n")
}

// firstDifference shows where two texts part, with a little context.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		if lineAt(g, i) != lineAt(w, i) {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, lineAt(g, i), lineAt(w, i))
		}
	}
	return ""
}

// TestFullDumpThroughPgshard dumps a whole database, privileges,
// functions and types included, which pg_dump reads with SQL-level
// PREPARE and EXECUTE: restored through pgshard in transaction pooling
// over three shards, then dumped through pgshard again, it must give back
// the source's dump (pgshard's own decisions table left out).
func TestFullDumpThroughPgshard(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	const db = "dumpdb"
	p := pgshardOverNewDatabase(t, db, "",
		"      tables:",
		"        - {name: accounts, key: id}",
		"        - {name: entries, key: account_id}",
		"      reference_tables: [currencies]")
	src := connect(t, single.Shards[0].Primary.DSN())
	mustExec(ctx, t, src, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`, `CREATE DATABASE `+db+` TEMPLATE template0`)
	t.Cleanup(func() {
		_, _ = connect(t, single.Shards[0].Primary.DSN()).Exec(ctxFor(t, time.Minute), `DROP DATABASE `+db+` WITH (FORCE)`)
	})
	// The role the grants name exists on every server, as roles are
	// per cluster.
	role := `DO $$ BEGIN CREATE ROLE dump_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$`
	mustExec(ctx, t, src, role)
	for _, sh := range sharded.Shards {
		mustExec(ctx, t, connect(t, sh.Primary.DSN()), role)
	}
	srcDSN := strings.Replace(single.Shards[0].Primary.DSN(), "/postgres?", "/"+db+"?", 1)
	mustExec(ctx, t, connect(t, srcDSN),
		`CREATE TYPE kind AS ENUM ('debit', 'credit')`,
		`CREATE DOMAIN cents AS bigint CHECK (VALUE > -1000000000)`,
		`CREATE TABLE currencies (code text PRIMARY KEY, name text)`,
		`CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, currency text REFERENCES currencies)`,
		`CREATE TABLE entries (account_id bigint REFERENCES accounts, n int, kind kind NOT NULL, amount cents,
			PRIMARY KEY (account_id, n))`,
		`CREATE FUNCTION balance(a bigint) RETURNS bigint LANGUAGE sql STABLE
			AS $$ SELECT coalesce(sum(CASE kind WHEN 'credit' THEN amount ELSE -amount END), 0) FROM entries WHERE account_id = a $$`,
		`CREATE AGGREGATE total(bigint) (SFUNC = int8pl, STYPE = bigint, INITCOND = '0')`,
		`CREATE VIEW big_accounts AS SELECT id, owner FROM accounts WHERE id > 100`,
		`GRANT SELECT ON accounts, entries TO dump_reader`,
		`GRANT SELECT (owner) ON big_accounts TO dump_reader`,
		`GRANT EXECUTE ON FUNCTION balance(bigint) TO dump_reader`,
		`INSERT INTO currencies VALUES ('eur', 'Euro'), ('jpy', 'Yen')`,
		`INSERT INTO accounts SELECT g, 'owner ' || g, CASE WHEN g % 2 = 0 THEN 'eur' ELSE 'jpy' END FROM generate_series(1, 300) g`,
		`INSERT INTO entries SELECT g % 300 + 1, g, CASE WHEN g % 3 = 0 THEN 'debit'::kind ELSE 'credit' END, g * 10
			FROM generate_series(1, 900) g`,
	)
	dump := func(dsn string, extra ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "pg_dump", append([]string{"--no-owner", "-d", dsn}, extra...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("pg_dump %s: %v\n%s", dsn, err, stderr.String())
		}
		return stdout.String()
	}
	source := dump(srcDSN)
	psql := exec.CommandContext(ctx, "psql", p.DSN("app", "app-secret"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-")
	psql.Stdin = strings.NewReader(source)
	if out, err := psql.CombinedOutput(); err != nil {
		t.Fatalf("restoring the full dump through pgshard: %v\n%s", err, out)
	}
	if n := len(placedKeysIn(ctx, t, db, "accounts", "id")); n != 300 {
		t.Errorf("accounts: %d rows on the shards, want 300", n)
	}
	got := dump(p.DSN("app", "app-secret"), "--exclude-table=pgshard_2pc_decisions")
	if g, w := canonicalDump(got), canonicalDump(source); g != w {
		t.Errorf("full pg_dump through pgshard differs from the source's:\n%s", firstDifference(g, w))
	}
}
