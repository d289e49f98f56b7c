package router

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/router/merge"
)

// TestResolveAfterStar: a select list with a "*" is as wide as only the
// shards' RowDescription tells. Resolve places the columns counted from
// its end, and refuses, as PostgreSQL would, an ORDER BY position past the
// columns the client sees, which the shards may have read as one of
// pgshard's hidden columns.
func TestResolveAfterStar(t *testing.T) {
	r := testRouter(t)
	spec := func(sql string) *merge.Spec {
		t.Helper()
		rt := r.Simple(sql)[0].Route
		if rt.Err != nil || rt.Merge == nil {
			t.Fatalf("%s: %s", sql, rt.Describe())
		}
		return rt.Merge
	}
	// users has 6 columns here; the shards add name as column 7.
	s := spec(`SELECT * FROM users ORDER BY 6, name`)
	got, err := Resolve(s, 7, -1, 0)
	if err != nil || got.Output != 6 || got.OrderBy[0].Col != 5 || got.OrderBy[1].Col != 6 {
		t.Errorf("ORDER BY 6, name over 6 columns: %+v, %v", got, err)
	}
	_, err = Resolve(spec(`SELECT * FROM users ORDER BY 7, name`), 7, -1, 0)
	var me *merge.Error
	if !errors.As(err, &me) || me.Code != "42P10" || me.Message != "ORDER BY position 7 is not in select list" {
		t.Errorf("ORDER BY 7 over 6 columns: %v", err)
	}
	// A name after the "*" counts from the end, before the hidden columns.
	got, err = Resolve(spec(`SELECT *, balance * 2 AS doubled FROM users ORDER BY name, doubled`), 8, -1, 0)
	if err != nil || got.Output != 7 || got.OrderBy[0].Col != 7 || got.OrderBy[1].Col != 6 {
		t.Errorf("ORDER BY name, doubled: %+v, %v", got, err)
	}
	// No select list at all: no column reaches the client.
	got, err = Resolve(spec(`SELECT FROM users ORDER BY name`), 1, -1, 0)
	if err != nil || got.Output != 0 {
		t.Errorf("SELECT FROM: %+v, %v", got, err)
	}
}

// TestHugeStatementsAreNotCached: the plan cache counts entries, so a
// statement of megabytes (a staged statement's constants, a long
// multi-row INSERT) is planned but not kept; small ones are.
func TestHugeStatementsAreNotCached(t *testing.T) {
	r := testRouter(t)
	var b strings.Builder
	// Its normalized form (each constant a $n) is over the bound too.
	b.WriteString("SELECT * FROM users WHERE user_id = 1 AND score IN (0")
	for i := 1; i < 20000; i++ {
		fmt.Fprintf(&b, ", %d", i)
	}
	b.WriteString(")")
	before := r.cache.Len()
	for _, st := range []string{b.String()} {
		if rt := r.Simple(st)[0].Route; rt.Err != nil || len(rt.Shards) != 1 {
			t.Fatalf("huge statement: %s", rt.Describe())
		}
		if rt := r.Bind(r.Prepare(st), st, nil, nil); rt.Err != nil || len(rt.Shards) != 1 {
			t.Fatalf("huge prepared statement: %s", rt.Describe())
		}
	}
	if n := r.cache.Len(); n != before {
		t.Errorf("the cache grew from %d to %d entries for a statement over %d bytes", before, n, maxCachedText)
	}
	r.Simple("SELECT * FROM users WHERE user_id = 2")
	if r.cache.Len() != before+1 {
		t.Errorf("a small statement was not cached")
	}
}
