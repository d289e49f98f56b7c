package router

import (
	"strings"
	"testing"
)

// TestViewsOfShardedTablesAreRefused: with the catalog's word that a view
// reads a sharded table, every statement naming it (read, write, write
// target, CTE) is refused, except DDL, hinted statements, and a CTE of the
// same name.
func TestViewsOfShardedTablesAreRefused(t *testing.T) {
	r := testRouter(t)
	r.SetTableViews(map[string]string{"v_users": "users"})
	for _, c := range []struct {
		sql     string
		refused bool
	}{
		{"SELECT * FROM v_users", true},
		{"SELECT * FROM public.v_users WHERE user_id = 5", true},
		{"UPDATE v_users SET name = 'x' WHERE user_id = 5", true},
		{"INSERT INTO v_users (user_id) VALUES (1)", true},
		{"DELETE FROM v_users WHERE user_id = 5", true},
		{"WITH x AS (DELETE FROM v_users RETURNING *) SELECT 1", true},
		{"SELECT * FROM countries WHERE code IN (SELECT name FROM v_users)", true},
		{"/* pgshard: shard=1 */ SELECT * FROM v_users", false},
		{"DROP VIEW v_users", false},
		{"CREATE OR REPLACE VIEW v_users AS SELECT * FROM users", false},
		{"WITH v_users AS (SELECT 1 AS one) SELECT * FROM v_users", false},
		{"SELECT * FROM settings", false},
	} {
		rt := r.Simple(c.sql)[0].Route
		got := rt.Err != nil && strings.Contains(rt.Err.Message, "view v_users reads sharded table users")
		if got != c.refused {
			t.Errorf("%s: refused %v (%v), want %v", c.sql, got, rt.Err, c.refused)
		}
	}
	r.SetTableViews(nil)
	if rt := r.Simple("SELECT * FROM v_users")[0].Route; rt.Err != nil {
		t.Errorf("after the views are cleared: %v", rt.Err)
	}
}
