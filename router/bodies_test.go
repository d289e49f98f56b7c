package router

import (
	"testing"
)

// TestCallsOfFunctionsOnShardedTables: once the catalog says a function's
// body names a sharded table, a statement that calls it and names no
// sharded table is refused, wherever the call sits; statements that name
// sharded tables, hints, routed functions and other functions run as
// before. Cached plans follow the catalog as it changes.
func TestCallsOfFunctionsOnShardedTables(t *testing.T) {
	r := testRouter(t)
	cases := []struct {
		q       string
		refused bool
	}{
		{"SELECT count_orders()", true},
		{"SELECT * FROM count_orders()", true},
		{"SELECT x, count_orders() FROM users_archive", true},
		{"SELECT 1 WHERE count_orders() > 0", true},
		{"CALL archive_orders(42)", true},
		{"EXPLAIN ANALYZE SELECT count_orders()", true},
		{"DECLARE c CURSOR FOR SELECT count_orders()", true},
		{"SELECT App.Count_Orders()", true},
		{"SELECT count_orders() FROM users WHERE user_id = 42", false},
		{"SELECT user_id, count_orders() FROM users", false},
		{"/* pgshard: shard=2 */ SELECT count_orders()", false},
		{"/* pgshard: shard_key=42 */ SELECT count_orders()", false},
		{"SELECT place_order(42, 'x')", false},
		{"SELECT harmless()", false},
		{"SELECT now(), count(*) FROM users_archive", false},
	}
	run := func(want func(refused bool) bool) {
		t.Helper()
		for _, tc := range cases {
			st := r.Simple(tc.q)
			refused := len(st) == 1 && st[0].Route.Err != nil && st[0].Route.Err.Code == codeFeatureNotSupported
			if !want(tc.refused) == refused {
				t.Errorf("%s: %s, refused %v", tc.q, st[0].Route.Describe(), refused)
			}
		}
	}
	// Before the catalog was read, and after it cleared: nothing refused.
	run(func(bool) bool { return false })
	r.SetTableFunctions(map[string]string{"count_orders": "orders", "archive_orders": "orders", "place_order": "orders"})
	run(func(refused bool) bool { return refused })
	r.SetTableFunctions(nil)
	run(func(bool) bool { return false })
}
