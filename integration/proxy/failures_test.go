package proxy_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

func TestCancelledSleepReturns57014Quickly(t *testing.T) {
	for name, pool := range map[string]string{"default": "", "prepare_simple": "prepare_simple: true"} {
		t.Run(name, func(t *testing.T) { testCancelledSleep(t, pool) })
	}
}

// testCancelledSleep is TestCancelledSleepReturns57014Quickly with pool
// settings; with prepare_simple the sleep runs as a prepared statement.
func testCancelledSleep(t *testing.T, pool string) {
	p := startProxy(t, proxyOptions{pool: pool})
	conn := connect(t, p.DSN("app", "app-secret"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	// pgx sends a CancelRequest when the context ends mid-query.
	_, err := conn.Exec(ctx, "SELECT pg_sleep(30)")
	elapsed := time.Since(start)
	if elapsed > 2*time.Second {
		t.Fatalf("cancel took %s, want < 2s", elapsed)
	}
	if err == nil {
		t.Fatal("cancelled query succeeded")
	}
	// pgx reports the context error; the server's answer is 57014 on the
	// raw connection. Check with pgconn directly too.
	pc, err := pgconn.Connect(context.Background(), p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(context.Background())
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = pc.CancelRequest(context.Background())
	}()
	start = time.Now()
	_, err = pc.Exec(context.Background(), "SELECT pg_sleep(30)").ReadAll()
	if got := sqlState(err); got != "57014" || time.Since(start) > 2*time.Second {
		t.Fatalf("cancel: %v (SQLSTATE %q) after %s, want 57014 within 2s", err, got, time.Since(start))
	}
	if _, err := pc.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("session after cancel: %v", err)
	}
}

func TestQueueTimeoutIsAClearError(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1\nqueue_timeout: 300ms"})
	ctx := ctxFor(t, 30*time.Second)
	tx := holdServerConnection(t, ctx, p)
	waiter := connect(t, p.DSN("app", "app-secret"))
	start := time.Now()
	_, err := waiter.Exec(ctx, "SELECT 1")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Message, "queue_timeout") || !strings.Contains(pe.Message, "app/app@s0") {
		t.Fatalf("got %v, want 53300 naming the pool and queue_timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Fatalf("queue timeout after %s, want about 300ms", d)
	}
	_ = tx.Commit(ctx)
	// The waiter's session is still usable once a connection is free.
	if _, err := waiter.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after queue timeout: %v", err)
	}
}

// TestCancelWhileWaitingForAConnection: a client that cancels its query
// while pgshard is still finding it a server connection (here: the pool's
// one connection is busy) gets 57014 once one is free, and the query never
// runs. Sent on, it would run its whole 30 s with no cancel to stop it.
func TestCancelWhileWaitingForAConnection(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1\nqueue_timeout: 20s"})
	ctx := ctxFor(t, 60*time.Second)
	tx := holdServerConnection(t, ctx, p)
	waiter, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := waiter.Exec(ctx, "SELECT pg_sleep(30)").ReadAll()
		done <- err
	}()
	// Cancel once the statement waits for the pool's one connection (a
	// cancel before pgshard reads the statement is ignored, as between
	// queries).
	for clientsWaiting(t, p) < 1 {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the statement never waited for a connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := waiter.CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if got := sqlState(err); got != "57014" {
			t.Fatalf("cancelled while queued: %v (SQLSTATE %q), want 57014", err, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the query cancelled while queued still runs after %s", time.Since(start))
	}
	// The cancel is spent: the next query runs.
	if _, err := waiter.Exec(ctx, "SELECT pg_sleep(0.1)").ReadAll(); err != nil {
		t.Fatalf("after the cancel: %v", err)
	}
}

// holdServerConnection opens a transaction through p that holds a server
// connection of the pool of app/app until it ends.
func holdServerConnection(t *testing.T, ctx context.Context, p *pgshardtest.Proxy) pgx.Tx {
	t.Helper()
	tx, err := connect(t, p.DSN("app", "app-secret")).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return tx
}

// clientsWaiting is how many clients wait for a server connection in
// any of p's pools.
func clientsWaiting(t *testing.T, p *pgshardtest.Proxy) float64 {
	t.Helper()
	resp, err := http.Get(p.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "pgshard_pool_clients_waiting{"); ok {
			v, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			n += v
		}
	}
	return n
}

func TestNodeDownGivesErrorAndSessionSurvives(t *testing.T) {
	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := startProxy(t, proxyOptions{primary: dead, pool: "connect_timeout: 1s"})
	ctx := ctxFor(t, 30*time.Second)
	conn := connect(t, p.DSN("app", "app-secret"))
	for range 2 {
		_, err := conn.Exec(ctx, "SELECT 1")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "08001" || !strings.Contains(pe.Message, "shard s0 node s0-primary") {
			t.Fatalf("got %v, want 08001 naming shard and node", err)
		}
	}
}

func TestServerRestartMidSessionNextQuerySucceeds(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, 2*time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// Terminate the server backend pgshard holds (as a restart would): the
	// pooled connection is dead, and the next query must get a new one.
	admin, err := pgx.Connect(ctx, pg.Shards[0].Primary.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	// pgshard notices the dead pooled connection before using it.
	var got int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&got); err != nil {
		t.Fatalf("first query after backend loss: %v", err)
	}
	// A real restart of the node, mid-session.
	node := pg.Shards[0].Primary
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Same port? The mapped port changes on restart, so point a fresh proxy
	// at the node after it is back; this session's proxy must report the
	// node down clearly meanwhile.
	_, err = conn.Exec(ctx, "SELECT 1")
	if c := sqlState(err); c != "08006" && c != "08001" && c != "57P01" {
		t.Fatalf("query while node down: %v, want 08xxx", err)
	}
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p2 := startProxy(t, proxyOptions{})
	conn2 := connect(t, p2.DSN("app", "app-secret"))
	if err := conn2.QueryRow(ctx, "SELECT 2").Scan(&got); err != nil || got != 2 {
		t.Fatalf("after restart: %v", err)
	}
	if err := pg.WaitStreaming(ctx); err != nil {
		t.Fatal(err)
	}
}

// A client that disconnects inside a transaction must not leave the server
// connection in it: the next client on that connection sees a clean state
// and the row lock is gone.
func TestClientVanishingMidTransactionRollsBack(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1"})
	ctx := ctxFor(t, time.Minute)
	setup := connect(t, p.DSN("app", "app-secret"))
	if _, err := setup.Exec(ctx, "DROP TABLE IF EXISTS vanish; CREATE TABLE vanish (id int primary key, v int); INSERT INTO vanish VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	raw, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ctx, "BEGIN; UPDATE vanish SET v = 99 WHERE id = 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	_ = raw.Conn().Close() // no Terminate, no COMMIT
	var v int
	var state string
	if err := setup.QueryRow(ctx, "SELECT v, (SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()) FROM vanish WHERE id = 1").Scan(&v, &state); err != nil {
		t.Fatal(err)
	}
	if v != 0 {
		t.Fatalf("uncommitted update visible after client vanished: v=%d", v)
	}
	// Pool size 1: this ran on the same server connection, outside any
	// transaction, and can take the row lock.
	if _, err := setup.Exec(ctx, "UPDATE vanish SET v = 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
}

func TestSessionSettingsFollowTheClient(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 2"})
	ctx := ctxFor(t, time.Minute)
	a := connect(t, p.DSN("app", "app-secret"))
	b := connect(t, p.DSN("app", "app-secret"))
	if _, err := a.Exec(ctx, "SET application_name = 'client-a'"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "SET statement_timeout TO '1234ms'"); err != nil {
		t.Fatal(err)
	}
	// Inside a rolled-back transaction a SET does not stick.
	if _, err := a.Exec(ctx, "BEGIN; SET work_mem = '7MB'; ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		// Interleave with another client so connections change hands.
		var bName string
		if err := b.QueryRow(ctx, "SHOW application_name").Scan(&bName); err != nil || bName == "client-a" {
			t.Fatalf("client b sees application_name %q (%v)", bName, err)
		}
		var name, timeout, workMem string
		if err := a.QueryRow(ctx, "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('work_mem')").Scan(&name, &timeout, &workMem); err != nil {
			t.Fatal(err)
		}
		if name != "client-a" || timeout != "1234ms" || workMem == "7MB" {
			t.Fatalf("round %d: client a sees %q %q %q", i, name, timeout, workMem)
		}
	}
	if _, err := a.Exec(ctx, "RESET statement_timeout"); err != nil {
		t.Fatal(err)
	}
	var timeout string
	if err := a.QueryRow(ctx, "SHOW statement_timeout").Scan(&timeout); err != nil || timeout != "0" {
		t.Fatalf("after RESET: %q %v", timeout, err)
	}
}

func TestStatementsThatCannotBeCarriedAreRefused(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	for _, q := range []string{"LISTEN chan; SELECT 1", "PREPARE p AS SELECT 1; EXECUTE p", "SELECT pg_advisory_lock(1)", "SET ROLE postgres", "CREATE TEMP TABLE tt (i int)"} {
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "transaction pooling") || pe.Hint == "" {
			t.Errorf("%s: got %v, want 0A000 explaining transaction pooling", q, err)
		}
	}
	// Inside a transaction the refusal aborts it, as a server error would.
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_lock(1)"); sqlState(err) != "0A000" {
		t.Fatalf("in tx: %v", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); sqlState(err) != "25P02" {
		t.Fatalf("after refusal in tx: %v, want 25P02 (transaction aborted)", err)
	}
	_ = tx.Rollback(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_xact_lock(1)"); err != nil {
		t.Fatalf("transaction-scoped lock: %v", err)
	}
}

// A message larger than max_message_size gets an error and the connection
// is closed; other clients are unaffected.
func TestOversizedMessageIsRefused(t *testing.T) {
	p := startProxy(t, proxyOptions{extra: "max_message_size: 1048576"})
	ctx := ctxFor(t, 30*time.Second)
	conn, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	nc := conn.Conn()
	var hdr [5]byte
	hdr[0] = 'Q'
	binary.BigEndian.PutUint32(hdr[1:], 64<<20)
	if _, err := nc.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	fe := pgproto3.NewFrontend(nc, nc)
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || er.Code != "54000" || er.Severity != "FATAL" {
		t.Fatalf("got %#v, want FATAL 54000", msg)
	}
	if _, err := fe.Receive(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("connection not closed after oversized message: %v", err)
	}
	other := connect(t, p.DSN("app", "app-secret"))
	if _, err := other.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// SIGTERM-style shutdown: an open transaction may finish, then the session
// is told the server is going away.
func TestShutdownLetsTransactionsFinish(t *testing.T) {
	// With the idle timeouts set, every wait for a client has a deadline
	// of its own, which the drain's wake-up must still cut short.
	for name, extra := range map[string]string{"no idle timeouts": "", "idle timeouts": "client_idle_timeout: 1m\nidle_transaction_timeout: 1m"} {
		t.Run(name, func(t *testing.T) {
			p := startProxy(t, proxyOptions{extra: extra})
			ctx := ctxFor(t, time.Minute)
			busy := connect(t, p.DSN("app", "app-secret"))
			idle := connect(t, p.DSN("app", "app-secret"))
			tx, err := busy.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(p.Stop)
			time.Sleep(300 * time.Millisecond)
			if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
				t.Fatalf("open transaction during drain: %v", err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatalf("commit during drain: %v", err)
			}
			committed := time.Now()
			wg.Wait()
			// shutdown_timeout is 5s: a session the drain did not wake
			// would hold the stop until then.
			if took := time.Since(committed); took > 3*time.Second {
				t.Errorf("the proxy stopped %s after the last transaction ended", took)
			}
			if _, err := idle.Exec(ctx, "SELECT 1"); err == nil {
				t.Fatal("idle session still served after shutdown")
			}
			if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
				t.Fatal("still accepting connections after shutdown")
			}
		})
	}
}

// TestExtendedProtocolSetFollowsTheClient: a SET sent with Parse/Bind/
// Execute (as JDBC does) is carried to later server connections like a
// simple-protocol one; LISTEN through Parse is refused like a simple one.
func TestExtendedProtocolSetFollowsTheClient(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 2"})
	ctx := ctxFor(t, time.Minute)
	a := connect(t, p.DSN("app", "app-secret"))
	b := connect(t, p.DSN("app", "app-secret"))
	if err := a.PgConn().ExecParams(ctx, "SET application_name = 'ext-a'", nil, nil, nil, nil).Read().Err; err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		var other string
		if err := b.QueryRow(ctx, "SHOW application_name").Scan(&other); err != nil || other == "ext-a" {
			t.Fatalf("client b sees application_name %q (%v)", other, err)
		}
		res := a.PgConn().ExecParams(ctx, "SELECT current_setting('application_name')", nil, nil, nil, nil).Read()
		if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "ext-a" {
			t.Fatalf("round %d: client a sees %q (%v)", i, res.Rows, res.Err)
		}
	}
	err := a.PgConn().ExecParams(ctx, "SELECT pg_advisory_lock(1)", nil, nil, nil, nil).Read().Err
	if sqlState(err) != "0A000" {
		t.Fatalf("a session advisory lock through the extended protocol: want 0A000, got %v", err)
	}
}

// TestMinIdleConnectionsAreOpenedAtStart: with pool.min_idle, every user's
// pool to the primary holds that many connections before any client
// connects.
func TestMinIdleConnectionsAreOpenedAtStart(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	count := func() int {
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
			AND pid <> pg_backend_pid() AND application_name <> 'pgshard-monitor'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	startProxy(t, proxyOptions{pool: "min_idle: 2"})
	// Three users (app, legacy, monitor), two connections each.
	deadline := time.Now().Add(10 * time.Second)
	for count()-before < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("%d server connections opened by min_idle, want 6", count()-before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShutdownEndsQueriesAtTheDeadline: a query still running when the
// shutdown timeout (5s here) runs out does not keep pgshard up: the
// session is closed, the server is told to cancel the query, and the
// proxy stops, where the query alone would have run two minutes.
func TestShutdownEndsQueriesAtTheDeadline(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	busy := connect(t, p.DSN("app", "app-secret"))
	failed := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, "SELECT pg_sleep(120) /* shutdown-deadline */")
		failed <- err
	}()
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	running := func() int {
		var n int
		if err := direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%shutdown-deadline%' AND pid <> pg_backend_pid() AND state = 'active'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); running() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the query never started on the server")
		}
	}
	start := time.Now()
	p.Stop()
	if took := time.Since(start); took > 9*time.Second {
		t.Errorf("stopping took %s with shutdown_timeout 5s", took)
	}
	if err := <-failed; err == nil {
		t.Error("the query ended without an error although pgshard closed its session")
	}
	for deadline := time.Now().Add(5 * time.Second); running() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server still runs the query after pgshard stopped")
		}
	}
}

// TestQueryToVanishedServerFails: a server whose network goes silent (its
// packets dropped: no answer, no acknowledgement, no reset, as when its
// host loses power) fails the client's query with 08006 once
// tcp.user_timeout has passed, instead of after the kernel's
// retransmissions give up a quarter of an hour later; once the network is
// back the same session runs again.
func TestQueryToVanishedServerFails(t *testing.T) {
	pgshardtest.NeedBlackHole(t)
	link := pgshardtest.NewLink(t, pg.Shards[0].Primary.Addr())
	p := startProxy(t, proxyOptions{primary: link.Addr, pool: "connect_timeout: 2s", extra: "tcp: {user_timeout: 3s}"})
	ctx := ctxFor(t, time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	link.Cut()
	start := time.Now()
	_, err := conn.Exec(ctx, "SELECT 1")
	took := time.Since(start)
	if code := sqlState(err); code != "08006" {
		t.Fatalf("query to a silent server: %v, want 08006", err)
	}
	if took < 2*time.Second || took > 15*time.Second {
		t.Errorf("the query failed after %s, want about tcp.user_timeout (3s)", took.Round(time.Millisecond))
	}
	t.Logf("failed after %s", took.Round(time.Millisecond))

	link.Heal()
	// The lag monitor may have banned the node meanwhile: 08001 until the
	// ban ends, then the session's statements run again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, "SELECT 1")
		if err == nil {
			break
		}
		if code := sqlState(err); code != "08001" || time.Now().After(deadline) {
			t.Fatalf("after the network came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestVanishedClientReleasesItsTransaction: a client that goes silent
// inside a transaction (its packets dropped: no FIN, no reset, as when its
// host loses power or its laptop sleeps) is found dead by keepalives; its
// session ends, the transaction is rolled back and the row it locked is
// free again within seconds, not after the kernel's default of minutes.
func TestVanishedClientReleasesItsTransaction(t *testing.T) {
	pgshardtest.NeedBlackHole(t)
	ctx := ctxFor(t, time.Minute)
	direct, err := pg.Shards[0].Primary.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if _, err := direct.Exec(ctx, `DROP TABLE IF EXISTS vanish; CREATE TABLE vanish (id int PRIMARY KEY, v int); INSERT INTO vanish VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, proxyOptions{extra: "tcp: {keepalive_idle: 1s, keepalive_interval: 1s, keepalive_count: 2}"})
	client := connect(t, p.DSN("app", "app-secret"))
	if _, err := client.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Exec(ctx, "UPDATE vanish SET v = v + 1 WHERE id = 1"); err != nil {
		t.Fatal(err)
	}

	// The client dies a moment after its last statement: by then it has
	// acknowledged the answer, so the connection is idle and keepalives
	// run. (Data still unacknowledged when a peer dies suspends them:
	// that case needs tcp.user_timeout.)
	time.Sleep(500 * time.Millisecond)
	_, port, _ := net.SplitHostPort(p.Addr)
	heal := pgshardtest.Drop(t, port)
	start := time.Now()
	// Waits for the client's row lock; a lock_timeout error means the
	// transaction was still open after 20s.
	if _, err := direct.Exec(ctx, "SET lock_timeout = '20s'; UPDATE vanish SET v = v + 10 WHERE id = 1"); err != nil {
		t.Fatalf("the row stayed locked: %v", err)
	}
	took := time.Since(start)
	heal()
	if took > 15*time.Second {
		t.Errorf("the vanished client's transaction ended after %s, want a few seconds (keepalives 1s+2x1s)", took.Round(time.Millisecond))
	}
	t.Logf("the row was free after %s", took.Round(time.Millisecond))
	var v int
	if err := direct.QueryRow(ctx, "SELECT v FROM vanish WHERE id = 1").Scan(&v); err != nil || v != 10 {
		t.Errorf("v = %d (%v), want 10: the vanished client's update rolled back", v, err)
	}
}

// pool.reserve_size lets a client that waited reserve_timeout open a
// connection beyond pool.size; once the reserve is used up, clients wait
// for queue_timeout as before, and the pool shrinks back to its size as
// connections come back with nobody waiting.
func TestReservePoolAbsorbsABurst(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1\nqueue_timeout: 1s\nreserve_size: 1\nreserve_timeout: 200ms"})
	ctx := ctxFor(t, time.Minute)
	holder := connect(t, p.DSN("app", "app-secret"))
	a, err := holder.Begin(ctx)
	if err == nil {
		_, err = a.Exec(ctx, "SELECT 1")
	}
	if err != nil {
		t.Fatal(err)
	}
	burst := connect(t, p.DSN("app", "app-secret"))
	start := time.Now()
	b, err := burst.Begin(ctx)
	if err == nil {
		_, err = b.Exec(ctx, "SELECT 1")
	}
	if err != nil {
		t.Fatalf("client beyond pool.size: %v, want a reserve connection", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond || waited > 900*time.Millisecond {
		t.Errorf("reserve connection after %s, want about reserve_timeout (200ms)", waited)
	}
	late := connect(t, p.DSN("app", "app-secret"))
	var pe *pgconn.PgError
	if _, err := late.Exec(ctx, "SELECT 1"); !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("client with the reserve used up: %v, want 53300 after queue_timeout", err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	pool := `{database="app",node="s0-primary",shard="s0",user="app"}`
	if got := p.Metric(t, "pgshard_pool_reserve_opens_total"+pool); got != 1 {
		t.Errorf("reserve opens = %v, want 1", got)
	}
	if got := p.Metric(t, "pgshard_pool_connections_open"+pool); got != 1 {
		t.Errorf("connections open after the burst = %v, want pool.size 1", got)
	}
	if _, err := late.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("after the burst: %v", err)
	}
}
