package router

import (
	"testing"
)

// TestSubqueryLimitsThatKeepEveryRow: a subquery over several shards whose
// LIMIT or OFFSET keeps every row is merged like the subquery without it;
// one that drops rows is staged. A constant OFFSET plans by its value
// (OFFSET 0 and OFFSET 2 share a normalized form, not a plan); an OFFSET
// parameter is judged at each Bind.
func TestSubqueryLimitsThatKeepEveryRow(t *testing.T) {
	r := testRouter(t)
	merged := func(rt *Route) bool { return rt.Err == nil && rt.Kind == KindScatter && rt.Merge != nil }
	for _, c := range []struct {
		sql    string
		merged bool
	}{
		{"SELECT count(*) FROM (SELECT user_id FROM users WHERE 1=1 OFFSET 0) s", true},
		{"SELECT count(*) FROM (SELECT user_id FROM users WHERE 1=1 OFFSET 2) s", false},
		{"SELECT count(*) FROM (SELECT user_id FROM users LIMIT ALL) s", true},
		{"SELECT count(*) FROM (SELECT user_id FROM users LIMIT NULL OFFSET NULL) s", true},
		{"SELECT count(*) FROM (SELECT user_id FROM users LIMIT 5 OFFSET 0) s", false},
		{"WITH x AS (SELECT score FROM users OFFSET 0) SELECT max(score) FROM x", true},
	} {
		rt := r.Simple(c.sql)[0].Route
		if merged(rt) != c.merged || !c.merged && rt.Staging() == nil {
			t.Errorf("%s: %v (staged %v, err %v), want merged %v", c.sql, rt.Kind, rt.Staging() != nil, rt.Err, c.merged)
		}
	}

	// Prisma's count(), its OFFSET bound at each execution.
	const prisma = `SELECT COUNT(*) FROM (SELECT "public"."users"."user_id" FROM "public"."users" WHERE ("public"."users"."user_id" IN ($1, $2) OR 1=1) OFFSET $3) AS "sub"`
	p := r.Prepare(prisma)
	if !p.UsesParams() {
		t.Fatalf("UsesParams false: a Bind would not be read for its OFFSET")
	}
	for _, c := range []struct {
		offset []byte
		format int16
		merged bool
	}{
		{[]byte("0"), 0, true},
		{[]byte(" 00 "), 0, true},
		{nil, 0, true},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0}, 1, true},
		{[]byte("3"), 0, false},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 3}, 1, false},
		{[]byte(""), 0, false},
	} {
		rt := r.Bind(p, prisma, [][]byte{[]byte("1"), []byte("9"), c.offset}, []int16{0, 0, c.format})
		if merged(rt) != c.merged || !c.merged && rt.Staging() == nil {
			t.Errorf("OFFSET %q (format %d): %v (staged %v, err %v), want merged %v", c.offset, c.format, rt.Kind, rt.Staging() != nil, rt.Err, c.merged)
		}
	}
}
