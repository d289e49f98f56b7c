package router

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestRoutedFunctionCallsFollowTheirKey: a call of a routed function goes
// to the shard owning its key argument however the key arrives (a literal
// in a simple query, a text or binary parameter, in SELECT, FROM or CALL),
// and on each key's own shard, not the first one the plan cache saw.
func TestRoutedFunctionCallsFollowTheirKey(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	for key := int64(-20); key <= 20; key++ {
		want := []shard.ShardID{m.Lookup(shard.HashInt(key))}
		for _, q := range []string{
			fmt.Sprintf("SELECT place_order(%d, 'book')", key),
			fmt.Sprintf("SELECT * FROM place_order('%d', 'book')", key),
			fmt.Sprintf("CALL place_order(CAST(%d AS bigint), 'book')", key),
			fmt.Sprintf("SELECT app.order_total('eur', %d)", key),
		} {
			st := r.Simple(q)
			if len(st) != 1 || st[0].Route.Err != nil || !slices.Equal(st[0].Route.Shards, want) || st[0].Route.Plan.Read {
				t.Errorf("%s: %s, want a write on shards %v", q, st[0].Route.Describe(), want)
			}
		}
		for _, q := range []string{"SELECT place_order($1, $2)", "CALL place_order($1::int4, $2)", "SELECT * FROM app.order_total($2, $1)"} {
			p := r.Prepare(q)
			text := r.Bind(p, q, [][]byte{fmt.Appendf(nil, "%d", key), []byte("book")}, nil)
			bin := r.Bind(p, q, [][]byte{binary.BigEndian.AppendUint64(nil, uint64(key)), []byte("book")}, []int16{1, 0})
			for _, rt := range []*Route{text, bin} {
				if rt.Err != nil || !slices.Equal(rt.Shards, want) {
					t.Errorf("%s with $1 = %d: %s, want shards %v", q, key, rt.Describe(), want)
				}
			}
		}
	}
}

// TestRoutedFunctionNeedsItsConfiguration: only the configured function,
// in its configured schema (any, when unqualified), is routed by its
// argument; others run on the default shard as before.
func TestRoutedFunctionNeedsItsConfiguration(t *testing.T) {
	r := testRouter(t)
	for _, tc := range []struct {
		q    string
		kind Kind
	}{
		{"SELECT app.order_total('eur', 42)", KindShard},
		{"SELECT order_total('eur', 42)", KindDefault},
		{"SELECT public.place_order(42, 'x')", KindShard},
		{"SELECT other.place_order(42, 'x')", KindShard}, // configured unqualified: any schema
		{"SELECT other.order_total('eur', 42)", KindDefault},
		{"SELECT place_orders(42, 'x')", KindDefault},
		{"CALL other_proc(42)", KindDefault},
	} {
		st := r.Simple(tc.q)
		if len(st) != 1 || st[0].Route.Plan.Kind != tc.kind {
			t.Errorf("%s: %s, want kind %v", tc.q, st[0].Route.Describe(), tc.kind)
		}
	}
}

// TestRoutedFunctionWithVoidParameters: PostgreSQL drops parameters
// declared void from a function's arguments, and pgjdbc sends a
// CallableStatement {? = call place_order(?, ?)} as place_order($1, $2,
// $3) with $1 void: the key is then $2. Without the void declaration $1 is
// the key, as written.
func TestRoutedFunctionWithVoidParameters(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	const q = "select * from place_order($1,$2, $3) as result"
	p := r.Prepare(q)
	if !p.UsesParams() {
		t.Fatal("the plan does not ask for the Bind's parameters")
	}
	for key := int64(1); key <= 30; key++ {
		want := []shard.ShardID{m.Lookup(shard.HashInt(key))}
		vals := [][]byte{nil, fmt.Appendf(nil, "%d", key), []byte("book")}
		rt := r.BindWith(p, q, Params{Values: vals, Formats: []int16{0, 0, 0}, OIDs: []uint32{oidVoid, oidInt8, 0}}, "", nil)
		if rt.Err != nil || !slices.Equal(rt.Shards, want) {
			t.Errorf("$1 void, $2 = %d: %s, want shards %v", key, rt.Describe(), want)
		}
		vals = [][]byte{fmt.Appendf(nil, "%d", key), []byte("book"), nil}
		rt = r.BindWith(p, q, Params{Values: vals, Formats: []int16{0, 0, 0}, OIDs: []uint32{oidInt8, 0, oidVoid}}, "", nil)
		if rt.Err != nil || !slices.Equal(rt.Shards, want) {
			t.Errorf("$1 = %d, $3 void: %s, want shards %v", key, rt.Describe(), want)
		}
	}
	// A key argument written as a column stays co-located when the bare
	// parameters come after it.
	st := r.Simple("SELECT place_order(user_id, $1) FROM users WHERE user_id = 42")
	if st[0].Route.Err != nil || st[0].Route.Plan.Kind != KindShard {
		t.Errorf("co-located call with a later parameter: %s", st[0].Route.Describe())
	}
}
