package proxy_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/wire"
)

// TestReloadUnderLoad: while eight clients run transactions, a reload
// shrinks the pool to two server connections, another moves the shard's
// primary to a new address (a relay to the same server, as after a DNS or
// VIP change), and a third grows the pool back with a new user; a reload
// that would change the pool mode is refused. No transaction fails, the
// server sees the pool shrink, the connections move to the new address,
// and the new user logs in.
func TestReloadUnderLoad(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	opts := proxyOptions{pool: "size: 6\nqueue_timeout: 20s"}
	p := startProxy(t, opts)
	// The primary's new address, for the move below.
	link := pgshardtest.NewLink(t, pg.Shards[0].Primary.Addr())

	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var before int
	pgshardConns := func() int {
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
			AND pid <> pg_backend_pid() AND application_name <> 'pgshard-monitor'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n - before
	}
	before = pgshardConns()

	var (
		done  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		fails = make(chan error, 8)
	)
	for range 8 {
		c := connect(t, p.DSN("app", "app-secret"))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
					var one int
					if err := tx.QueryRow(ctx, "SELECT 1 FROM pg_sleep(0.005)").Scan(&one); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, "SELECT $1::int", one)
					return err
				})
				if err != nil {
					fails <- err
					return
				}
				done.Add(1)
			}
		})
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (server sees %d pgshard connections, link accepted %d)", what, pgshardConns(), link.Accepted())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the load to reach six server connections", func() bool { return pgshardConns() == 6 })

	opts.pool = "size: 2\nqueue_timeout: 20s"
	changed, err := p.Reload(t, proxyYAML(opts))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(changed, []string{"pool"}) {
		t.Errorf("changed = %q, want [pool]", changed)
	}
	waitFor("the pool to shrink to two server connections", func() bool { return pgshardConns() == 2 })
	at := done.Load()
	waitFor("transactions to go on through two connections", func() bool { return done.Load() > at+50 })

	// Changing the pool mode needs a restart: refused whole, the user it
	// would add included.
	refused := opts
	refused.users = "  - {name: bob, password: bob-secret}"
	refused.pool += "\nmode: session"
	if _, err := p.Reload(t, proxyYAML(refused)); !errors.Is(err, wire.ErrNeedsRestart) {
		t.Fatalf("reload changing the pool mode: %v, want ErrNeedsRestart", err)
	}
	if _, err := pgx.Connect(ctx, p.DSN("bob", "bob-secret")); sqlState(err) != "28P01" {
		t.Errorf("bob after a refused reload: %v, want 28P01", err)
	}

	// The primary moves: transactions running finish on the old address,
	// the next ones open connections to the new one.
	opts.primary = link.Addr
	if changed, err = p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"databases[app] nodes"}) {
		t.Fatalf("reload moving the primary: changed %q, err %v", changed, err)
	}
	waitFor("connections through the new address", func() bool { return link.Accepted() >= 2 })
	waitFor("the old address's connections to close", func() bool { return pgshardConns() == 2 })
	at = done.Load()
	waitFor("transactions to go on at the new address", func() bool { return done.Load() > at+50 })

	opts.pool = "size: 6\nqueue_timeout: 20s"
	opts.users = "  - {name: bob, password: bob-secret}"
	if _, err := p.Reload(t, proxyYAML(opts)); err != nil {
		t.Fatal(err)
	}
	waitFor("the pool to grow back to six server connections", func() bool { return pgshardConns() == 6 })
	// The lag monitor's connection goes there too.
	if n := link.Accepted(); n < 6 {
		t.Errorf("%d connections through the new address, want at least the pool's 6", n)
	}
	bob := connect(t, p.DSN("bob", "bob-secret"))
	var user string
	if err := bob.QueryRow(ctx, "SELECT session_user").Scan(&user); err != nil {
		t.Fatal(err)
	}

	close(stop)
	wg.Wait()
	close(fails)
	for err := range fails {
		t.Errorf("a transaction failed during the reloads: %v", err)
	}
	t.Logf("%d transactions through the reloads", done.Load())
}
