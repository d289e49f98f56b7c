package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

const token = "t0ken-for-tests"

// fakeNodes is a NodeSource whose answer the test changes.
type fakeNodes struct {
	v atomic.Pointer[[]metrics.NodeStat]
}

func (f *fakeNodes) set(n ...metrics.NodeStat) { f.v.Store(&n) }
func (f *fakeNodes) Nodes() []metrics.NodeStat { return *f.v.Load() }

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
users: [{name: u, password: pw}]
admin: {token: `+token+`}
databases:
  - name: app
    server_user: s
    shards:
      - primary: {host: 10.0.0.1}
        replicas: [{host: 10.0.0.2, port: 5433}]
      - primary: {host: 10.0.0.3}
  - name: other
    server_user: s
    shards: [{primary: {host: 10.0.0.9}}]
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type fixture struct {
	srv   *httptest.Server
	nodes *fakeNodes
	reg   *metrics.Registry
	log   *bytes.Buffer
}

func newFixture(t *testing.T, cfg config.Admin) *fixture {
	t.Helper()
	full := testConfig(t)
	nodes := &fakeNodes{}
	nodes.set()
	reg := metrics.New()
	reg.AddNodeSource(nodes)
	pools := metrics.PoolSourceFunc(func() []metrics.PoolStat {
		return []metrics.PoolStat{{Database: "app", User: "u", Shard: "s0", Node: "s0-primary", Open: 2, Idle: 1, InUse: 1}}
	})
	reg.AddPoolSource(pools)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	topo := &Topology{Config: func() *config.Config { return full }, Nodes: nodes, Pools: pools}
	adm := New(cfg, reg, topo, log)
	adm.HandleClients(func() []ClientStatus { return nil })
	adm.HandlePause(stillPauser{})
	adm.HandleConfig(func() *config.Config { return full })
	adm.HandleServers(func() []ServerStatus { return nil })
	srv := httptest.NewServer(adm.Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, nodes: nodes, reg: reg, log: &logs}
}

func (f *fixture) get(t *testing.T, path, auth string) (int, http.Header, string) {
	t.Helper()
	return f.do(t, "GET", path, auth)
}

func (f *fixture) do(t *testing.T, method, path, auth string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestAuth(t *testing.T) {
	f := newFixture(t, config.Admin{Token: token})
	for _, tc := range []struct {
		path, auth string
		code       int
		challenge  string
	}{
		{"/metrics", "", 401, `Bearer realm="pgshard"`},
		{"/status", "", 401, `Bearer realm="pgshard"`},
		{"/metrics", "Bearer wrong", 401, `Bearer realm="pgshard", error="invalid_token"`},
		{"/status", "Bearer " + token + "x", 401, `Bearer realm="pgshard", error="invalid_token"`},
		{"/metrics", "Basic " + token, 401, `Bearer realm="pgshard"`},
		{"/metrics", "Bearer " + token, 200, ""},
		{"/status", "bearer " + token, 200, ""},
		{"/clients", "", 401, `Bearer realm="pgshard"`},
		{"/clients", "Bearer " + token, 200, ""},
		{"/servers", "", 401, `Bearer realm="pgshard"`},
		{"/servers", "Bearer " + token, 200, ""},
		{"/config", "", 401, `Bearer realm="pgshard"`},
		// Probes are open.
		{"/healthz", "", 200, ""},
		{"/readyz", "", 503, ""}, // no node reported yet
		{"/nope", "Bearer " + token, 404, ""},
	} {
		code, hdr, body := f.get(t, tc.path, tc.auth)
		if code != tc.code || hdr.Get("WWW-Authenticate") != tc.challenge {
			t.Errorf("GET %s (%q): %d %q %q, want %d %q", tc.path, tc.auth, code, hdr.Get("WWW-Authenticate"), body, tc.code, tc.challenge)
		}
	}
	resp, err := f.srv.Client().Post(f.srv.URL+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d", resp.StatusCode)
	}
	if strings.Contains(f.log.String(), token) {
		t.Errorf("the token reached the log:\n%s", f.log)
	}
	if !strings.Contains(f.log.String(), "unauthorized request") {
		t.Errorf("no log of the refused requests:\n%s", f.log)
	}

	// Without a token (a loopback listener) everything is open.
	open := newFixture(t, config.Admin{})
	if code, _, _ := open.get(t, "/status", ""); code != 200 {
		t.Errorf("no token: /status %d", code)
	}
	// No sessions: an empty list, not null.
	if code, _, body := open.get(t, "/clients", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("no token, no sessions: /clients %d %q", code, body)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, config.Admin{Token: token})
	app := f.reg.Database("app")
	app.Statement(metrics.KindShard, metrics.TargetReplica)
	app.Statement(metrics.KindShard, metrics.TargetReplica)
	f.nodes.set(metrics.NodeStat{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Up: true, Healthy: true, LagKnown: true, LagBytes: 8192, Lag: 250 * time.Millisecond})

	code, hdr, body := f.get(t, "/metrics", "Bearer "+token)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`pgshard_route_statements_total{database="app",kind="shard",target="replica"} 2`,
		`pgshard_route_statements_total{database="app",kind="scatter",target="primary"} 0`,
		`pgshard_node_lag_bytes{database="app",node="s0-replica1",role="replica",shard="s0"} 8192`,
		`pgshard_node_lag_seconds{database="app",node="s0-replica1",role="replica",shard="s0"} 0.25`,
		`pgshard_node_healthy{database="app",node="s0-replica1",role="replica",shard="s0"} 1`,
		`pgshard_pool_connections_open{database="app",node="s0-primary",shard="s0",user="u"} 2`,
		`pgshard_two_phase_commits_total{outcome="committed"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestReady(t *testing.T) {
	f := newFixture(t, config.Admin{})
	primary := func(db, shard string, up bool) metrics.NodeStat {
		return metrics.NodeStat{Database: db, Shard: shard, Node: shard + "-primary", Role: "primary", Up: up, Healthy: up}
	}
	check := func(wantCode int, wantBody string) {
		t.Helper()
		code, _, body := f.get(t, "/readyz", "")
		if code != wantCode || body != wantBody {
			t.Errorf("/readyz: %d %q, want %d %q", code, body, wantCode, wantBody)
		}
	}
	check(503, "not ready: no primary reachable for database \"app\", \"other\"\n")
	// One shard's primary per database is enough.
	f.nodes.set(primary("app", "s0", false), primary("app", "s1", true), primary("other", "s0", false))
	check(503, "not ready: no primary reachable for database \"other\"\n")
	f.nodes.set(primary("app", "s0", false), primary("app", "s1", true), primary("other", "s0", true))
	check(200, "ready\n")
	// A primary that turned out to be a standby does not count.
	mismatch := primary("other", "s0", true)
	mismatch.RoleMismatch = true
	f.nodes.set(primary("app", "s1", true), mismatch)
	check(503, "not ready: no primary reachable for database \"other\"\n")
	// A replica promoted in a primary's place counts once pgshard follows
	// it, not before.
	promoted := metrics.NodeStat{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Up: true, RoleMismatch: true}
	f.nodes.set(primary("app", "s0", false), promoted, primary("other", "s0", true))
	check(503, "not ready: no primary reachable for database \"app\"\n")
	promoted.Promoted = true
	f.nodes.set(primary("app", "s0", false), promoted, primary("other", "s0", true))
	check(200, "ready\n")

	var listening atomic.Bool
	cfg := testConfig(t)
	topo := &Topology{Config: func() *config.Config { return cfg }, Listening: listening.Load}
	if ok, reason := topo.Ready(); ok || reason != "the data port is not listening" {
		t.Errorf("not listening: %v %q", ok, reason)
	}
	listening.Store(true)
	if ok, _ := topo.Ready(); !ok {
		t.Error("listening, no monitor: not ready")
	}
}

func TestStatus(t *testing.T) {
	f := newFixture(t, config.Admin{Token: token})
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f.nodes.set(
		metrics.NodeStat{Database: "app", Shard: "s0", Node: "s0-primary", Role: "primary", Up: true, Healthy: true},
		metrics.NodeStat{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Up: true, LagKnown: true, LagBytes: 1 << 20, Lag: 3 * time.Second},
		metrics.NodeStat{Database: "app", Shard: "s1", Node: "s1-primary", Role: "primary", Banned: true, BannedUntil: until, Err: "connection refused"},
	)
	code, hdr, body := f.get(t, "/status", "Bearer "+token)
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d %s\n%s", code, hdr.Get("Content-Type"), body)
	}
	// The shape, as clients (pgshard status, scripts) read it.
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	dbs := got["databases"].([]any)
	s0 := dbs[0].(map[string]any)["shards"].([]any)[0].(map[string]any)
	replica := s0["nodes"].([]any)[1].(map[string]any)
	if s0["name"] != "s0" || replica["name"] != "s0-replica1" || replica["role"] != "replica" || replica["state"] != "lagging" ||
		replica["lag_bytes"] != float64(1<<20) || replica["lag_seconds"] != float64(3) || replica["address"] != "10.0.0.2:5433" {
		t.Errorf("replica: %v", replica)
	}
	primary := s0["nodes"].([]any)[0].(map[string]any)
	if primary["state"] != "up" || primary["lag_bytes"] != nil {
		t.Errorf("primary: %v", primary)
	}
	if _, ok := primary["banned_until"]; ok {
		t.Errorf("primary has banned_until: %v", primary)
	}
	if got["ready"] != false || got["reason"] != `no primary reachable for database "other"` {
		t.Errorf("ready %v reason %v", got["ready"], got["reason"])
	}
	if pools := got["pools"].([]any); len(pools) != 1 || pools[0].(map[string]any)["in_use"] != float64(1) {
		t.Errorf("pools: %v", pools)
	}

	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	s1 := st.Databases[0].Shards[1].Nodes[0]
	if s1.State != StateBanned || s1.BannedUntil == nil || !s1.BannedUntil.Equal(until) || s1.Error != "connection refused" {
		t.Errorf("s1 primary: %+v", s1)
	}
	if other := st.Databases[1].Shards[0].Nodes[0]; other.State != StateUnknown || other.Up {
		t.Errorf("unreported node: %+v", other)
	}
}

func TestNodeState(t *testing.T) {
	for _, tc := range []struct {
		n    *metrics.NodeStat
		want string
	}{
		{nil, StateUnknown},
		{&metrics.NodeStat{Up: true, Healthy: true, Banned: true}, StateBanned},
		{&metrics.NodeStat{Role: "replica"}, StateDown},
		{&metrics.NodeStat{Up: true, RoleMismatch: true}, StateRoleMismatch},
		{&metrics.NodeStat{Up: true, RoleMismatch: true, Promoted: true, Role: "replica"}, StatePromoted},
		{&metrics.NodeStat{RoleMismatch: true, Promoted: true, Role: "replica"}, StateDown},
		{&metrics.NodeStat{Up: true, Role: "replica"}, StateLagging},
		{&metrics.NodeStat{Up: true, Role: "primary"}, StateUnhealthy},
		{&metrics.NodeStat{Up: true, Healthy: true, Role: "replica"}, StateUp},
	} {
		if got := NodeState(tc.n); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.n, got, tc.want)
		}
	}
}

// TestServe runs the real listener and checks it stops with its context.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := New(config.Admin{}, nil, nil, nil)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/metrics"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 404 {
		t.Errorf("/metrics without a registry: %d", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(ShutdownTimeout + time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("the listener is still open")
	}

	// A listener that fails is reported.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2.Close()
	if err := s.Serve(context.Background(), ln2); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

// stillPauser pauses databases that have no transaction open.
type stillPauser struct{}

func (stillPauser) Pause(_ context.Context, names []string, _, max time.Duration) ([]PausedDatabase, error) {
	out := []PausedDatabase{}
	for _, n := range names {
		out = append(out, PausedDatabase{Name: n, Until: time.Unix(0, 0).UTC().Add(max)})
	}
	return out, nil
}

func (stillPauser) Resume(names []string) ([]string, error) { return names, nil }

func TestPauseEndpoints(t *testing.T) {
	f := newFixture(t, config.Admin{Token: token})
	for _, tc := range []struct {
		path, auth string
		code       int
		body       string
	}{
		{"/pause", "", 401, ""},
		{"/resume", "", 401, ""},
		{"/pause?database=app&max=2m", "Bearer " + token, 200, `"until": "1970-01-01T00:02:00Z"`},
		{"/pause?wait=soon", "Bearer " + token, 400, "wait: "},
		{"/pause?max=0s", "Bearer " + token, 400, "max: want a positive duration"},
		{"/resume?database=app", "Bearer " + token, 200, `"resumed": [`},
	} {
		code, _, body := f.do(t, "POST", tc.path, tc.auth)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("POST %s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}
