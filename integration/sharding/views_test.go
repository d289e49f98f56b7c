package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestViewsOfShardedTables: a statement naming a view that reads a sharded
// table, directly or through another view, is refused with 0A000 naming
// both (run on the default shard it would read one shard's rows), while a
// hinted statement, DDL on such views and views of default-shard tables
// work as before.
func TestViewsOfShardedTables(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn, _ := loadedPair(ctx, t, p)
	mustExec(ctx, t, conn,
		"DROP VIEW IF EXISTS v_users_again", "DROP VIEW IF EXISTS v_users", "DROP MATERIALIZED VIEW IF EXISTS mv_users", "DROP VIEW IF EXISTS v_settings",
		"CREATE VIEW v_users AS SELECT user_id, name FROM users WHERE user_id > 0",
		"CREATE VIEW v_users_again AS SELECT * FROM v_users",
		"CREATE MATERIALIZED VIEW mv_users AS SELECT count(*) AS n FROM users",
		"CREATE VIEW v_settings AS SELECT * FROM settings")
	t.Cleanup(func() {
		mustExec(ctxFor(t, 30*time.Second), t, conn, "DROP VIEW IF EXISTS v_users_again", "DROP VIEW IF EXISTS v_users",
			"DROP MATERIALIZED VIEW IF EXISTS mv_users", "DROP VIEW IF EXISTS v_settings")
	})
	for _, c := range []struct{ sql, view, table string }{
		{"SELECT count(*) FROM v_users", "v_users", "users"},
		{"SELECT * FROM countries c LEFT JOIN v_users_again v ON v.name = c.name", "v_users_again", "users"},
		{"SELECT n FROM mv_users", "mv_users", "users"},
		{"UPDATE v_users SET name = 'x' WHERE user_id = 5", "v_users", "users"},
		{"INSERT INTO v_users (user_id, name) VALUES (9999, 'x')", "v_users", "users"},
		{"WITH gone AS (DELETE FROM v_users WHERE user_id = 5 RETURNING *) SELECT count(*) FROM gone", "v_users", "users"},
	} {
		_, err := conn.Exec(ctx, c.sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "view "+c.view+" reads sharded table "+c.table) {
			t.Errorf("%s: %v, want 0A000 naming view %s and table %s", c.sql, err, c.view, c.table)
		}
	}
	// Beside a sharded table, a view is refused as any default-shard
	// relation is.
	if _, err := conn.Exec(ctx, "SELECT * FROM users WHERE user_id IN (SELECT user_id FROM v_users)"); err == nil || !strings.Contains(err.Error(), "v_users") {
		t.Errorf("a view beside its sharded table: %v, want a refusal naming it", err)
	}
	for _, sql := range []string{
		"/* pgshard: shard=1 */ SELECT count(*) FROM v_users",
		"SELECT count(*) FROM v_settings",
		"REFRESH MATERIALIZED VIEW mv_users",
		"CREATE OR REPLACE VIEW v_users AS SELECT user_id, name FROM users WHERE user_id > 1",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Errorf("%s: %v", sql, err)
		}
	}
}
