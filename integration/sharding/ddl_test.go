package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestDDLRunsOnEveryShardAndReportsPartialFailure: DDL reaches every
// shard; when one shard refuses it, the error says which shards applied it.
func TestDDLRunsOnEveryShardAndReportsPartialFailure(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS ddl_everywhere, ddl_partial`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE ddl_everywhere (id int)`); err != nil {
		t.Fatal(err)
	}
	for i, sh := range sharded.Shards {
		var exists bool
		if err := connect(t, sh.Primary.DSN()).QueryRow(ctx, `SELECT to_regclass('ddl_everywhere') IS NOT NULL`).Scan(&exists); err != nil || !exists {
			t.Fatalf("shard %d: table missing (%v)", i, err)
		}
	}
	// Shard 1 already has the table: CREATE fails there only.
	if _, err := connect(t, sharded.Shards[1].Primary.DSN()).Exec(ctx, `CREATE TABLE ddl_partial (id int)`); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, `CREATE TABLE ddl_partial (id int)`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P07" {
		t.Fatalf("want 42P07 from shard s1, got %v", err)
	}
	if !strings.Contains(pe.Detail, "applied on shard(s) s0, s2") || !strings.Contains(pe.Detail, "failed on s1") {
		t.Fatalf("the error does not say where the DDL applied: detail %q", pe.Detail)
	}
}

// TestRouteAdminStatement asks pgshard over psql's protocol where
// statements would go.
func TestRouteAdminStatement(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	lines := func(q string) string {
		t.Helper()
		rows, err := conn.Query(ctx, q, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		return strings.Join(out, "\n")
	}
	if got := lines(`PGSHARD ROUTE SELECT * FROM users WHERE user_id = 7`); !strings.Contains(got, "kind=shard") || strings.Count(got, "shards: ") != 1 {
		t.Errorf("single-shard route:\n%s", got)
	}
	if got := lines(`pgshard route SELECT country, avg(balance) FROM users GROUP BY 1`); !strings.Contains(got, "shards: s0, s1, s2") || !strings.Contains(got, "avg(") {
		t.Errorf("scatter route:\n%s", got)
	}
	if got := lines(`PGSHARD ROUTE UPDATE users SET name = 'x'`); !strings.Contains(got, "0A000") {
		t.Errorf("refused route:\n%s", got)
	}
}

// TestDDLNoticesOnce: every shard raises the same notice for DDL (DROP ...
// IF EXISTS of a missing table); the client hears it once, as from one
// server.
func TestDDLNoticesOnce(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	var notices []string
	cfg, err := pgx.ParseConfig(p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS no_such_table_here`); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0], "does not exist, skipping") {
		t.Fatalf("notices %q, want the one notice one server sends", notices)
	}
}
