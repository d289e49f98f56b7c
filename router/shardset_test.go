package router

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// TestManyShardSet routes key lists over a map of many shards, past the
// small-slice deduplication into its map: every owning shard once, sorted.
func TestManyShardSet(t *testing.T) {
	d := &config.Database{
		Shards:   make([]config.Shard, 40),
		Sharding: config.Sharding{Tables: []config.ShardedTable{{Name: "users", Key: "user_id", KeyType: "bigint"}}},
	}
	for i := range d.Shards {
		d.Shards[i].Name = "s" + strconv.Itoa(i)
	}
	d.Sharding.DefaultShard = "s0"
	s, err := NewSchema(d)
	if err != nil {
		t.Fatal(err)
	}
	m := shard.EqualMap(40)
	r := New(s, shard.NewHolder(m), 100)
	for _, n := range []int{1, 2, 5, 16, 17, 40, 300} {
		var keys []string
		var want []shard.ShardID
		for k := range n {
			v := strconv.Itoa(k * 13)
			keys = append(keys, v, v) // duplicates too
			pt, err := shard.PointFromText(shard.KeyInt, v)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, m.Lookup(pt))
		}
		slices.Sort(want)
		want = slices.Compact(want)
		q := "SELECT * FROM users WHERE user_id IN (" + strings.Join(keys, ", ") + ") ORDER BY user_id"
		rt := r.Simple(q)[0].Route
		if rt.Err != nil {
			t.Fatalf("%d keys: %s", n, rt.Describe())
		}
		if !slices.Equal(rt.Shards, want) {
			t.Errorf("%d keys: shards %v, want %v", n, rt.Shards, want)
		}
	}
}
