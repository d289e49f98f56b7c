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
	if rt := r.Bind(p, q, [][]byte{[]byte("{{1,2},{3,4}}")}, []int16{0}); rt.Err == nil {
		t.Errorf("a two-dimensional array was routed: %s", rt.Describe())
	}
}
