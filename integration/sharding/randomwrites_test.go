package sharding_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestRandomWritesMatchOnePostgres sends random UPDATEs, DELETEs and
// INSERT ... SELECTs with RETURNING (shapes_test.go), each in a
// transaction then rolled back, through pgshard (keyless writes allowed on
// every shard) and to one PostgreSQL holding the same rows, and requires
// the same RETURNING rows and the same tables afterwards, or 0A000: a
// write pgshard runs must change exactly the rows one server would. In
// both pool modes.
// PGSHARD_WRITES_SEED and PGSHARD_WRITES explore other seeds.
func TestRandomWritesMatchOnePostgres(t *testing.T) {
	randomRun(t, "WRITES", 5, 80, randomWrites)
}

func randomWrites(t *testing.T, pool string, seed uint64, count int) {
	ctx := ctxFor(t, 10*time.Minute)
	through, direct := loadedPair(ctx, t, startPgshard(t, "keyless_writes: all_shards", pool))
	gen := &shapes{r: rand.New(rand.NewPCG(seed, 2))}
	tables := []string{
		`SELECT count(*), sum(score), sum(balance), sum(user_id * score), sum(length(name)), sum(user_id * length(country)) FROM users`,
		`SELECT count(*), sum(amount), sum(order_id), sum(order_id * amount), sum(order_id * length(status)) FROM orders`,
	}
	var tl tally
	for i := range count {
		sql := gen.write()
		for _, extended := range []bool{false, true} {
			q := query{sql: sql}
			if extended {
				q.args = []string{}
			}
			execOnEach(ctx, t, []*pgx.Conn{direct, through}, "BEGIN")
			want, werr := run(ctx, direct, q)
			got, gerr := run(ctx, through, q)
			what := label("write", seed, i, extended, sql, nil)
			if tl.judge(t, what, werr, gerr) {
				if diff := compare(want, got, false); diff != "" {
					t.Errorf("%s returns other rows:\n%s", what, diff)
				}
				for _, table := range tables {
					w, werr := run(ctx, direct, query{sql: table})
					g, gerr := run(ctx, through, query{sql: table})
					if werr != nil || gerr != nil {
						t.Fatalf("%s: %v / %v", table, werr, gerr)
					}
					if diff := compare(w, g, true); diff != "" {
						t.Errorf("%s left other rows:\n%s: %s", what, table, diff)
					}
				}
			}
			execOnEach(ctx, t, []*pgx.Conn{direct, through}, "ROLLBACK")
		}
	}
	tl.report(t, seed, 1)
}
