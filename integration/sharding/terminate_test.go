package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// pgshard terminate of a client whose statement runs on every shard ends
// it as pg_terminate_backend would: FATAL 57P01 alone, not the 57014 each
// shard answers the cancel pgshard sends first, in the simple and the
// extended protocol, for a cursor's query, inside a transaction (rolled
// back) and outside one.
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
		"simple": func(c *pgconn.PgConn) error { return rawQuery(c, sleepy) },
		"extended": func(c *pgconn.PgConn) error {
			return c.ExecParams(ctx, sleepy+" AND v = $1", [][]byte{[]byte("0")}, nil, nil, nil).Read().Err
		},
		"a cursor's query": func(c *pgconn.PgConn) error { return rawQuery(c, "BEGIN; DECLARE sleepy CURSOR FOR "+sleepy) },
		"in a transaction": func(c *pgconn.PgConn) error {
			if _, err := c.Exec(ctx, "BEGIN; UPDATE term SET v = 1 WHERE k = 1").ReadAll(); err != nil {
				return err
			}
			_, err := c.Exec(ctx, sleepy).ReadAll()
			return err
		},
	}
	var pids []uint32
	done := map[string]chan error{}
	for name, run := range runs {
		c, ch := open(), make(chan error, 1)
		pids, done[name] = append(pids, c.PID()), ch
		go func() { ch <- run(c) }()
	}
	time.Sleep(500 * time.Millisecond) // the sleeps run on every shard
	for _, pid := range pids {
		p.Terminate(t, pid)
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

// rawQuery sends q as a simple Query on c's socket and reads until the
// connection closes. It returns the first ErrorResponse; a FATAL one ends
// the session, so any message after it makes a plain error naming them.
func rawQuery(c *pgconn.PgConn, q string) error {
	hc, err := c.Hijack()
	if err != nil {
		return err
	}
	defer hc.Conn.Close()
	hc.Frontend.Send(&pgproto3.Query{String: q})
	if err := hc.Frontend.Flush(); err != nil {
		return err
	}
	var first *pgconn.PgError
	var after []string
	for {
		msg, err := hc.Frontend.Receive()
		if err != nil {
			break
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok && first == nil {
			first = pgconn.ErrorResponseToPgError(e)
			continue
		}
		if first != nil {
			after = append(after, fmt.Sprintf("%T", msg))
		}
	}
	switch {
	case first == nil:
		return errors.New("the connection closed without an error")
	case len(after) > 0:
		return fmt.Errorf("%v, then %s", first, strings.Join(after, ", "))
	}
	return first
}
