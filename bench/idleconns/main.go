// Command idleconns opens N authenticated PostgreSQL connections and holds
// them idle until its standard input reaches EOF or it gets SIGINT/SIGTERM.
// bench/run.sh uses it to measure a proxy's memory per idle client:
//
//	go run ./bench/idleconns -dsn 'host=127.0.0.1 port=6433 user=bench dbname=bench' -n 1000
//
// The password comes from the DSN or PGPASSWORD (the usual libpq variables
// apply). Once every connection is up it prints "connected N" on stdout; if
// any connection fails it reports the first error on stderr and exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func main() {
	dsn := flag.String("dsn", "", "connection string, keyword/value or URL (PG* environment variables apply)")
	n := flag.Int("n", 1000, "number of connections to open")
	concurrency := flag.Int("concurrency", 50, "connection attempts in flight at once")
	timeout := flag.Duration("timeout", 30*time.Second, "timeout for each connection attempt")
	flag.Parse()
	if *n < 1 || *concurrency < 1 {
		fmt.Fprintln(os.Stderr, "idleconns: -n and -concurrency must be positive")
		os.Exit(2)
	}
	if err := run(*dsn, *n, *concurrency, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "idleconns:", err)
		os.Exit(1)
	}
}

func run(dsn string, n, concurrency int, timeout time.Duration) error {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = timeout

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Stdin closing is the normal way to stop: the caller keeps a pipe open
	// for as long as the connections should stay up.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	conns := make([]*pgconn.PgConn, n)
	var (
		failed   atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, concurrency)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := pgconn.ConnectConfig(ctx, cfg)
			if err != nil {
				failed.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			conns[i] = c
		})
	}
	wg.Wait()
	defer closeAll(conns)

	connected := 0
	for _, c := range conns {
		if c != nil {
			connected++
		}
	}
	switch {
	case failed.Load() > 0:
		return fmt.Errorf("connected %d of %d; %d failed, first error: %w", connected, n, failed.Load(), firstErr)
	case connected < n:
		return errors.New("interrupted before all connections were open")
	}
	fmt.Printf("connected %d\n", connected)

	<-ctx.Done()
	return nil
}

// closeAll sends Terminate on every open connection, in parallel and with a
// deadline, so the proxy sees orderly disconnects.
func closeAll(conns []*pgconn.PgConn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Close(ctx)
		})
	}
	wg.Wait()
}
