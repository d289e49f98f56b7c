package proxy_test

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestIdleListenerInSessionPooling: a client that LISTENs and then waits,
// sending nothing, gets each notification as it is sent (here by a client
// of the server itself), as from PostgreSQL; and its session goes on.
func TestIdleListenerInSessionPooling(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startProxy(t, proxyOptions{pool: "mode: session"})
	listener := connect(t, p.DSN("app", "app-secret"))
	direct := connect(t, pg.Shards[0].Primary.DSN())
	if _, err := listener.Exec(ctx, "LISTEN proxied"); err != nil {
		t.Fatal(err)
	}
	for _, payload := range []string{"first", "second"} {
		sent := make(chan error, 1)
		go func() {
			time.Sleep(200 * time.Millisecond)
			_, err := direct.Exec(ctx, "SELECT pg_notify('proxied', $1)", payload)
			sent <- err
		}()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if err != nil || n.Channel != "proxied" || n.Payload != payload {
			t.Fatalf("want proxied %q, got %+v, %v", payload, n, err)
		}
	}
	var one int
	if err := listener.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("a query after the waits: %v", err)
	}
	// A notification the listener sends itself comes with its query's
	// answer, as from PostgreSQL.
	if _, err := listener.Exec(ctx, "SELECT pg_notify('proxied', 'inline')"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if n, err := listener.WaitForNotification(wctx); err != nil || n.Payload != "inline" {
		t.Fatalf("notification sent by the listener itself: %+v, %v", n, err)
	}
	if _, err := listener.Exec(ctx, "UNLISTEN *"); err != nil {
		t.Fatal(err)
	}
	_, _ = direct.Exec(ctx, "NOTIFY proxied, 'late'")
	wctx2, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if n, err := listener.WaitForNotification(wctx2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after UNLISTEN *: %+v, %v", n, err)
	}
}
