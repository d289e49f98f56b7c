package sharding_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	seed, count := uint64(5), 80
	if v, err := strconv.ParseUint(os.Getenv("PGSHARD_WRITES_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("PGSHARD_WRITES")); err == nil {
		count = v
	}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode+" pooling", func(t *testing.T) { randomWrites(t, mode, seed, count) })
	}
}

func randomWrites(t *testing.T, mode string, seed uint64, count int) {
	pool := "pool: {mode: " + mode + ", size: 8, queue_timeout: 10s}"
	ctx := ctxFor(t, 10*time.Minute)
	through, direct := loadedPair(ctx, t, startPgshard(t, "keyless_writes: all_shards", pool))
	gen := &shapes{r: rand.New(rand.NewPCG(seed, 2))}
	tables := []string{
		`SELECT count(*), sum(score), sum(balance), sum(user_id * score), sum(length(name)), sum(user_id * length(country)) FROM users`,
		`SELECT count(*), sum(amount), sum(order_id), sum(order_id * amount), sum(order_id * length(status)) FROM orders`,
	}
	answered, refused := 0, 0
	refusals := map[string]int{} // by message, for -v
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
			var we, ge *pgconn.PgError
			switch {
			case errors.As(gerr, &ge) && ge.Code == "0A000":
				refused++
				refusals[ge.Message]++
			case werr != nil:
				if !errors.As(werr, &we) || !errors.As(gerr, &ge) || we.Code != ge.Code {
					t.Errorf("seed %d write %d (extended %v): %s\nreference server: %v\npgshard: %v", seed, i, extended, sql, werr, gerr)
				}
			case gerr != nil:
				t.Errorf("seed %d write %d (extended %v): %s\npgshard: %v", seed, i, extended, sql, gerr)
			default:
				answered++
				if diff := compare(want, got, false); diff != "" {
					t.Errorf("seed %d write %d (extended %v) returns other rows: %s\n%s", seed, i, extended, sql, diff)
				}
				for _, table := range tables {
					w, werr := run(ctx, direct, query{sql: table})
					g, gerr := run(ctx, through, query{sql: table})
					if werr != nil || gerr != nil {
						t.Fatalf("%s: %v / %v", table, werr, gerr)
					}
					if diff := compare(w, g, true); diff != "" {
						t.Errorf("seed %d write %d (extended %v) left other rows: %s\n%s: %s", seed, i, extended, sql, table, diff)
					}
				}
			}
			execOnEach(ctx, t, []*pgx.Conn{direct, through}, "ROLLBACK")
		}
	}
	for msg, n := range refusals {
		t.Logf("refused %d times: %s", n, msg)
	}
	t.Logf("seed %d: %d writes as on one PostgreSQL, %d refused with 0A000", seed, answered, refused)
	if answered < refused {
		t.Errorf("only %d of %d writes ran", answered, answered+refused)
	}
}
