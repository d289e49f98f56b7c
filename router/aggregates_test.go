package router

import (
	"testing"
)

// TestAggregatesAreNotPlainCalls: a read over every shard that computes an
// aggregate pgshard does not merge is staged (or refused), never run on
// each shard and its rows concatenated, which would return one row per
// shard or a group's value from one shard. A staged statement is a
// refusal that carries its stages (Route.Staging). The catalog's aggregates
// (SetAggregates) count from when they are set, cached plans included.
func TestAggregatesAreNotPlainCalls(t *testing.T) {
	r := testRouter(t)
	for _, c := range []struct {
		sql    string
		merged bool // merged by pgshard rather than staged
	}{
		{"SELECT bit_xor(score) FROM users", false},
		{"SELECT country, bit_xor(score) FROM users GROUP BY country", false},
		{"SELECT regr_slope(score, user_id), range_agg(int4range(score, score + 1)) FROM users", false},
		{"SELECT any_value(name) FROM users", false},
		{"SELECT rank(50) WITHIN GROUP (ORDER BY score) FROM users", false},
		{"SELECT JSON_ARRAYAGG(name) FROM users", false},
		{"SELECT country, JSON_OBJECTAGG(name : score) FROM users GROUP BY country", false},
		{"SELECT JSON_ARRAYAGG(name) OVER () FROM users", false},
		// The grammar's marks of an aggregate, whatever its name.
		{"SELECT my_agg(DISTINCT score) FROM users", false},
		{"SELECT my_agg(score ORDER BY name) FROM users", false},
		{"SELECT my_agg(score) FILTER (WHERE score > 1) FROM users", false},
		{"SELECT max(score) + 1, sum(score) FILTER (WHERE score > 1) FROM users", true},
	} {
		rt := r.Simple(c.sql)[0].Route
		switch {
		case rt.Err != nil && rt.Staging() == nil:
			t.Errorf("%s: refused: %v", c.sql, rt.Err)
		case c.merged && (rt.Kind != KindScatter || rt.Merge == nil || rt.Staging() != nil):
			t.Errorf("%s: %v, merge %v, want merged over every shard", c.sql, rt.Kind, rt.Merge)
		case !c.merged && rt.Staging() == nil:
			t.Errorf("%s: %v, merge %v, want staged", c.sql, rt.Kind, rt.Merge)
		}
	}

	// A user-defined aggregate is known by name only from the catalog.
	const custom = "SELECT country, my_agg(score) FROM users GROUP BY country"
	if rt := r.Simple(custom)[0].Route; rt.Staging() != nil {
		t.Fatalf("%s staged before the catalog named my_agg: the test needs a plain call first", custom)
	}
	gen := r.CatalogGen()
	r.SetAggregates(map[string]bool{"my_agg": true, "sum": true})
	if got := r.Aggregates(); len(got) != 1 || !got["my_agg"] {
		t.Errorf("Aggregates() = %v, want only my_agg (sum is built in)", got)
	}
	if r.CatalogGen() == gen {
		t.Errorf("CatalogGen unchanged by new aggregates: prepared statements would keep their plans")
	}
	for _, q := range []string{custom, "SELECT my_agg(score) FROM users", "SELECT * FROM users WHERE score > (SELECT my_agg(score) FROM users)"} {
		if rt := r.Simple(q)[0].Route; rt.Staging() == nil {
			t.Errorf("%s after SetAggregates: %v %v, want staged", q, rt.Kind, rt.Err)
		}
		if p := r.Prepare(q); p.Staging == nil {
			t.Errorf("%s prepared after SetAggregates: %v, want staged", q, p.Kind)
		}
	}
	// Pinned to one key, an aggregate needs no merging.
	if rt := r.Simple("SELECT my_agg(score) FROM users WHERE user_id = 7")[0].Route; rt.Kind != KindShard || len(rt.Shards) != 1 {
		t.Errorf("pinned my_agg: %v %v, want one shard", rt.Kind, rt.Shards)
	}
	gen = r.CatalogGen()
	r.SetAggregates(map[string]bool{"my_agg": true})
	if r.CatalogGen() != gen {
		t.Errorf("CatalogGen changed though the aggregates did not: every prepared statement would be planned again")
	}
	r.SetAggregates(nil)
	if rt := r.Simple(custom)[0].Route; rt.Staging() != nil {
		t.Errorf("%s still staged after the catalog dropped my_agg", custom)
	}
}
