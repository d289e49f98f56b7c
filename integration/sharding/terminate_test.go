package sharding_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// pgshard terminate of a client whose statement runs on every shard ends
// it as pg_terminate_backend would: FATAL 57P01 alone, not the 57014 each
// shard answers the cancel pgshard sends first, in the simple and the
// extended protocol, inside a transaction (rolled back) and outside one.
func TestTerminateOverEveryShard(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	dsn := p.DSN("app", "app-secret")
	setup := connect(t, dsn)
	mustExec(ctx, t, setup, "DROP TABLE IF EXISTS term", "CREATE TABLE term (k bigint PRIMARY KEY, v int)",
		"INSERT INTO term SELECT g, 0 FROM generate_series(1, 30) g")
	defer setup.Exec(context.Background(), "DROP TABLE IF EXISTS term")
	if on := placedKeys(ctx, t, "term"); len(on) != 30 {
		t.Fatalf("term holds %d rows on the shards, want 30", len(on))
	}
	const sleepy = "SELECT count(*) FROM term WHERE (SELECT 1 FROM pg_sleep(30)) = 1"

	open := func() *pgconn.PgConn {
		c, err := pgconn.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	runs := map[string]func(c *pgconn.PgConn) error{
		"simple": func(c *pgconn.PgConn) error { _, err := c.Exec(ctx, sleepy).ReadAll(); return err },
		"extended": func(c *pgconn.PgConn) error {
			return c.ExecParams(ctx, sleepy+" AND v = $1", [][]byte{[]byte("0")}, nil, nil, nil).Read().Err
		},
		"in a transaction": func(c *pgconn.PgConn) error {
			if _, err := c.Exec(ctx, "BEGIN; UPDATE term SET v = 1 WHERE k = 1").ReadAll(); err != nil {
				return err
			}
			_, err := c.Exec(ctx, sleepy).ReadAll()
			return err
		},
	}
	conns := map[string]*pgconn.PgConn{}
	done := map[string]chan error{}
	for name, run := range runs {
		c, ch := open(), make(chan error, 1)
		conns[name], done[name] = c, ch
		go func() { ch <- run(c) }()
	}
	time.Sleep(500 * time.Millisecond) // the sleeps run on every shard
	for _, c := range conns {
		p.Terminate(t, c.PID())
	}
	var pe *pgconn.PgError
	for name, ch := range done {
		select {
		case err := <-ch:
			if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Severity != "FATAL" {
				t.Errorf("terminated client running on every shard (%s): %v, want FATAL 57P01", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the terminated client's statement over every shard (%s) still runs after 5s", name)
		}
	}
	var v int
	if err := setup.QueryRow(ctx, "UPDATE term SET v = v + 10 WHERE k = 1 RETURNING v").Scan(&v); err != nil || v != 10 {
		t.Fatalf("row after the terminated transaction: v=%d, %v; want 10 (rolled back, lock gone)", v, err)
	}
}
