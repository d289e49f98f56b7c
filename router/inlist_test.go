package router

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestAnyArrayParameter: key = ANY($1) routes to exactly the shards of the
// array's elements, whether the array arrives as text or binary.
func TestAnyArrayParameter(t *testing.T) {
	r := testRouter(t)
	want := func(keys ...int64) []shard.ShardID { return shardsOf(shard.EqualMap(3), keys...) }
	binArray := func(keys ...int64) []byte {
		b := binary.BigEndian.AppendUint32(nil, 1) // ndim
		b = binary.BigEndian.AppendUint32(b, 0)    // flags
		b = binary.BigEndian.AppendUint32(b, 20)   // int8
		b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
		b = binary.BigEndian.AppendUint32(b, 1) // lower bound
		for _, k := range keys {
			b = binary.BigEndian.AppendUint32(b, 8)
			b = binary.BigEndian.AppendUint64(b, uint64(k))
		}
		return b
	}
	const q = `SELECT * FROM users WHERE user_id = ANY($1)`
	p := r.Prepare(q)
	for _, tc := range []struct {
		name   string
		param  []byte
		format int16
		want   []shard.ShardID
	}{
		{"text", []byte("{1,6,9}"), 0, want(1, 6, 9)},
		{"text one shard", []byte("{ 1 , 2 }"), 0, want(1, 2)},
		{"text with NULL", []byte("{NULL,9}"), 0, want(9)},
		{"binary", binArray(1, 6, 9, 10), 1, want(1, 6, 9, 10)},
		{"binary one", binArray(42), 1, want(42)},
	} {
		rt := r.Bind(p, q, [][]byte{tc.param}, []int16{tc.format})
		if rt.Err != nil || !slices.Equal(rt.Shards, tc.want) {
			t.Errorf("%s: %s, want shards %v", tc.name, rt.Describe(), tc.want)
		}
	}
	// = ANY flattens an array of several dimensions, which pgshard does
	// not read: every shard may hold its keys. Text that is no array at
	// all goes there too, and each server refuses it in its own words.
	for _, param := range []string{"{{1,2},{3,4}}", "[0:1]={1,6}", "29"} {
		if rt := r.Bind(p, q, [][]byte{[]byte(param)}, []int16{0}); rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{0, 1, 2}) {
			t.Errorf("%s: %s, want every shard", param, rt.Describe())
		}
	}
}

// TestAnyArrayLiteral: key = ANY('{...}'), an array written as a string,
// routes to exactly the shards of its elements, read in the array's
// element type; one the router cannot read goes everywhere, and the plan
// cached for one literal serves another.
func TestAnyArrayLiteral(t *testing.T) {
	r := testRouter(t)
	want := func(keys ...int64) []shard.ShardID { return shardsOf(shard.EqualMap(3), keys...) }
	all := []shard.ShardID{0, 1, 2}
	for _, tc := range []struct {
		sql  string
		want []shard.ShardID
	}{
		{`SELECT * FROM users WHERE user_id = ANY('{1,6,9}'::bigint[])`, want(1, 6, 9)},
		{`SELECT * FROM users WHERE user_id = ANY('{10, 42}'::bigint[])`, want(10, 42)}, // the plan above, cached
		{`SELECT * FROM users WHERE user_id = ANY('{42}')`, want(42)},
		{`SELECT * FROM users WHERE user_id = ANY('{NULL,"9"}'::int4[])`, want(9)},
		{`SELECT * FROM users WHERE user_id = ANY('{42.0,6.5}'::numeric[])`, want(42)},
		{`SELECT * FROM users WHERE user_id = ANY('[0:1]={1,6}'::bigint[])`, all},
		{`SELECT * FROM users WHERE user_id = ANY('{1,6}'::varchar(1)[])`, all},
		{`UPDATE users SET name = 'x' WHERE user_id = ANY('{1,6,9,10}'::bigint[])`, want(1, 6, 9, 10)},
	} {
		rts := r.Simple(tc.sql)
		if len(rts) != 1 || rts[0].Route.Err != nil || !slices.Equal(rts[0].Route.Shards, tc.want) {
			t.Errorf("%s: %s, want shards %v", tc.sql, rts[0].Route.Describe(), tc.want)
		}
	}
	// An element that is not valid input for the key's type: one server
	// refuses the statement as PostgreSQL words it (22P02 invalid input
	// syntax for type bigint: "x"), which pgshard does not copy.
	if rts := r.Simple(`SELECT * FROM users WHERE user_id = ANY('{1,x}'::bigint[])`); rts[0].Route.Err != nil || len(rts[0].Route.Shards) != 1 {
		t.Errorf("an array with an element that is not a key: %s, want one shard", rts[0].Route.Describe())
	}
}
