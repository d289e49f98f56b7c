package sharding_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestConcurrentClientsEveryExecMode runs 24 clients at once through
// pgshard, four per pgx exec mode, each mixing single-shard reads and
// writes, multi-row inserts across shards, scatter aggregates and
// cross-shard transactions; afterwards the totals on the shards match
// what the clients committed.
func TestConcurrentClientsEveryExecMode(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	setup := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{`DROP TABLE IF EXISTS placed`, `CREATE TABLE placed (k bigint NOT NULL, src text NOT NULL)`} {
		if _, err := setup.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec,
		pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}
	const perClient = 40
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	inserted := make([]int64, 24)
	for c := range 24 {
		wg.Go(func() {
			cfg, err := pgx.ParseConfig(p.DSN("app", "app-secret"))
			if err != nil {
				errs <- err
				return
			}
			cfg.DefaultQueryExecMode = modes[c%len(modes)]
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			r := rand.New(rand.NewPCG(uint64(c), 9))
			src := fmt.Sprintf("client%d", c)
			for i := range perClient {
				base := int64(c*1_000_000 + i*10)
				var err error
				switch i % 4 {
				case 0:
					_, err = conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES ($1, $2)`, base, src)
					inserted[c]++
				case 1:
					_, err = conn.Exec(ctx, `INSERT INTO placed (k, src) VALUES ($1, $3), ($2, $3)`, base+1, base+2, src)
					inserted[c] += 2
				case 2:
					var n int64
					err = conn.QueryRow(ctx, `SELECT count(*) FROM placed WHERE src = $1`, src).Scan(&n)
					if err == nil && n != inserted[c] {
						err = fmt.Errorf("client %d counts %d rows, inserted %d", c, n, inserted[c])
					}
				default:
					err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
						for k := range 3 {
							if _, err := tx.Exec(ctx, `INSERT INTO placed (k, src) VALUES ($1, $2)`, base+3+int64(k)+int64(r.IntN(2))*100, src); err != nil {
								return err
							}
						}
						return nil
					})
					inserted[c] += 3
				}
				if err != nil {
					errs <- fmt.Errorf("client %d (%v) step %d: %w", c, cfg.DefaultQueryExecMode, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	var want int64
	for _, n := range inserted {
		want += n
	}
	var total int64
	for _, sh := range sharded.Shards {
		var n int64
		if err := connect(t, sh.Primary.DSN()).QueryRow(ctx, `SELECT count(*) FROM placed`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != want {
		t.Fatalf("shards hold %d rows, clients committed %d", total, want)
	}
}
