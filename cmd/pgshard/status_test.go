package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

const statusToken = "status-test-token"

// adminServer serves the real admin handler over a configuration of two
// shards, with a monitor's answers made up.
func adminServer(t *testing.T, now time.Time) *httptest.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(`
users: [{name: app, password: pw}]
admin: {token: `+statusToken+`}
peer_id: 2
peers: [{id: 1, address: "10.0.9.1:6432"}, {id: 2, address: "10.0.9.2:6432"}, {id: 3, address: "10.0.9.3:6432"}]
databases:
  - name: app
    server_user: s
    shards:
      - primary: {host: 10.0.0.1}
        replicas: [{host: 10.0.0.2}, {name: s0-eu, host: 10.0.1.2}]
      - primary: {host: 10.0.0.3}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	nodes := metrics.NodeSourceFunc(func() []metrics.NodeStat {
		return []metrics.NodeStat{
			{Database: "app", Shard: "s0", Node: "s0-primary", Role: "primary", Up: true, Healthy: true},
			{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Up: true, Healthy: true, LagKnown: true, LagBytes: 0, Lag: 0},
			{Database: "app", Shard: "s0", Node: "s0-eu", Role: "replica", Up: true, LagKnown: true, LagBytes: 52428800, Lag: 2500 * time.Millisecond},
			{Database: "app", Shard: "s1", Node: "s1-primary", Role: "primary", Banned: true, BannedUntil: now.Add(4 * time.Second), Err: "dial tcp 10.0.0.3:5432: connect: connection refused"},
		}
	})
	pools := metrics.PoolSourceFunc(func() []metrics.PoolStat {
		return []metrics.PoolStat{{Database: "app", User: "app", Shard: "s0", Node: "s0-primary", Open: 5, Idle: 2, InUse: 3, Waiting: 1, LongestWait: 1.25, Waits: 40, Waited: 12.5, WaitTimeouts: 2, BudgetWaits: 7}}
	})
	schema := metrics.SchemaSourceFunc(func() []metrics.SchemaWarning {
		return []metrics.SchemaWarning{
			{Database: "app", Kind: "unique_without_key", Object: "public.users users_email_key", Detail: "enforced per shard"},
			{Database: "gone", Kind: "sequence_column", Object: "public.t.id", Detail: "a database no longer configured"},
		}
	})
	paused := func() []admin.PausedDatabase {
		return []admin.PausedDatabase{{Name: "app", OpenTransactions: 2, Until: now.Add(5 * time.Minute)}}
	}
	topo := &admin.Topology{Config: func() *config.Config { return cfg }, Nodes: nodes, Pools: pools, Schema: schema, Paused: paused}
	adm := admin.New(cfg.Admin, metrics.New(), topo, nil)
	adm.HandleClients(func() []admin.ClientStatus {
		began := now.Add(-90 * time.Second)
		return []admin.ClientStatus{
			{PID: 1201, User: "app", Database: "app", Address: "10.1.0.7:50412", ApplicationName: "orders-api", PoolMode: "transaction",
				State: "idle in transaction", ConnectedAt: now.Add(-time.Hour), TransactionSince: &began,
				Servers: []admin.ClientServer{{Shard: "s0", Node: "s0-primary", Address: "10.0.0.1:5432", BackendPID: 4711}}},
			{PID: 77, User: "migrator", Database: "app", Address: "10.1.0.9:40000", PoolMode: "session", State: "idle",
				ConnectedAt: now.Add(-5 * time.Second), Servers: []admin.ClientServer{}},
			{PID: 78, User: "jobs", Database: "app", Address: "10.1.0.9:40002", PoolMode: "session", Pinned: true, State: "idle",
				ConnectedAt: now.Add(-5 * time.Second), Servers: []admin.ClientServer{{Shard: "s0", Node: "s0-primary", Address: "10.0.0.1:5432", BackendPID: 4712}}},
			{PID: 79, User: "app", Database: "app", Address: "10.1.0.9:40004", PoolMode: "transaction", Listening: 2, State: "idle",
				ConnectedAt: now.Add(-5 * time.Second), Servers: []admin.ClientServer{}},
		}
	})
	adm.HandleServers(func() []admin.ServerStatus {
		idle := now.Add(-1500 * time.Millisecond)
		return []admin.ServerStatus{
			{Database: "app", User: "app", Shard: "s0", Node: "s0-primary", Address: "10.0.0.1:5432", BackendPID: 4711, State: admin.ServerInUse,
				ClientPID: 1201, OpenedAt: now.Add(-time.Hour), PreparedStatements: 3},
			{Database: "app", User: "app", Shard: "s0", Node: "s0-primary", Address: "10.0.0.1:5432", BackendPID: 4713, State: admin.ServerIdle,
				OpenedAt: now.Add(-2 * time.Minute), IdleSince: &idle},
		}
	})
	adm.HandlePause(&fakePauser{until: now.Add(5 * time.Minute)})
	adm.HandleTerminate(func(pid uint32) error {
		if pid != 1201 {
			return errors.New("no client session has this pid")
		}
		return nil
	})
	srv := httptest.NewServer(adm.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// fakePauser answers as wire.Server would: database "busy" keeps one
// transaction open, "app" has none.
type fakePauser struct{ until time.Time }

func (f *fakePauser) Pause(_ context.Context, names []string, wait, max time.Duration) ([]admin.PausedDatabase, error) {
	if len(names) == 0 {
		names = []string{"app"}
	}
	var out []admin.PausedDatabase
	for _, n := range names {
		switch n {
		case "app":
			out = append(out, admin.PausedDatabase{Name: n, Until: f.until})
		case "busy":
			out = append(out, admin.PausedDatabase{Name: n, OpenTransactions: 1, Until: f.until})
		default:
			return nil, fmt.Errorf("database %q is not configured", n)
		}
	}
	return out, nil
}

func (f *fakePauser) Resume(names []string) ([]string, error) {
	if len(names) == 0 {
		return []string{"app"}, nil
	}
	return names, nil
}

func TestStatus(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := adminServer(t, now)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(statusToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := &statusCmd{adminFlags: adminFlags{Admin: srv.URL, TokenFile: tokenFile, Timeout: 5 * time.Second}, now: func() time.Time { return now }}
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	want := `ready
peer 2; cancel requests for clients of the others pass on to them: 1 (10.0.9.1:6432), 3 (10.0.9.3:6432)
paused: app, new transactions held, 2 open, until 2030-01-02T03:09:05Z unless resumed

DATABASE  SHARD  NODE         ROLE     STATE    LAG BYTES  LAG SECONDS  BANNED
app       s0     s0-primary   primary  up       -          -            -
app       s0     s0-replica1  replica  up       0          0.000        -
app       s0     s0-eu        replica  lagging  52428800   2.500        -
app       s1     s1-primary   primary  banned   -          -            until 2030-01-02T03:04:09Z (4s left)

app/s1/s1-primary (10.0.0.3:5432): dial tcp 10.0.0.3:5432: connect: connection refused

DATABASE  SCHEMA WARNING      OBJECT                        DETAIL
app       unique_without_key  public.users users_email_key  enforced per shard

POOL                   OPEN  IDLE  IN USE  WAITING  LONGEST WAIT  WAITS  WAITED   BOUND WAITS  WAIT TIMEOUTS  CONNECT ERRORS
app/app@s0/s0-primary  5     2     3       1        1.250s        40     12.500s  7            2              0
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	// The token from the environment; host:port without a scheme; JSON.
	t.Setenv(tokenEnv, statusToken)
	out.Reset()
	c = &statusCmd{adminFlags: adminFlags{Admin: strings.TrimPrefix(srv.URL, "http://") + "/", Timeout: 5 * time.Second}, JSON: true}
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "{\n  \"version\": \""+admin.Version()+"\",\n  \"ready\": true,") || !strings.Contains(out.String(), `"lag_bytes": 52428800`) {
		t.Errorf("JSON output:\n%s", out.String())
	}
}

func TestStatusErrors(t *testing.T) {
	srv := adminServer(t, time.Now())
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(wrong, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(tokenEnv, "")
	for _, tc := range []struct {
		c    statusCmd
		want string
	}{
		{statusCmd{adminFlags: adminFlags{Admin: srv.URL}}, "401 Unauthorized: give the admin token with --token-file or $PGSHARD_ADMIN_TOKEN"},
		{statusCmd{adminFlags: adminFlags{Admin: srv.URL, TokenFile: wrong}}, "401 Unauthorized: the token given is not admin.token"},
		{statusCmd{adminFlags: adminFlags{Admin: srv.URL, TokenFile: empty}}, "is empty"},
		{statusCmd{adminFlags: adminFlags{Admin: srv.URL + "/nowhere"}}, "404 Not Found: 404 page not found"},
		{statusCmd{adminFlags: adminFlags{Admin: "http://127.0.0.1:1"}}, "cannot reach pgshard's admin listener"},
	} {
		tc.c.Timeout = 5 * time.Second
		err := tc.c.run(&bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "nope") {
			t.Errorf("the token reached the error: %v", err)
		}
	}
}

// TestStatusCommandLine goes through kong, as `pgshard status` does.
func TestStatusCommandLine(t *testing.T) {
	srv := adminServer(t, time.Now())
	t.Setenv(tokenEnv, statusToken)
	var c cli
	parser, err := kong.New(&c, kong.Name("pgshard"), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := parser.Parse([]string{"status", "--admin", srv.URL, "--json"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status.Timeout != 5*time.Second || !c.Status.JSON {
		t.Errorf("flags: %+v", c.Status)
	}
	if ctx.Command() != "status" {
		t.Errorf("command %q", ctx.Command())
	}
	if _, err := parser.Parse([]string{"status"}); err != nil || c.Status.Admin != "http://127.0.0.1:6433" {
		t.Errorf("default --admin: %q, %v", c.Status.Admin, err)
	}
}

func TestClients(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := adminServer(t, now)
	t.Setenv(tokenEnv, statusToken)
	var out bytes.Buffer
	c := &clientsCmd{adminFlags: adminFlags{Admin: srv.URL, Timeout: 5 * time.Second}, now: func() time.Time { return now }}
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	want := `PID   USER      DATABASE  ADDRESS         APPLICATION  POOL                        STATE                CONNECTED   IN TRANSACTION  SERVERS
1201  app       app       10.1.0.7:50412  orders-api   transaction                 idle in transaction  1h0m0s ago  1m30s           s0/s0-primary:4711
77    migrator  app       10.1.0.9:40000  -            session                     idle                 5s ago      -               -
78    jobs      app       10.1.0.9:40002  -            session (pinned)            idle                 5s ago      -               s0/s0-primary:4712
79    app       app       10.1.0.9:40004  -            transaction (listens on 2)  idle                 5s ago      -               -
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	c.JSON = true
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"backend_pid": 4711`) || !strings.Contains(out.String(), `"state": "idle in transaction"`) {
		t.Errorf("JSON output:\n%s", out.String())
	}
	t.Setenv(tokenEnv, "")
	if err := c.run(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Errorf("without the token: %v, want 401", err)
	}
}

func TestServers(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := adminServer(t, now)
	t.Setenv(tokenEnv, statusToken)
	var out bytes.Buffer
	c := &serversCmd{adminFlags: adminFlags{Admin: srv.URL, Timeout: 5 * time.Second}, now: func() time.Time { return now }}
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	want := `POOL                   ADDRESS        BACKEND PID  STATE   CLIENT PID  IDLE FOR  OPENED      PREPARED
app/app@s0/s0-primary  10.0.0.1:5432  4711         in use  1201        -         1h0m0s ago  3
app/app@s0/s0-primary  10.0.0.1:5432  4713         idle    -           1.5s      2m0s ago    0
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	c.JSON = true
	if err := c.run(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"backend_pid": 4713`) || !strings.Contains(out.String(), `"client_pid": 1201`) {
		t.Errorf("JSON output:\n%s", out.String())
	}
}

func TestPauseAndResume(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := adminServer(t, now)
	t.Setenv(tokenEnv, statusToken)
	flags := adminFlags{Admin: srv.URL, Timeout: 5 * time.Second}
	for _, tc := range []struct {
		c       pauseCmd
		out     string
		errWant string
	}{
		{pauseCmd{adminFlags: flags, Wait: time.Second, Max: time.Minute}, "paused app: no transaction open (until 2030-01-02T03:09:05Z unless resumed)\n", ""},
		{pauseCmd{adminFlags: flags, Database: []string{"app", "busy"}, Wait: time.Second, Max: time.Minute},
			"paused app: no transaction open (until 2030-01-02T03:09:05Z unless resumed)\npaused busy: 1 transaction(s) still open after 1s (until 2030-01-02T03:09:05Z unless resumed)\n",
			"transactions still open in busy: the pause stays in force"},
		{pauseCmd{adminFlags: flags, Database: []string{"nope"}, Wait: time.Second, Max: time.Minute}, "", `400 Bad Request: database "nope" is not configured`},
	} {
		var out bytes.Buffer
		err := tc.c.run(&out)
		if out.String() != tc.out || (tc.errWant == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errWant)) {
			t.Errorf("pause %v: %q, %v; want %q, %q", tc.c.Database, out.String(), err, tc.out, tc.errWant)
		}
	}
	var out bytes.Buffer
	if err := (&resumeCmd{adminFlags: flags}).run(&out); err != nil || out.String() != "resumed: app\n" {
		t.Errorf("resume: %q, %v", out.String(), err)
	}
}

func TestTerminate(t *testing.T) {
	srv := adminServer(t, time.Now())
	t.Setenv(tokenEnv, statusToken)
	var out bytes.Buffer
	c := &terminateCmd{adminFlags: adminFlags{Admin: srv.URL, Timeout: 5 * time.Second}, PID: 1201}
	if err := c.run(&out); err != nil || out.String() != "terminated 1201\n" {
		t.Errorf("terminate 1201: %q, %v", out.String(), err)
	}
	c.PID = 7
	if err := c.run(&out); err == nil || !strings.Contains(err.Error(), "404 Not Found: no client session has this pid") {
		t.Errorf("terminate 7: %v, want 404", err)
	}
}
