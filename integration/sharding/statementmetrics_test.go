package sharding_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgshard_route_statements_total counts every statement by its route's
// kind, whether it ran on one shard, on every shard or was refused, in
// the simple and the extended protocol; pgshard_statement_duration_seconds
// observes each request (a Query, or a batch up to its Sync) once, under
// its first statement's kind.
func TestStatementMetrics(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, conn, "DROP TABLE IF EXISTS metered", "CREATE TABLE metered (k bigint PRIMARY KEY, v int)")
	defer conn.Exec(context.Background(), "DROP TABLE IF EXISTS metered")

	kinds := []string{"shard", "scatter", "any", "refuse", "all"}
	read := func() (counts, observed map[string]float64) {
		counts, observed = map[string]float64{}, map[string]float64{}
		for _, k := range kinds {
			counts[k] = p.Metric(t, `pgshard_route_statements_total{database="app",kind="`+k+`",target="primary"}`)
			observed[k] = p.Metric(t, `pgshard_statement_duration_seconds_count{database="app",kind="`+k+`"}`)
		}
		return counts, observed
	}
	simple := func(q string) error {
		_, err := conn.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	for _, step := range []struct {
		name          string
		run           func() error
		counts, times map[string]float64 // deltas
	}{
		{"simple, one shard", func() error { return simple("INSERT INTO metered VALUES (1, 1)") },
			map[string]float64{"shard": 1}, map[string]float64{"shard": 1}},
		{"simple, every shard", func() error { return simple("SELECT count(*) FROM metered") },
			map[string]float64{"scatter": 1}, map[string]float64{"scatter": 1}},
		{"simple, two statements", func() error { return simple("SELECT 1; SELECT 2") },
			map[string]float64{"any": 2}, map[string]float64{"any": 1}},
		{"refused", func() error {
			var pe *pgconn.PgError
			if err := simple("DELETE FROM metered"); !errors.As(err, &pe) || pe.Code != "0A000" {
				return errors.New("keyless DELETE not refused: " + err.Error())
			}
			return nil
		}, map[string]float64{"refuse": 1}, map[string]float64{"refuse": 1}},
		{"extended, one shard", func() error {
			var v int
			return conn.QueryRow(ctx, "SELECT v FROM metered WHERE k = $1", 1).Scan(&v)
		}, map[string]float64{"shard": 1}, map[string]float64{"shard": 1}},
		{"extended, every shard", func() error {
			var n int
			return conn.QueryRow(ctx, "SELECT count(*) FROM metered WHERE v = $1", 1).Scan(&n)
		}, map[string]float64{"scatter": 1}, map[string]float64{"scatter": 1}},
	} {
		c0, o0 := read()
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		c1, o1 := read()
		for _, k := range kinds {
			if got := c1[k] - c0[k]; got != step.counts[k] {
				t.Errorf("%s: %s statements +%v, want +%v", step.name, k, got, step.counts[k])
			}
			if got := o1[k] - o0[k]; got != step.times[k] {
				t.Errorf("%s: %s durations observed +%v, want +%v", step.name, k, got, step.times[k])
			}
		}
	}
}
