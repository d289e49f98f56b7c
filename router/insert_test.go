package router

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestInsertWithoutColumnList: the route asks for the table's column order
// first, then takes each row's key from the position it is given, for
// literals and for Bind parameters, and splits rows over shards.
func TestInsertWithoutColumnList(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	_, users := r.Schema().lookup("", "users")
	if users == nil {
		t.Fatal("test schema has no sharded table users")
	}
	owner := func(k int64) shard.ShardID { return m.Lookup(shard.HashInt(k)) }

	const one = `INSERT INTO users VALUES ('ann', 42)`
	rt := r.Simple(one)[0].Route
	if rt.NeedColumns == nil || rt.NeedColumns.Table != users || rt.NeedColumns.Name != "users" || rt.Err == nil || rt.Err.Code != "0A000" {
		t.Fatalf("without key columns: route %+v, want NeedColumns for users and a 0A000 refusal", rt)
	}
	// The key is the second column: 42 decides, not 'ann'.
	rt = r.SimpleWith(one, "", KeyColumns{users: 1})[0].Route
	if rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{owner(42)}) {
		t.Fatalf("key at position 1: route %+v, want shard %d", rt, owner(42))
	}
	// Another literal of the same shape shares the plan and routes by its own key.
	rt = r.SimpleWith(`INSERT INTO users VALUES ('bob', 7)`, "", KeyColumns{users: 1})[0].Route
	if rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{owner(7)}) {
		t.Fatalf("second literal: route %+v, want shard %d", rt, owner(7))
	}

	// Several rows on several shards: one statement per shard, each with its rows.
	keys := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	var q strings.Builder
	q.WriteString("INSERT INTO users VALUES ")
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(" + itoa(k) + ", 'x')")
	}
	rt = r.SimpleWith(q.String(), "", KeyColumns{users: 0})[0].Route
	if rt.Err != nil || len(rt.SQL) != len(rt.Shards) || len(rt.Shards) < 2 {
		t.Fatalf("multi-row: route %+v, want a split over several shards", rt)
	}
	for i, id := range rt.Shards {
		for _, pos := range rt.Rows[i] {
			if owner(keys[pos]) != id {
				t.Errorf("row with key %d sent to shard %d, owner is %d", keys[pos], id, owner(keys[pos]))
			}
			if !strings.Contains(rt.SQL[i], "("+itoa(keys[pos])+", 'x')") {
				t.Errorf("shard %d's statement %q lacks row %d", id, rt.SQL[i], keys[pos])
			}
		}
	}

	// Extended protocol: the key is a Bind parameter.
	p := r.Prepare(`INSERT INTO users VALUES ($1, $2)`)
	if !p.UsesParams() {
		t.Fatal("a positional INSERT with parameters must ask for the Bind's values")
	}
	if rt := r.Bind(p, "", [][]byte{[]byte("ann"), []byte("42")}, nil); rt.NeedColumns == nil {
		t.Fatalf("Bind without key columns: route %+v, want NeedColumns", rt)
	}
	rt = r.BindWith(p, "", Params{Values: [][]byte{[]byte("ann"), []byte("42")}}, "", KeyColumns{users: 1})
	if rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{owner(42)}) {
		t.Fatalf("Bind, key at position 1: route %+v, want shard %d", rt, owner(42))
	}

	for _, tc := range []struct {
		sql  string
		key  int
		code string
	}{
		{`INSERT INTO users VALUES (1)`, 1, "0A000"},            // the key is left to its default
		{`INSERT INTO users VALUES ('a', NULL)`, 1, "23502"},    // NULL key
		{`INSERT INTO users VALUES ('a', 40 + 2)`, 1, "0A000"},  // computed key
		{`INSERT INTO users VALUES (1, 'a'), (2)`, 1, "0A000"},  // a later row lacks it
		{`INSERT INTO users VALUES (DEFAULT, 'a')`, 0, "0A000"}, // DEFAULT key
		{`INSERT INTO users VALUES ('x', 'y')`, 1, "22P02"},     // not a bigint
		{`INSERT INTO users VALUES (1, 2) RETURNING *`, 0, ""},  // RETURNING reads the row's shard
		{`INSERT INTO public.users VALUES (1, 2)`, 0, ""},       // schema-qualified
		{`INSERT INTO users VALUES (5, 'a') ON CONFLICT DO NOTHING`, 0, ""},
	} {
		rt := r.SimpleWith(tc.sql, "", KeyColumns{users: tc.key})[0].Route
		got := ""
		if rt.Err != nil {
			got = rt.Err.Code
		}
		if got != tc.code {
			t.Errorf("%s (key at %d): code %q, want %q (route %+v)", tc.sql, tc.key, got, tc.code, rt)
		}
	}
}

func itoa(k int64) string { return strconv.FormatInt(k, 10) }
