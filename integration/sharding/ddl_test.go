package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

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
