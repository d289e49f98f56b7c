package proxy_test

import (
	"testing"
	"time"
)

func TestSimpleAndExtendedQueriesThroughProxy(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, 30*time.Second)
	conn := connect(t, p.DSN("app", "app-secret"))
	var n int
	if err := conn.QueryRow(ctx, "SELECT 41 + $1::int", 1).Scan(&n); err != nil || n != 42 {
		t.Fatalf("extended: %d %v", n, err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS basic (id int primary key, v text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO basic VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v", 1, "one"); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM basic WHERE id = $1", 1).Scan(&v); err != nil || v != "one" {
		t.Fatalf("select: %q %v", v, err)
	}
}
