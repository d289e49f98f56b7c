package sharding_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomShapesMatchOnePostgres sends random reads (shapes_test.go)
// through pgshard and to one PostgreSQL holding the same rows, and holds
// pgshard to its promise: the same answer, or 0A000 for what it cannot
// run exactly, never another answer. A query whose key values, LIMIT or
// OFFSET became Bind parameters runs through the extended protocol; the
// others run through both. In both pool modes. The seed is fixed so CI
// runs the same queries each time; PGSHARD_SHAPES_SEED and
// PGSHARD_SHAPES explore others (a failure names the seed).
func TestRandomShapesMatchOnePostgres(t *testing.T) {
	randomRun(t, "SHAPES", 11, 200, randomShapes)
}

func randomShapes(t *testing.T, pool string, seed uint64, count int) {
	ctx := ctxFor(t, 10*time.Minute)
	through, direct := loadedPair(ctx, t, startPgshard(t, pool))
	gen := &shapes{r: rand.New(rand.NewPCG(seed, 1)), bind: true}
	var tl tally
	for i := range count {
		sql, ordered := gen.query()
		protocols := []bool{false, true}
		if gen.params != nil {
			protocols = []bool{true}
		}
		for _, extended := range protocols {
			q := query{sql: sql, ordered: ordered}
			if extended {
				q.args = append([]string{}, gen.params...)
			}
			want, werr := run(ctx, direct, q)
			got, gerr := run(ctx, through, q)
			what := label("query", seed, i, extended, sql, q.args)
			if tl.judge(t, what, werr, gerr) {
				if diff := compare(want, got, ordered); diff != "" {
					t.Errorf("%s differs:\n%s", what, diff)
				}
			}
		}
	}
	// Most of the grammar is what pgshard promises to run.
	tl.report(t, seed, 4)
}
