package proxy_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/internal/admin"
)

// adminPost posts to the proxy's admin listener and decodes a 200 answer
// into out; it returns the status.
func adminPost(t *testing.T, p *pgshardtest.Proxy, path string, out any) int {
	t.Helper()
	resp, err := http.Post(p.Admin+path, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
	}
	return resp.StatusCode
}

// A pause holds new transactions back while those open go on to their
// end, tells when none is left open (the moment to switch a node over),
// and lets the held ones run at resume, or by itself after max: clients
// see a delay, not an error.
func TestPauseHoldsNewTransactions(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	open := connect(t, p.DSN("app", "app-secret"))
	tx, err := open.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	var paused admin.PauseResult
	if code := adminPost(t, p, "/pause?database=app&wait=300ms", &paused); code != 200 ||
		len(paused.Databases) != 1 || paused.Databases[0].Name != "app" || paused.Databases[0].OpenTransactions != 1 {
		t.Fatalf("pause with a transaction open: %d %+v, want app with 1 open", code, paused)
	}

	waiter := connect(t, p.DSN("app", "app-secret"))
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(ctx, "SELECT 1")
		done <- err
	}()
	// The open transaction is not held.
	if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
		t.Fatalf("open transaction while paused: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit while paused: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("a new transaction ran while paused (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	states := map[string]int{}
	for _, c := range p.Clients(t) {
		states[c.State]++
	}
	if states["paused"] != 1 {
		t.Errorf("client states %v, want one paused", states)
	}
	if st := p.Status(t); len(st.Paused) != 1 || st.Paused[0].Name != "app" || st.Paused[0].Until.Before(time.Now()) {
		t.Errorf("/status paused: %+v, want app", st.Paused)
	}
	if code := adminPost(t, p, "/pause?database=app&wait=5s", &paused); code != 200 || paused.Databases[0].OpenTransactions != 0 {
		t.Fatalf("pause once the transaction ended: %d %+v, want 0 open", code, paused)
	}

	var resumed admin.ResumeResult
	if code := adminPost(t, p, "/resume", &resumed); code != 200 || !slices.Equal(resumed.Resumed, []string{"app"}) {
		t.Fatalf("resume: %d %+v", code, resumed)
	}
	if st := p.Status(t); len(st.Paused) != 0 {
		t.Errorf("/status after resume: paused %+v", st.Paused)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("held transaction after resume: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held transaction did not run within 5s of resume")
	}

	// A pause nobody resumes ends by itself.
	if code := adminPost(t, p, "/pause?max=400ms", nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	start := time.Now()
	if _, err := waiter.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if held := time.Since(start); held < 300*time.Millisecond || held > 5*time.Second {
		t.Errorf("held %s by a pause of max 400ms", held)
	}
	if code := adminPost(t, p, "/pause?database=nope", nil); code != http.StatusBadRequest {
		t.Errorf("pause of an unknown database: %d, want 400", code)
	}
}

// The switchover a pause is for: paused, the shard's primary moves (here
// to the same server under another address, as after a promotion behind a
// new name), and a transaction held meanwhile runs on the new node once
// resumed, without an error. (In session pooling a session keeps its
// connections to the old node, with its session state, until they close.)
func TestPausedSwitchover(t *testing.T) {
	opts := proxyOptions{}
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	before := connect(t, p.DSN("app", "app-secret"))
	if _, err := before.Exec(ctx, "SELECT 1"); err != nil { // a connection to the old address
		t.Fatal(err)
	}
	var paused admin.PauseResult
	if code := adminPost(t, p, "/pause?wait=5s", &paused); code != 200 || paused.Databases[0].OpenTransactions != 0 {
		t.Fatalf("pause: %d %+v", code, paused)
	}
	held := make(chan error, 1)
	go func() {
		_, err := before.PgConn().Exec(ctx, "BEGIN; SELECT 2").ReadAll()
		held <- err
	}()
	host, port, err := net.SplitHostPort(pg.Shards[0].Primary.Addr())
	if err != nil {
		t.Fatal(err)
	}
	moved := "localhost"
	if host == "localhost" {
		moved = "127.0.0.1"
	}
	opts.primary = net.JoinHostPort(moved, port)
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"databases[app] nodes"}) {
		t.Fatalf("reload while paused: %v %v", changed, err)
	}
	var resumed admin.ResumeResult
	if adminPost(t, p, "/resume", &resumed); !slices.Equal(resumed.Resumed, []string{"app"}) {
		t.Fatalf("resume: %+v", resumed)
	}
	if err := <-held; err != nil {
		t.Fatalf("transaction held across the switchover: %v", err)
	}
	clients := p.Clients(t)
	if len(clients) != 1 || len(clients[0].Servers) != 1 || clients[0].Servers[0].Address != opts.primary {
		t.Errorf("after the switchover: %+v, want the session's transaction on %s", clients, opts.primary)
	}
	if _, err := before.Exec(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
}

// A client that goes away while a pause holds its query does not leave
// its session behind until the pause ends.
func TestPausedClientThatLeavesIsLetGo(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	if code := adminPost(t, p, "/pause?max=1m", nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	defer adminPost(t, p, "/resume", nil)
	c, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Exec(ctx, "SELECT 1").ReadAll() }()
	held := func() int {
		n := 0
		for _, s := range p.Clients(t) {
			if s.State == "paused" {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); held() != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the query was not held")
		}
	}
	_ = c.Conn().Close() // gone, without a Terminate
	for deadline := time.Now().Add(3 * time.Second); len(p.Clients(t)) != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the session of a client that left is still there while paused: %+v", p.Clients(t))
		}
	}
}
