package router

import (
	"slices"
	"strings"
	"testing"
)

// TestViewsOfShardedTables: with the catalog's word on which views read
// sharded tables, reads of a view are planned through its query (pinned by
// its key, merged over shards, refused when its query cannot be merged);
// writes through a view and materialized views are refused, except as DDL
// or hinted; a CTE of the same name is no view.
func TestViewsOfShardedTables(t *testing.T) {
	r := testRouter(t)
	r.SetTableViews(map[string]View{
		"v_users":    {Table: "users", Definition: "SELECT users.user_id, users.name, users.country FROM users WHERE users.user_id > 0;"},
		"v_again":    {Table: "users", Definition: "SELECT v_users.user_id, v_users.name FROM v_users"},
		"v_stats":    {Table: "users", Definition: "SELECT users.country, count(*) AS n FROM users GROUP BY users.country"},
		"mv_users":   {Table: "users"},
		"users_2024": {Table: "users", Child: true},
	})
	const viewRefusal = "view v_users reads sharded table users"
	for _, c := range []struct {
		sql  string
		kind Kind
		err  string // part of the refusal
	}{
		{"SELECT * FROM v_users", KindScatter, ""},
		{"SELECT name FROM v_users WHERE user_id = 42", KindShard, ""},
		{"SELECT count(*) FROM public.v_users v WHERE v.country = 'NL'", KindScatter, ""},
		{"SELECT * FROM v_again WHERE user_id = 42", KindShard, ""},
		{"SELECT v.name, o.amount FROM v_users v JOIN orders o ON o.user_id = v.user_id", KindScatter, ""},
		{"SELECT * FROM v_stats", KindRefuse, "aggregate"},
		{"DECLARE c CURSOR FOR SELECT * FROM v_users", KindCursor, ""},
		{"COPY (SELECT * FROM v_users) TO STDOUT", KindCopyOut, ""},
		{"EXPLAIN SELECT * FROM v_users WHERE user_id = 42", KindShard, ""},
		{"SELECT * FROM mv_users", KindRefuse, "view mv_users reads sharded table users"},
		{"UPDATE v_users SET name = 'x' WHERE user_id = 5", KindRefuse, viewRefusal},
		{"INSERT INTO v_users (user_id) VALUES (1)", KindRefuse, viewRefusal},
		{"WITH x AS (DELETE FROM v_users WHERE user_id = 5 RETURNING *) SELECT 1", KindRefuse, viewRefusal},
		{"INSERT INTO orders SELECT user_id, 1, 1, 'new', now() FROM v_users", KindRefuse, viewRefusal},
		{"SELECT * FROM users_2024 WHERE user_id = 5", KindRefuse, "table users_2024 is a partition of sharded table users"},
		{"INSERT INTO users_2024 (user_id) VALUES (5)", KindRefuse, "table users_2024 is a partition of sharded table users"},
		{"COPY users_2024 TO STDOUT", KindRefuse, "table users_2024 is a partition of sharded table users"},
		{"COPY users_2024 FROM STDIN", KindRefuse, "table users_2024 is a partition of sharded table users"},
		{"TRUNCATE users_2024", KindRefuse, "table users_2024 is a partition of sharded table users"},
		{"/* pgshard: shard=1 */ SELECT * FROM mv_users", KindShard, ""},
		{"DROP VIEW v_users", KindAll, ""},
		{"WITH v_users AS (SELECT 1 AS one) SELECT * FROM v_users", KindAny, ""},
	} {
		rt := r.Simple(c.sql)[0].Route
		switch {
		case c.err != "" && (rt.Err == nil || !strings.Contains(rt.Err.Message, c.err)):
			t.Errorf("%s: %v, want a refusal saying %q", c.sql, rt.Err, c.err)
		case c.err == "" && (rt.Err != nil || rt.Kind != c.kind):
			t.Errorf("%s: %v %v, want %v", c.sql, rt.Kind, rt.Err, c.kind)
		}
	}
	// A view computed over all its rows is staged: its query runs first,
	// merged over the shards, and its rows take its place. A view of
	// plain rows is planned through, never staged whole.
	for _, c := range []struct {
		sql    string
		stages []string // the stages' queries
	}{
		{"SELECT * FROM v_stats", []string{"SELECT users.country, count(*) AS n FROM users GROUP BY users.country"}},
		{"SELECT s.n FROM v_stats s WHERE s.country = 'NL'", []string{"SELECT users.country, count(*) AS n FROM users GROUP BY users.country"}},
		{"SELECT u.name, s.n FROM users u JOIN v_stats s ON s.country = u.country WHERE u.user_id = 5",
			[]string{"SELECT users.country, count(*) AS n FROM users GROUP BY users.country"}},
		{"SELECT * FROM v_users v WHERE v.user_id IN (SELECT user_id FROM orders ORDER BY amount LIMIT 3)",
			[]string{"SELECT user_id FROM orders ORDER BY amount LIMIT 3"}},
		// A write reading a report view: its rows staged, the write
		// then routed by its own key.
		{"UPDATE users SET score = s.n FROM v_stats s WHERE s.country = users.country AND users.user_id = 5",
			[]string{"SELECT users.country, count(*) AS n FROM users GROUP BY users.country"}},
		{"UPDATE users SET score = 1 FROM v_users v WHERE v.user_id = users.user_id AND users.user_id = 5", nil},
		// INSERT ... SELECT from a view: the SELECT, planned through the
		// view, staged; not from a materialized view.
		{"INSERT INTO orders (user_id, amount) SELECT 5, n FROM v_stats", []string{"SELECT 5, n FROM v_stats"}},
		{"INSERT INTO orders (user_id, amount) SELECT user_id, 1 FROM v_users WHERE user_id < 10", []string{"SELECT user_id, 1 FROM v_users WHERE user_id < 10"}},
		{"INSERT INTO orders (user_id, amount) SELECT 5, 1 FROM mv_users", nil},
	} {
		st := r.Simple(c.sql)[0].Route.Staging()
		var got []string
		if st != nil {
			for _, s := range st.Stages {
				got = append(got, s.SQL)
			}
		}
		if !slices.Equal(got, c.stages) {
			t.Errorf("%s: stages %q, want %q", c.sql, got, c.stages)
		}
	}
	if st := r.Simple("WITH v_stats AS (SELECT 1 AS n) SELECT * FROM v_stats")[0].Route; st.Staging() != nil || st.Err != nil {
		t.Errorf("a CTE named like a view: %v %v, want it run as is", st.Kind, st.Err)
	}
	r.SetTableViews(nil)
	if rt := r.Simple("SELECT * FROM v_users")[0].Route; rt.Err != nil || rt.Kind != KindDefault {
		t.Errorf("after the views are cleared: %v %v, want the default shard", rt.Kind, rt.Err)
	}
}
