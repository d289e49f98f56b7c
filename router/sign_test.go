package router

import (
	"slices"
	"testing"

	"github.com/pgshard/pgshard/shard"
)

// TestSignedKeyConstants: -6::bigint is -(6::bigint) to the parser, not
// the constant -6; such a key is still the key -6, wherever it appears,
// and a plan made for it is not reused for 6::bigint (nor the other way).
func TestSignedKeyConstants(t *testing.T) {
	r := testRouter(t)
	of := func(keys ...int64) []shard.ShardID { return shardsOf(shard.EqualMap(3), keys...) }
	if slices.Equal(of(6), of(-6)) {
		t.Fatal("the test needs keys 6 and -6 on different shards")
	}
	for range 2 { // the second time from the plan cache
		for _, tc := range []struct {
			q    string
			want []shard.ShardID
		}{
			{"SELECT * FROM users WHERE user_id = 6::bigint", of(6)},
			{"SELECT * FROM users WHERE user_id = -6::bigint", of(-6)},
			{"SELECT * FROM users WHERE user_id = - 6::int4", of(-6)},
			{"SELECT * FROM users WHERE user_id = -(6)::bigint", of(-6)},
			{"SELECT * FROM users WHERE user_id = -CAST(6 AS bigint)", of(-6)},
			{"SELECT * FROM users WHERE user_id = -(-6)::bigint", of(6)},
			{"SELECT * FROM users WHERE user_id = +6::bigint", of(6)},
			{"SELECT * FROM users WHERE user_id = -'6'::bigint", of(-6)},
			{"SELECT * FROM users WHERE user_id IN (-6::bigint, 6::bigint)", of(6, -6)},
			{"INSERT INTO users (user_id, name) VALUES (-6::bigint, 'x')", of(-6)},
			{"INSERT INTO users (user_id, name) VALUES (6::bigint, 'x')", of(6)},
			{"SELECT place_order(-6::bigint, 'x')", of(-6)},
		} {
			st := r.Simple(tc.q)
			if len(st) != 1 || st[0].Route.Err != nil || !slices.Equal(st[0].Route.Shards, tc.want) {
				t.Errorf("%s: %s, want shards %v", tc.q, st[0].Route.Describe(), tc.want)
			}
		}
	}
}
