package proxy_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// consoleOptions turn the admin console on (admin.console) with one admin
// user, ops; app, legacy and monitor are not admins.
var consoleOptions = proxyOptions{
	extra: "admin:\n  console: 127.0.0.1:0",
	users: "  - name: ops\n    password: ops-secret\n    admin: true",
}

func consoleDSN(p *pgshardtest.Proxy, user, password, database string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&default_query_exec_mode=simple_protocol", user, password, p.Console, database)
}

// consoleRows runs a console command and returns its rows as text, keyed
// by column name.
func consoleRows(t *testing.T, conn *pgx.Conn, sql string) []map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals := rows.RawValues()
		row := map[string]string{}
		for i, f := range rows.FieldDescriptions() {
			if vals[i] == nil {
				row[f.Name] = "NULL"
			} else {
				row[f.Name] = string(vals[i])
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// The admin console answers psql on a port of its own, to admin users
// only: SHOW commands tell what /status and /clients tell, and PAUSE,
// RESUME, RELOAD and TERMINATE act as the admin endpoints do.
func TestAdminConsole(t *testing.T) {
	p := startProxy(t, consoleOptions)
	ctx := ctxFor(t, 2*time.Minute)

	t.Run("psql", func(t *testing.T) {
		out, err := runPsql(fmt.Sprintf("postgres://ops:ops-secret@%s/pgshard?sslmode=disable", p.Console), "SHOW HELP")
		if err != nil || !strings.Contains(out, "SHOW POOLS|") || !strings.Contains(out, "TERMINATE pid|") {
			t.Fatalf("psql SHOW HELP: %v\n%s", err, out)
		}
	})

	t.Run("who may log in", func(t *testing.T) {
		for _, c := range []struct {
			name, user, password, database, code string
		}{
			{"not an admin", "app", "app-secret", "pgshard", "28000"},
			{"wrong password", "ops", "nope", "pgshard", "28P01"},
			{"unknown user", "nobody", "nope", "pgshard", "28P01"},
			{"a data database", "ops", "ops-secret", "app", "3D000"},
		} {
			t.Run(c.name, func(t *testing.T) {
				conn, err := pgconn.Connect(ctx, consoleDSN(p, c.user, c.password, c.database))
				if err == nil {
					conn.Close(ctx)
				}
				if got := sqlState(err); got != c.code {
					t.Fatalf("login: %v, want %s", err, c.code)
				}
			})
		}
	})

	console := connect(t, consoleDSN(p, "ops", "ops-secret", "pgshard"))
	client := connect(t, p.DSN("app", "app-secret"))
	tx, err := client.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var backendPID uint32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backendPID); err != nil {
		t.Fatal(err)
	}

	t.Run("show", func(t *testing.T) {
		// Idle in transaction as soon as the client has its answer, as
		// PostgreSQL reports a backend idle before ReadyForQuery.
		clients := consoleRows(t, console, "SHOW CLIENTS")
		var mine map[string]string
		for _, c := range clients {
			if c["pid"] == fmt.Sprint(client.PgConn().PID()) {
				mine = c
			}
		}
		if mine == nil || mine["user"] != "app" || mine["database"] != "app" || mine["state"] != "idle in transaction" || mine["servers"] != "1" || mine["transaction_since"] == "NULL" {
			t.Errorf("SHOW CLIENTS: %v, want client %d idle in transaction holding 1 server", clients, client.PgConn().PID())
		}
		servers := consoleRows(t, console, "show servers;")
		if len(servers) != 1 || servers[0]["backend_pid"] != fmt.Sprint(backendPID) || servers[0]["client_pid"] != fmt.Sprint(client.PgConn().PID()) ||
			servers[0]["shard"] != "s0" || servers[0]["state"] != "in use" || servers[0]["idle_since"] != "NULL" {
			t.Errorf("SHOW SERVERS: %v, want backend %d held by client %d on s0", servers, backendPID, client.PgConn().PID())
		}
		pools := consoleRows(t, console, "SHOW POOLS")
		found := false
		for _, pl := range pools {
			if pl["database"] == "app" && pl["user"] == "app" && pl["shard"] == "s0" {
				found = true
				if pl["in_use"] != "1" {
					t.Errorf("SHOW POOLS app/app/s0: %v, want 1 in use", pl)
				}
			}
		}
		if !found {
			t.Errorf("SHOW POOLS: %v, want app/app on s0", pools)
		}
		nodes := consoleRows(t, console, "SHOW NODES")
		if len(nodes) != 1 || nodes[0]["role"] != "primary" || nodes[0]["address"] != pg.Shards[0].Primary.Addr() {
			t.Errorf("SHOW NODES: %v, want s0's primary", nodes)
		}
		dbs := consoleRows(t, console, "SHOW DATABASES")
		if len(dbs) != 1 || dbs[0]["name"] != "app" || dbs[0]["shards"] != "1" || dbs[0]["paused_until"] != "NULL" {
			t.Errorf("SHOW DATABASES: %v", dbs)
		}
		settings := map[string]string{}
		for _, r := range consoleRows(t, console, "SHOW CONFIG") {
			settings[r["key"]] = r["value"]
		}
		if settings["admin.console"] != "127.0.0.1:0" || settings["users[0].name"] != "app" || settings["users[0].password"] != "<redacted>" || settings["pool.size"] != "5" {
			t.Errorf("SHOW CONFIG: %v", settings)
		}
		if v := consoleRows(t, console, "SHOW VERSION"); len(v) != 1 || !strings.HasPrefix(v[0]["version"], "pgshard ") || !strings.HasSuffix(v[0]["version"], runtime.Version()) {
			t.Errorf("SHOW VERSION: %v", v)
		}
		// Two commands in one query answer in turn.
		// (Ready or not depends on whether the lag monitor has polled yet.)
		res, err := console.PgConn().Exec(ctx, "SHOW STATUS; SHOW PEERS").ReadAll()
		if err != nil || len(res) != 2 || len(res[0].Rows) != 1 || !strings.HasSuffix(string(res[0].Rows[0][4]), runtime.Version()) || len(res[1].Rows) != 0 {
			t.Errorf("SHOW STATUS; SHOW PEERS: %v %v", res, err)
		}
	})

	t.Run("stats", func(t *testing.T) {
		stats := func() map[string]string {
			rows := consoleRows(t, console, "SHOW STATS")
			if len(rows) != 1 || rows[0]["database"] != "app" {
				t.Fatalf("SHOW STATS: %v, want a row for app", rows)
			}
			return rows[0]
		}
		before := stats()
		other := connect(t, p.DSN("app", "app-secret"))
		for range 3 {
			if _, err := other.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
		}
		after := stats()
		n := func(row map[string]string, k string) float64 {
			v, err := strconv.ParseFloat(row[k], 64)
			if err != nil {
				t.Fatalf("SHOW STATS %s = %q", k, row[k])
			}
			return v
		}
		if d := n(after, "statements") - n(before, "statements"); d != 3 {
			t.Errorf("SHOW STATS statements went up by %v after 3 statements, want 3: %v then %v", d, before, after)
		}
		if n(after, "total_seconds") <= n(before, "total_seconds") || n(after, "avg_ms") <= 0 {
			t.Errorf("SHOW STATS times did not grow: %v then %v", before, after)
		}
		// The same counters as /metrics.
		var routed float64
		for _, kind := range []string{"shard", "default", "any", "scatter", "all", "session", "refuse"} {
			routed += p.Metric(t, `pgshard_route_statements_total{database="app",kind="`+kind+`",target="primary"}`)
		}
		if routed != n(after, "statements") {
			t.Errorf("/metrics counts %v statements on primaries, SHOW STATS %v in all", routed, after["statements"])
		}
	})

	t.Run("mistakes", func(t *testing.T) {
		for sql, code := range map[string]string{
			"SELECT 1":         "42601",
			"SHOW everything":  "42601",
			"TERMINATE twelve": "22P02",
			"TERMINATE 12345":  "42704",
			"PAUSE nosuchdb":   "3D000",
		} {
			if _, err := console.Exec(ctx, sql); sqlState(err) != code {
				t.Errorf("%s: %v, want %s", sql, err, code)
			}
		}
		// The extended protocol is refused, and the session goes on.
		if res := console.PgConn().ExecParams(ctx, "SHOW POOLS", nil, nil, nil, nil).Read(); sqlState(res.Err) != "0A000" {
			t.Errorf("SHOW POOLS in the extended protocol: %v, want 0A000", res.Err)
		}
		if rows := consoleRows(t, console, "SHOW DATABASES"); len(rows) != 1 {
			t.Errorf("SHOW DATABASES after the refusals: %v", rows)
		}
		// A message far over any command's size ends that session only.
		huge, err := pgconn.Connect(ctx, consoleDSN(p, "ops", "ops-secret", "pgshard"))
		if err != nil {
			t.Fatal(err)
		}
		defer huge.Close(ctx)
		if _, err := huge.Exec(ctx, "SHOW "+strings.Repeat("x", 100<<10)).ReadAll(); sqlState(err) != "54000" {
			t.Errorf("a 100 KiB command: %v, want FATAL 54000", err)
		}
	})

	t.Run("pause waits for the open transaction", func(t *testing.T) {
		committed := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			committed <- tx.Commit(ctx)
		}()
		start := time.Now()
		paused := consoleRows(t, console, "PAUSE app")
		if err := <-committed; err != nil {
			t.Fatalf("commit while PAUSE waits: %v", err)
		}
		if took := time.Since(start); len(paused) != 1 || paused[0]["open_transactions"] != "0" || took < 250*time.Millisecond || took > 10*time.Second {
			t.Fatalf("PAUSE app: %v after %s, want app with 0 open once the transaction committed", paused, took)
		}
		done := make(chan error, 1)
		go func() {
			_, err := client.Exec(ctx, "SELECT 1")
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("a transaction ran while paused (%v)", err)
		case <-time.After(300 * time.Millisecond):
		}
		if dbs := consoleRows(t, console, "SHOW DATABASES"); dbs[0]["paused_until"] == "NULL" {
			t.Errorf("SHOW DATABASES while paused: %v", dbs)
		}
		if _, err := console.Exec(ctx, "RESUME"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("held transaction after RESUME: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the held transaction did not run within 5s of RESUME")
		}
		// The transaction is over: its server connection waits in the
		// pool, held by no one.
		var back map[string]string
		for _, r := range consoleRows(t, console, "SHOW SERVERS") {
			if r["backend_pid"] == fmt.Sprint(backendPID) {
				back = r
			}
		}
		if back == nil || back["state"] != "idle" || back["client_pid"] != "NULL" || back["idle_since"] == "NULL" {
			t.Errorf("SHOW SERVERS after the transactions: backend %d is %v, want idle in the pool", backendPID, back)
		}
	})

	t.Run("reload", func(t *testing.T) {
		var notices []string
		cfg := console.Config().Config.Copy()
		cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "RELOAD").ReadAll(); err != nil || len(notices) != 1 || notices[0] != "the configuration file is unchanged" {
			t.Fatalf("RELOAD: %v %q", err, notices)
		}
		// A configuration a reload cannot apply leaves the running one.
		if _, err := p.Reload(t, proxyYAML(proxyOptions{extra: consoleOptions.extra + "\n  listen: 127.0.0.1:1", users: consoleOptions.users})); err == nil {
			t.Fatal("a reload that moves the admin listener worked")
		}
		if _, err := c.Exec(ctx, "RELOAD").ReadAll(); sqlState(err) != "55000" || !strings.Contains(err.Error(), "restart") {
			t.Fatalf("RELOAD of a change that needs a restart: %v, want 55000", err)
		}
	})

	t.Run("at most 16 sessions", func(t *testing.T) {
		// console holds one; fifteen connections that never log in take
		// the rest, as a flood of them would.
		var idle []net.Conn
		defer func() {
			for _, c := range idle {
				_ = c.Close()
			}
		}()
		for range 15 {
			c, err := net.Dial("tcp", p.Console)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, c)
		}
		// The accept loop counts them as they come; give it the time.
		var err error
		for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(50 * time.Millisecond) {
			var c *pgconn.PgConn
			if c, err = pgconn.Connect(ctx, consoleDSN(p, "ops", "ops-secret", "pgshard")); err == nil {
				c.Close(ctx)
				continue
			}
			break
		}
		if sqlState(err) != "53300" {
			t.Fatalf("a 17th console session: %v, want 53300", err)
		}
		for _, c := range idle {
			_ = c.Close()
		}
		idle = nil
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			c, err := pgconn.Connect(ctx, consoleDSN(p, "ops", "ops-secret", "pgshard"))
			if err == nil {
				c.Close(ctx)
				break
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("a console session once the others left: %v", err)
			}
		}
	})

	t.Run("terminate", func(t *testing.T) {
		if _, err := console.Exec(ctx, fmt.Sprintf("TERMINATE %d", client.PgConn().PID())); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Exec(ctx, "SELECT 1"); err == nil {
			t.Fatal("the terminated client's next query worked")
		}
		for _, c := range consoleRows(t, console, "SHOW CLIENTS") {
			if c["pid"] == fmt.Sprint(client.PgConn().PID()) {
				t.Errorf("SHOW CLIENTS still lists the terminated client: %v", c)
			}
		}
	})
}

// The console takes TLS as the data port does, SCRAM channel binding
// included, and a user's require_tls holds there too.
func TestAdminConsoleOverTLS(t *testing.T) {
	caFile, certFile, keyFile := testCA(t)
	p := startProxy(t, proxyOptions{
		extra: consoleOptions.extra + "\ntls:\n  cert_file: " + certFile + "\n  key_file: " + keyFile,
		users: consoleOptions.users + "\n    require_tls: true",
	})
	base := fmt.Sprintf("postgres://ops:ops-secret@%s/pgshard", p.Console)
	out, err := runPsql(base+"?sslmode=verify-full&sslrootcert="+caFile+"&channel_binding=require", "SHOW VERSION")
	if err != nil || !strings.HasPrefix(out, "pgshard ") {
		t.Fatalf("psql over TLS with channel_binding=require: %v\n%s", err, out)
	}
	ctx := ctxFor(t, 30*time.Second)
	conn, err := pgconn.Connect(ctx, base+"?sslmode=disable")
	if err == nil {
		conn.Close(ctx)
	}
	if sqlState(err) != "28000" || !strings.Contains(err.Error(), "must connect over TLS") {
		t.Fatalf("plain-TCP login of a require_tls admin: %v, want 28000", err)
	}
}

// A client waiting for a server connection shows how long it has waited,
// in SHOW POOLS and /metrics (PgBouncer's maxwait), and the time it waited
// is added up once it has its connection.
func TestPoolWaitsTellHowLong(t *testing.T) {
	opts := consoleOptions
	opts.pool = "size: 1\nqueue_timeout: 20s"
	p := startProxy(t, opts)
	ctx := ctxFor(t, time.Minute)
	console := connect(t, consoleDSN(p, "ops", "ops-secret", "pgshard"))
	pool := func() map[string]string {
		for _, r := range consoleRows(t, console, "SHOW POOLS") {
			if r["user"] == "app" {
				return r
			}
		}
		t.Fatal("SHOW POOLS has no pool of user app")
		return nil
	}
	seconds := func(r map[string]string, k string) float64 {
		v, err := strconv.ParseFloat(r[k], 64)
		if err != nil {
			t.Fatalf("SHOW POOLS %s = %q", k, r[k])
		}
		return v
	}
	const series = `{database="app",node="s0-primary",shard="s0",user="app"}`

	tx := holdServerConnection(t, ctx, p)
	if r := pool(); seconds(r, "longest_wait") != 0 || seconds(r, "waited_seconds") != 0 {
		t.Fatalf("SHOW POOLS before anyone waited: %v", r)
	}
	waiter := connect(t, p.DSN("app", "app-secret"))
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Exec(ctx, "SELECT 1")
		done <- err
	}()
	// Should the test stop early, the statement ends before its connection
	// is closed: the holder's transaction ends first.
	result := sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() { _ = tx.Rollback(context.Background()); _ = result() })
	for start := time.Now(); clientsWaiting(t, p) < 1; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the statement never waited for a connection")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if r := pool(); r["waiting"] != "1" || seconds(r, "longest_wait") < 0.5 || seconds(r, "longest_wait") > 10 {
		t.Errorf("SHOW POOLS while a client waits: %v, want 1 waiting for 0.5s or more", r)
	}
	if got := p.Metric(t, "pgshard_pool_longest_wait_seconds"+series); got < 0.5 {
		t.Errorf("pgshard_pool_longest_wait_seconds = %v, want 0.5 or more", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := result(); err != nil {
		t.Fatalf("the waiting statement: %v", err)
	}
	r := pool()
	if seconds(r, "longest_wait") != 0 || seconds(r, "waited_seconds") < 0.5 || r["waits"] != "1" {
		t.Errorf("SHOW POOLS after the wait: %v, want no wait now and 0.5s or more waited over 1 wait", r)
	}
	if got := p.Metric(t, "pgshard_pool_wait_seconds_total"+series); got < 0.5 || got > seconds(r, "waited_seconds")+0.001 {
		t.Errorf("pgshard_pool_wait_seconds_total = %v, want SHOW POOLS' %v", got, r["waited_seconds"])
	}
}
