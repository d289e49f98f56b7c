package sharding_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRandomShapesMatchOnePostgres sends random reads (shapes_test.go)
// through pgshard and to one PostgreSQL holding the same rows, and holds
// pgshard to its promise: the same answer, or 0A000 for what it cannot
// run exactly, never another answer. A query whose key values, LIMIT or
// OFFSET became Bind parameters runs through the extended protocol; the
// others run through both. In both pool modes. The seed is fixed
// so CI runs the same queries each time; PGSHARD_SHAPES_SEED and
// PGSHARD_SHAPES explore others (the failure names the seed).
func TestRandomShapesMatchOnePostgres(t *testing.T) {
	seed, count := uint64(11), 200
	if v, err := strconv.ParseUint(os.Getenv("PGSHARD_SHAPES_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("PGSHARD_SHAPES")); err == nil {
		count = v
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) { randomShapes(t, mode, seed, count) })
	}
}

func randomShapes(t *testing.T, mode string, seed uint64, count int) {
	pool := "pool: {mode: " + mode + ", size: 8, queue_timeout: 10s}"
	ctx := ctxFor(t, 10*time.Minute)
	through, direct := loadedPair(ctx, t, startPgshard(t, pool))
	gen := &shapes{r: rand.New(rand.NewPCG(seed, 1)), bind: true}
	answered, refused := 0, 0
	refusals := map[string]int{} // by message, for -v
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
			var we, ge *pgconn.PgError
			switch {
			case errors.As(gerr, &ge) && ge.Code == "0A000":
				refused++
				refusals[ge.Message]++
			case werr != nil:
				if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code {
					t.Errorf("seed %d query %d (extended %v): %s %v\nreference server: %v\npgshard: %v", seed, i, extended, sql, q.args, werr, gerr)
				}
			case gerr != nil:
				t.Errorf("seed %d query %d (extended %v): %s %v\npgshard: %v", seed, i, extended, sql, q.args, gerr)
			default:
				answered++
				if diff := compare(want, got, ordered); diff != "" {
					t.Errorf("seed %d query %d (extended %v) differs: %s %v\n%s", seed, i, extended, sql, q.args, diff)
				}
			}
		}
	}
	for msg, n := range refusals {
		t.Logf("refused %d times: %s", n, msg)
	}
	t.Logf("seed %d: %d answers equal to one PostgreSQL's, %d refused with 0A000", seed, answered, refused)
	// Most of the grammar is what pgshard promises to run: a pgshard that
	// refused everything would pass the comparisons above.
	if answered < 4*refused {
		t.Errorf("only %d of %d queries answered", answered, answered+refused)
	}
}
