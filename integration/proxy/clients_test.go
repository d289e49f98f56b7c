package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/wire"
)

// A client that leaves its transaction open and silent past
// idle_transaction_timeout is disconnected with 25P03, as PostgreSQL's
// idle_in_transaction_session_timeout does, and its transaction is rolled
// back: the one server connection of the pool and the row lock it held go
// to a client that was queueing for them. Clients that are idle outside a
// transaction, or that keep talking inside one, are not cut.
func TestIdleTransactionTimeoutEndsTheSession(t *testing.T) {
	for _, c := range []struct {
		name, pool string
		open       string // leaves the client in a transaction: 'T' or 'E'
	}{
		{"open, transaction pooling", "transaction", "BEGIN; UPDATE idletx SET v = 99 WHERE id = 1"},
		{"failed, transaction pooling", "transaction", "BEGIN; UPDATE idletx SET v = 99 WHERE id = 1; SELECT 1/0"},
		{"open, session pooling", "session", "BEGIN; UPDATE idletx SET v = 99 WHERE id = 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := startProxy(t, proxyOptions{pool: "mode: " + c.pool + "\nsize: 1", extra: "idle_transaction_timeout: 500ms"})
			ctx := ctxFor(t, time.Minute)
			dsn := p.DSN("app", "app-secret")
			setup := connect(t, dsn)
			if _, err := setup.Exec(ctx, "DROP TABLE IF EXISTS idletx; CREATE TABLE idletx (id int primary key, v int); INSERT INTO idletx VALUES (1, 0)"); err != nil {
				t.Fatal(err)
			}
			if c.pool == "session" {
				// Session pooling: setup's connection is the pool's only one.
				if err := setup.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}

			idle, err := pgconn.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer idle.Close(context.Background())
			_, _ = idle.Exec(ctx, c.open).ReadAll()
			if idle.TxStatus() != 'T' && idle.TxStatus() != 'E' {
				t.Fatalf("transaction status %q after %q", idle.TxStatus(), c.open)
			}
			opened := time.Now()

			// The waiter needs the pool's one connection and the row: it
			// gets both once the idle client is cut, and sees the row as it
			// was before the idle transaction's UPDATE.
			waiter, err := pgconn.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer waiter.Close(context.Background())
			res := waiter.ExecParams(ctx, "UPDATE idletx SET v = v + 1 WHERE id = 1 RETURNING v", nil, nil, nil, nil).Read()
			waited := time.Since(opened)
			if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "1" {
				t.Fatalf("waiter: %v %q, want v = 1 (the idle transaction's update rolled back)", res.Err, res.Rows)
			}
			if waited < 400*time.Millisecond || waited > 5*time.Second {
				t.Errorf("the waiter got the connection %s after the transaction went idle, want about 500ms", waited)
			}

			_, err = idle.Exec(ctx, "COMMIT").ReadAll()
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != "25P03" || pe.Severity != "FATAL" ||
				pe.Message != "terminating connection due to idle-in-transaction timeout" || !strings.Contains(pe.Detail, "500ms") {
				t.Fatalf("idle client's COMMIT: %v, want FATAL 25P03", err)
			}
			if !idle.IsClosed() {
				t.Error("the idle client's connection is still open")
			}
			if got := p.Metric(t, `pgshard_idle_timeouts_total{database="app",timeout="idle_transaction_timeout"}`); got != 1 {
				t.Errorf("idle_transaction_timeout endings = %v, want 1", got)
			}
		})
	}

	t.Run("talking and idle clients stay", func(t *testing.T) {
		p := startProxy(t, proxyOptions{pool: "size: 2", extra: "idle_transaction_timeout: 1s"})
		ctx := ctxFor(t, time.Minute)
		outside := connect(t, p.DSN("app", "app-secret"))
		inside := connect(t, p.DSN("app", "app-secret"))
		tx, err := inside.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Every message restarts the wait: 8 × 300ms is more than two
		// timeouts, each gap well under one even on a loaded machine.
		for i := range 8 {
			time.Sleep(300 * time.Millisecond)
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatalf("statement %d of a transaction that never idled 1s: %v", i, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // idle outside a transaction
		for name, c := range map[string]interface {
			Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		}{"idle outside a transaction": outside, "idle after its commit": inside} {
			if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
				t.Errorf("client %s: %v", name, err)
			}
		}
		if got := p.Metric(t, `pgshard_idle_timeouts_total{database="app",timeout="idle_transaction_timeout"}`); got != 0 {
			t.Errorf("idle_transaction_timeout endings = %v, want 0", got)
		}
	})
}

// client_idle_timeout ends a session whose client sends nothing for longer
// outside a transaction, with PostgreSQL's 57P05: in session pooling the
// server connection it held goes to a client queueing for it. A client
// inside a transaction is left to idle_transaction_timeout (here off).
func TestClientIdleTimeoutEndsIdleSessions(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "mode: session\nsize: 2", extra: "client_idle_timeout: 400ms"})
	ctx := ctxFor(t, time.Minute)
	dsn := p.DSN("app", "app-secret")
	inTx, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer inTx.Close(context.Background())
	if _, err := inTx.Exec(ctx, "BEGIN; SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	idle, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(context.Background())
	if _, err := idle.Exec(ctx, "SELECT 1").ReadAll(); err != nil { // takes the pool's second connection
		t.Fatal(err)
	}
	went := time.Now()

	waiter, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(context.Background())
	if _, err := waiter.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if waited := time.Since(went); waited < 300*time.Millisecond || waited > 5*time.Second {
		t.Errorf("the waiter got a connection %s after the client went idle, want about 400ms", waited)
	}
	_, err = idle.Exec(ctx, "SELECT 1").ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P05" || pe.Severity != "FATAL" || pe.Message != "terminating connection due to idle-session timeout" {
		t.Fatalf("idle client's next query: %v, want FATAL 57P05", err)
	}
	// Idle in its transaction all along, well past 400ms.
	if _, err := inTx.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		t.Fatalf("client idle inside a transaction, with only client_idle_timeout set: %v", err)
	}
	// The waiter and the committed client go idle now too, and may be
	// cut before the scrape: at least the one above.
	if got := p.Metric(t, `pgshard_idle_timeouts_total{database="app",timeout="client_idle_timeout"}`); got < 1 {
		t.Errorf("client_idle_timeout endings = %v, want at least 1", got)
	}
	if got := p.Metric(t, `pgshard_idle_timeouts_total{database="app",timeout="idle_transaction_timeout"}`); got != 0 {
		t.Errorf("idle_transaction_timeout endings = %v, want 0", got)
	}
}

// max_client_conn bounds the sessions open at once: a login past it gets
// PostgreSQL's 53300 before authentication, the sessions open keep
// working and can still be cancelled, a failed login gives its slot back,
// and a reload lowers the bound for new logins only.
func TestMaxClientConnRefusesLoginsPastIt(t *testing.T) {
	opts := proxyOptions{extra: "max_client_conn: 2"}
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	dsn := p.DSN("app", "app-secret")
	a := connect(t, dsn)
	b, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}

	refused := func(t *testing.T, what string) {
		t.Helper()
		c, err := pgconn.Connect(ctx, dsn)
		var pe *pgconn.PgError
		if err == nil {
			c.Close(ctx)
			t.Fatalf("%s: a login past max_client_conn was let in", what)
		}
		if !errors.As(err, &pe) || pe.Code != "53300" || pe.Message != "sorry, too many clients already" || !strings.Contains(pe.Detail, "max_client_conn") {
			t.Fatalf("%s: %v, want 53300 sorry, too many clients already", what, err)
		}
	}
	refused(t, "two sessions open")

	// The open sessions are served and cancellable while the bound is reached.
	start := time.Now()
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = a.PgConn().CancelRequest(context.Background())
	}()
	_, err = a.Exec(ctx, "SELECT pg_sleep(30)")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" || time.Since(start) > 5*time.Second {
		t.Fatalf("cancel while at max_client_conn: %v after %s, want 57014", err, time.Since(start))
	}

	// A session that ends gives its slot back; logins that fail do not
	// keep theirs.
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clientsOpen := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var got float64
			for _, state := range []string{"active", "idle", "idle in transaction"} {
				got += p.Metric(t, `pgshard_clients{database="app",state="`+state+`"}`)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("pgshard_clients summed = %v, want %v", got, want)
			}
		}
	}
	clientsOpen(1) // the proxy has seen b go
	for range 3 {
		if _, err := pgconn.Connect(ctx, p.DSN("app", "wrong")); !errors.As(err, &pe) || pe.Code != "28P01" {
			t.Fatalf("wrong password: %v, want 28P01", err)
		}
	}
	c, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("login after a session ended and three failed: %v", err)
	}
	defer c.Close(context.Background())
	refused(t, "full again")
	clientsOpen(2)

	for series, want := range map[string]float64{
		`pgshard_logins_refused_total{reason="max_client_conn"}`: 2,
		`pgshard_logins_refused_total{reason="auth"}`:            3,
	} {
		if got := p.Metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}

	// Lowered by a reload: the two sessions stay, new logins wait for
	// both to go.
	opts.extra = "max_client_conn: 1"
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"max_client_conn"}) {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if _, err := a.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("open session after the bound was lowered: %v", err)
	}
	if _, err := c.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("open session after the bound was lowered: %v", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clientsOpen(1)
	refused(t, "one session open, bound lowered to 1")
}

// A user's pool_mode and pool_size override pool.mode and pool.size for
// its sessions and pools: a migration role in session pooling keeps its
// advisory lock across transactions, which transaction pooling refuses for
// the application's role, and its one-connection pool makes a second
// session of it queue while the application's pool is untouched. A reload
// applies a new pool_size at once and refuses a new pool_mode.
func TestPerUserPoolSettings(t *testing.T) {
	opts := proxyOptions{
		pool:  "size: 5\nqueue_timeout: 300ms",
		users: "  - {name: migrator, password: migrator-secret, pool_mode: session, pool_size: 1}",
	}
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	app := connect(t, p.DSN("app", "app-secret"))
	migrator := connect(t, p.DSN("migrator", "migrator-secret"))

	var pe *pgconn.PgError
	if _, err := app.Exec(ctx, "SELECT pg_advisory_lock(42)"); !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Fatalf("session advisory lock in transaction pooling: %v, want 0A000", err)
	}
	if _, err := migrator.Exec(ctx, "SELECT pg_advisory_lock(42)"); err != nil {
		t.Fatalf("session advisory lock in the migrator's session pooling: %v", err)
	}
	tx, err := migrator.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var unlocked bool
	if err := migrator.QueryRow(ctx, "SELECT pg_advisory_unlock(42)").Scan(&unlocked); err != nil || !unlocked {
		t.Fatalf("the lock taken before the transaction: unlocked %v, %v; want true (held by the session)", unlocked, err)
	}

	// The migrator's session holds its pool's one connection.
	second := connect(t, p.DSN("migrator", "migrator-secret"))
	if _, err := second.Exec(ctx, "SELECT 1"); !errors.As(err, &pe) || pe.Code != "53300" || !strings.Contains(pe.Message, "app/migrator@s0") {
		t.Fatalf("second migrator session: %v, want 53300 naming pool app/migrator@s0", err)
	}
	// The application's pool keeps its own size: three transactions at once.
	var txs []interface{ Rollback(context.Context) error }
	for i := range 3 {
		tx, err := holdConnection(ctx, connect(t, p.DSN("app", "app-secret")))
		if err != nil {
			t.Fatalf("application transaction %d of 3 beside the migrator's full pool: %v", i, err)
		}
		txs = append(txs, tx)
	}
	for _, tx := range txs {
		_ = tx.Rollback(ctx)
	}

	opts.users = "  - {name: migrator, password: migrator-secret, pool_mode: session, pool_size: 2}"
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"users[migrator] changed"}) {
		t.Fatalf("reload of pool_size: %v %v", changed, err)
	}
	if _, err := second.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("second migrator session once pool_size is 2: %v", err)
	}
	third := connect(t, p.DSN("migrator", "migrator-secret"))
	if _, err := third.Exec(ctx, "SELECT 1"); !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("third migrator session with pool_size 2: %v, want 53300", err)
	}
	opts.users = "  - {name: migrator, password: migrator-secret, pool_mode: transaction, pool_size: 2}"
	if _, err := p.Reload(t, proxyYAML(opts)); !errors.Is(err, wire.ErrNeedsRestart) || !strings.Contains(err.Error(), "users[migrator].pool_mode") {
		t.Fatalf("reload of pool_mode: %v, want ErrNeedsRestart naming users[migrator].pool_mode", err)
	}
}

// holdConnection opens a transaction on c that holds a server connection
// of its pool until it ends.
func holdConnection(ctx context.Context, c *pgx.Conn) (pgx.Tx, error) {
	tx, err := c.Begin(ctx)
	if err == nil {
		_, err = tx.Exec(ctx, "SELECT 1")
	}
	return tx, err
}

// A database's pool_size bounds its pools where a user sets none, as
// PgBouncer's per-database pool_size: app's one connection, held by an
// open transaction, makes a second app session queue, while a user with
// its own pool_size runs two transactions at once. A reload applies a new
// database pool_size at once.
func TestPerDatabasePoolSize(t *testing.T) {
	opts := proxyOptions{
		pool:     "size: 5\nqueue_timeout: 300ms",
		users:    "  - {name: wide, password: wide-secret, pool_size: 2}",
		database: "    pool_size: 1",
	}
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	tx, err := holdConnection(ctx, connect(t, p.DSN("app", "app-secret")))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	second := connect(t, p.DSN("app", "app-secret"))
	var pe *pgconn.PgError
	if _, err := second.Exec(ctx, "SELECT 1"); !errors.As(err, &pe) || pe.Code != "53300" {
		t.Fatalf("second app session with the database's pool_size 1: %v, want 53300", err)
	}
	for i := range 2 {
		wtx, err := holdConnection(ctx, connect(t, p.DSN("wide", "wide-secret")))
		if err != nil {
			t.Fatalf("transaction %d of 2 of a user with pool_size 2: %v", i+1, err)
		}
		defer wtx.Rollback(context.Background())
	}
	opts.database = "    pool_size: 2"
	if changed, err := p.Reload(t, proxyYAML(opts)); err != nil || !slices.Equal(changed, []string{"databases[app].pool_size"}) {
		t.Fatalf("reload of the database's pool_size: %v %v", changed, err)
	}
	if _, err := second.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("second app session once the database's pool_size is 2: %v", err)
	}
}

// /clients lists each session with its state and the server backends it
// holds, so a pid in a shard's pg_stat_activity or pg_locks leads to the
// client: here the backend pid the server reports inside a client's open
// transaction, and the client's application_name and BackendKeyData pid.
func TestClientsListTracesBackendsToClients(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	idle, err := pgconn.Connect(ctx, p.DSN("app", "app-secret")+"&application_name=reporter")
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(context.Background())
	busy, err := pgconn.Connect(ctx, p.DSN("app", "app-secret")+"&application_name=orders-api")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(context.Background())
	res, err := busy.Exec(ctx, "BEGIN; SELECT pg_backend_pid()").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	backend := string(res[1].Rows[0][0])
	began := time.Now()

	byApp := map[string]admin.ClientStatus{}
	for _, c := range p.Clients(t) {
		byApp[c.ApplicationName] = c
	}
	b, i := byApp["orders-api"], byApp["reporter"]
	if b.PID != busy.PID() || b.User != "app" || b.Database != "app" || b.PoolMode != "transaction" || b.State != "idle in transaction" ||
		b.TransactionSince == nil || b.TransactionSince.After(began) || len(b.Servers) != 1 ||
		strconv.FormatUint(uint64(b.Servers[0].BackendPID), 10) != backend || b.Servers[0].Shard != "s0" {
		t.Errorf("client in a transaction: %+v, want pid %d, idle in transaction, holding backend %s on s0", b, busy.PID(), backend)
	}
	if i.PID != idle.PID() || i.State != "idle" || i.TransactionSince != nil || len(i.Servers) != 0 {
		t.Errorf("idle client: %+v, want pid %d, idle, holding no server connection (transaction pooling)", i, idle.PID())
	}
	for state, want := range map[string]float64{"idle in transaction": 1, "idle": 1, "paused": 0} {
		if got := p.Metric(t, `pgshard_clients{database="app",state="`+state+`"}`); got != want {
			t.Errorf("pgshard_clients{state=%q} = %v, want %v", state, got, want)
		}
	}

	if _, err := busy.Exec(ctx, "COMMIT").ReadAll(); err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Clients(t) {
		if c.ApplicationName == "orders-api" && (c.State != "idle" || c.TransactionSince != nil || len(c.Servers) != 0) {
			t.Errorf("after COMMIT: %+v, want idle with no server connection", c)
		}
	}
}

// A user's max_client_conn bounds its own sessions, after authentication
// as PostgreSQL's role CONNECTION LIMIT: its next login gets 53300 naming
// the role while other users still log in, and a session that ends gives
// its slot back.
func TestUserMaxClientConn(t *testing.T) {
	p := startProxy(t, proxyOptions{users: "  - {name: batch, password: batch-secret, max_client_conn: 1}"})
	ctx := ctxFor(t, time.Minute)
	first, err := pgconn.Connect(ctx, p.DSN("batch", "batch-secret"))
	if err != nil {
		t.Fatal(err)
	}
	var pe *pgconn.PgError
	if _, err := pgconn.Connect(ctx, p.DSN("batch", "wrong")); !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("wrong password at the user's limit: %v, want 28P01 (authentication comes first)", err)
	}
	if _, err := pgconn.Connect(ctx, p.DSN("batch", "batch-secret")); !errors.As(err, &pe) || pe.Code != "53300" || pe.Message != `too many connections for role "batch"` {
		t.Fatalf("second session of batch: %v, want 53300 too many connections for role \"batch\"", err)
	}
	other := connect(t, p.DSN("app", "app-secret"))
	if _, err := other.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("another user beside batch at its limit: %v", err)
	}
	if _, err := first.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var again *pgconn.PgConn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if again, err = pgconn.Connect(ctx, p.DSN("batch", "batch-secret")); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("batch after its session ended: %v", err)
	}
	defer again.Close(context.Background())
	if got := p.Metric(t, `pgshard_logins_refused_total{reason="user_max_client_conn"}`); got < 1 {
		t.Errorf("user_max_client_conn refusals = %v, want at least 1", got)
	}
}

// log_connections (on by default) logs each login and disconnection with
// who, from where, and why the session ended.
func TestConnectionsAreLogged(t *testing.T) {
	p := startProxy(t, proxyOptions{extra: "client_idle_timeout: 300ms"})
	ctx := ctxFor(t, time.Minute)
	polite, err := pgconn.Connect(ctx, p.DSN("app", "app-secret")+"&application_name=polite")
	if err != nil {
		t.Fatal(err)
	}
	pid := polite.PID()
	if err := polite.Close(ctx); err != nil { // sends Terminate
		t.Fatal(err)
	}
	sleepy, err := pgconn.Connect(ctx, p.DSN("app", "app-secret")+"&application_name=sleepy")
	if err != nil {
		t.Fatal(err)
	}
	defer sleepy.Close(context.Background())
	for _, want := range []string{
		fmt.Sprintf(`msg="client connected" user=app database=app pid=%d remote=127.0.0.1:`, pid),
		`application_name=polite tls=false`,
		fmt.Sprintf(`msg="client disconnected" user=app database=app pid=%d remote=127.0.0.1:`, pid),
		`reason="client sent Terminate"`,
		`reason="57P05 terminating connection due to idle-session timeout"`,
	} {
		for deadline := time.Now().Add(5 * time.Second); !strings.Contains(p.Log(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log", want)
			}
		}
	}

	quiet := startProxy(t, proxyOptions{extra: "log_connections: false"})
	c, err := pgconn.Connect(ctx, quiet.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	time.Sleep(200 * time.Millisecond)
	if log := quiet.Log(); strings.Contains(log, "client connected") || strings.Contains(log, "client disconnected") {
		t.Errorf("log_connections: false, and the log has:\n%s", log)
	}
}

// log_slow_requests logs a request answered that slowly, in either
// protocol, with its statement's literals taken out, and nothing of the
// fast ones.
func TestSlowRequestsAreLogged(t *testing.T) {
	p := startProxy(t, proxyOptions{extra: "log_slow_requests: 200ms"})
	ctx := ctxFor(t, time.Minute)
	conn, err := pgconn.Connect(ctx, p.DSN("app", "app-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_sleep(0.3), 'hunter2' AS secret").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if err := conn.ExecParams(ctx, "SELECT pg_sleep($1)", [][]byte{[]byte("0.3")}, nil, nil, nil).Read().Err; err != nil {
		t.Fatal(err)
	}
	log := p.Log()
	var slow []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `msg="slow request"`) {
			slow = append(slow, line)
		}
	}
	if len(slow) != 2 {
		t.Fatalf("%d slow-request lines, want 2:\n%s", len(slow), strings.Join(slow, "\n"))
	}
	for i, want := range []string{`statement="SELECT pg_sleep($1), $2 AS secret"`, `statement="SELECT pg_sleep($1)"`} {
		if !strings.Contains(slow[i], want) || !strings.Contains(slow[i], "level=WARN") || !strings.Contains(slow[i], "kind=default") {
			t.Errorf("slow request %d: %s\nwant %s at warn level, kind default (a function call runs on the default shard)", i+1, slow[i], want)
		}
	}
	if strings.Contains(log, "hunter2") {
		t.Error("a literal of a slow statement reached the log")
	}
}

// pgshard terminate (POST /clients/terminate) ends a client session as
// pg_terminate_backend ends a backend: an idle client in a transaction
// gets FATAL 57P01 at its next read and its row lock goes; a client whose
// query runs on a server has it cancelled there and gets 57P01 too.
func TestTerminateEndsAClientSession(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	dsn := p.DSN("app", "app-secret")
	setup := connect(t, dsn)
	if _, err := setup.Exec(ctx, "DROP TABLE IF EXISTS term; CREATE TABLE term (id int primary key, v int); INSERT INTO term VALUES (1, 0)"); err != nil {
		t.Fatal(err)
	}
	idle, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close(context.Background())
	if _, err := idle.Exec(ctx, "BEGIN; UPDATE term SET v = 99 WHERE id = 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Busy in the simple and in the extended protocol.
	busy, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close(context.Background())
	busyExt, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer busyExt.Close(context.Background())
	busyDone, busyExtDone := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, "SELECT pg_sleep(30)").ReadAll()
		busyDone <- err
	}()
	go func() {
		busyExtDone <- busyExt.ExecParams(ctx, "SELECT pg_sleep($1)", [][]byte{[]byte("30")}, nil, nil, nil).Read().Err
	}()
	time.Sleep(300 * time.Millisecond) // the sleeps are running

	for _, pid := range []uint32{idle.PID(), busy.PID(), busyExt.PID()} {
		if code := adminPost(t, p, fmt.Sprintf("/clients/terminate?pid=%d", pid), nil); code != 200 {
			t.Fatalf("terminate %d: %d", pid, code)
		}
	}
	var pe *pgconn.PgError
	for name, done := range map[string]chan error{"simple": busyDone, "extended": busyExtDone} {
		select {
		case err := <-done:
			// As from pg_terminate_backend: FATAL 57P01 alone, not the
			// cancel pgshard sent the server first.
			if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Severity != "FATAL" {
				t.Errorf("terminated busy client (%s protocol): %v, want FATAL 57P01", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the terminated client's pg_sleep(30) (%s protocol) still runs after 5s", name)
		}
	}
	if !busy.IsClosed() && busy.Exec(ctx, "SELECT 1").Close() == nil {
		t.Error("a terminated busy client's connection still serves queries")
	}
	_, err = idle.Exec(ctx, "COMMIT").ReadAll()
	if !errors.As(err, &pe) || pe.Code != "57P01" || pe.Message != "terminating connection due to administrator command" {
		t.Fatalf("terminated idle client's COMMIT: %v, want FATAL 57P01", err)
	}
	var v int
	if err := setup.QueryRow(ctx, "UPDATE term SET v = v + 1 WHERE id = 1 RETURNING v").Scan(&v); err != nil || v != 1 {
		t.Fatalf("row after the terminated transaction: v=%d, %v; want 1 (rolled back, lock gone)", v, err)
	}
	if code := adminPost(t, p, "/clients/terminate?pid=1", nil); code != 404 {
		t.Errorf("terminate of no session: %d, want 404", code)
	}
}
