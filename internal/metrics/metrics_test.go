package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgshard/pgshard/router"
)

// TestKindsMatchRouter keeps RouteKind in step with router.Kind, so the
// wire layer can convert with RouteKind(plan.Kind).
func TestKindsMatchRouter(t *testing.T) {
	for k := range numKinds {
		if got := router.Kind(k).String(); got != k.String() {
			t.Errorf("kind %d: router says %q, metrics %q", k, got, k.String())
		}
	}
}

func TestHotPath(t *testing.T) {
	r := New()
	app := r.Database("app")
	if r.Database("app") != app {
		t.Fatal("Database is not cached")
	}
	app.Statement(KindShard, TargetReplica)
	app.Statement(KindShard, TargetReplica)
	app.StatementCounter(KindScatter, TargetPrimary).Inc()
	app.Observe(KindShard, 3*time.Millisecond)
	app.LatencyObserver(KindCopySplit).Observe(2)
	r.TwoPhase(TwoPhaseCommitted).Inc()
	r.Resolved(ResolveRollback).Inc()
	app.ServerForm(FormExecuted)
	app.ServerForm(FormRefused)
	app.ServerForm(FormRefused)
	app.IdleTimedOut(IdleInTransaction)
	r.Refused(RefusedMaxClients).Inc()
	r.Cancel(CancelForwarded).Inc()

	families := gather(t, r.Gatherer())
	for _, c := range []struct {
		name   string
		labels string
		want   float64
	}{
		{"pgshard_route_statements_total", "database=app,kind=shard,target=replica", 2},
		{"pgshard_route_statements_total", "database=app,kind=scatter,target=primary", 1},
		{"pgshard_route_statements_total", "database=app,kind=copy-split,target=replica", 0},
		{"pgshard_two_phase_commits_total", "outcome=committed", 1},
		{"pgshard_two_phase_commits_total", "outcome=rolled_back", 0},
		{"pgshard_two_phase_commits_total", "outcome=unknown", 0},
		{"pgshard_two_phase_resolved_total", "decision=rollback", 1},
		{"pgshard_server_forms_total", "database=app,outcome=executed", 1},
		{"pgshard_server_forms_total", "database=app,outcome=prepared", 0},
		{"pgshard_server_forms_total", "database=app,outcome=refused", 2},
		{"pgshard_idle_timeouts_total", "database=app,timeout=idle_transaction_timeout", 1},
		{"pgshard_idle_timeouts_total", "database=app,timeout=client_idle_timeout", 0},
		{"pgshard_logins_refused_total", "reason=max_client_conn", 1},
		{"pgshard_logins_refused_total", "reason=auth", 0},
		{"pgshard_cancel_requests_total", "outcome=forwarded", 1},
		{"pgshard_cancel_requests_total", "outcome=unmatched", 0},
	} {
		if got, ok := value(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Every (kind, target) series exists from the start.
	if n, want := len(families["pgshard_route_statements_total"].GetMetric()), int(numKinds)*int(numTargets); n != want {
		t.Errorf("%d statement series, want %d", n, want)
	}
	for _, c := range []struct {
		labels string
		count  uint64
		sum    float64
	}{
		{"database=app,kind=copy-split", 1, 2},
		{"database=app,kind=shard", 1, 0.003},
		{"database=app,kind=refuse", 0, 0},
	} {
		m := find(families, "pgshard_statement_duration_seconds", c.labels)
		if h := m.GetHistogram(); m == nil || h.GetSampleCount() != c.count || h.GetSampleSum() != c.sum {
			t.Errorf("latency{%s}: %v", c.labels, m)
		}
	}
}

// TestHotPathDoesNotAllocate: counting a statement is an array index and
// an atomic add.
func TestHotPathDoesNotAllocate(t *testing.T) {
	d := New().Database("app")
	if n := testing.AllocsPerRun(1000, func() {
		d.Statement(KindShard, TargetPrimary)
		d.Observe(KindShard, time.Millisecond)
		d.ServerForm(FormExecuted)
	}); n != 0 {
		t.Errorf("%v allocations per statement", n)
	}
}

func TestNilIsSafe(t *testing.T) {
	var r *Registry
	d := r.Database("app")
	d.Statement(KindShard, TargetPrimary)
	d.Observe(KindShard, time.Second)
	d.StatementCounter(KindAll, TargetReplica).Inc()
	d.LatencyObserver(KindAll).Observe(1)
	r.TwoPhase(TwoPhaseUnknown).Inc()
	r.Resolved(ResolveCommit).Add(1)
	r.Cancel(CancelLocal).Inc()
	d.ServerForm(FormPrepared)
	d.Helped(HelpedSorted)
	New().Database("x").Statement(numKinds, TargetPrimary) // out of range: ignored
	New().Database("x").Helped(numHelped)
}

func TestPulled(t *testing.T) {
	r := New()
	r.AddNodeSource(NodeSourceFunc(func() []NodeStat {
		return []NodeStat{
			{Database: "app", Shard: "s0", Node: "s0-primary", Role: "primary", Up: true, Healthy: true},
			{Database: "app", Shard: "s0", Node: "s0-replica1", Role: "replica", Up: true,
				LagKnown: true, LagBytes: 4096, Lag: 1500 * time.Millisecond, Banned: true},
		}
	}))
	r.AddPoolSource(PoolSourceFunc(func() []PoolStat {
		return []PoolStat{{Database: "app", User: "u", Shard: "s0", Node: "s0-primary", Open: 3, Idle: 1, InUse: 2, Waiting: 4, Waits: 10, WaitTimeouts: 1, LongestWait: 0.25, Waited: 1.5}}
	}))
	r.AddClientSource(ClientSourceFunc(func() []ClientStat {
		return []ClientStat{{Database: "app", State: "idle in transaction", Sessions: 3}, {Database: "app", State: "paused", Sessions: 0}}
	}))
	families := gather(t, r.Gatherer())
	for _, c := range []struct {
		name   string
		labels string
		want   float64
	}{
		{"pgshard_clients", "database=app,state=idle in transaction", 3},
		{"pgshard_clients", "database=app,state=paused", 0},
		{"pgshard_node_lag_bytes", "database=app,shard=s0,node=s0-replica1,role=replica", 4096},
		{"pgshard_node_lag_seconds", "database=app,shard=s0,node=s0-replica1,role=replica", 1.5},
		{"pgshard_node_up", "database=app,shard=s0,node=s0-primary,role=primary", 1},
		{"pgshard_node_healthy", "database=app,shard=s0,node=s0-primary,role=primary", 1},
		{"pgshard_node_healthy", "database=app,shard=s0,node=s0-replica1,role=replica", 0},
		{"pgshard_node_banned", "database=app,shard=s0,node=s0-primary,role=primary", 0},
		{"pgshard_node_banned", "database=app,shard=s0,node=s0-replica1,role=replica", 1},
		{"pgshard_pool_connections_open", "database=app,user=u,shard=s0,node=s0-primary", 3},
		{"pgshard_pool_connections_idle", "database=app,user=u,shard=s0,node=s0-primary", 1},
		{"pgshard_pool_connections_in_use", "database=app,user=u,shard=s0,node=s0-primary", 2},
		{"pgshard_pool_clients_waiting", "database=app,user=u,shard=s0,node=s0-primary", 4},
		{"pgshard_pool_waits_total", "database=app,user=u,shard=s0,node=s0-primary", 10},
		{"pgshard_pool_longest_wait_seconds", "database=app,user=u,shard=s0,node=s0-primary", 0.25},
		{"pgshard_pool_wait_seconds_total", "database=app,user=u,shard=s0,node=s0-primary", 1.5},
		{"pgshard_pool_wait_timeouts_total", "database=app,user=u,shard=s0,node=s0-primary", 1},
		{"pgshard_pool_connects_total", "database=app,user=u,shard=s0,node=s0-primary", 0},
	} {
		if got, ok := value(families, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Lag is left out while unknown (the primary has none).
	if m := find(families, "pgshard_node_lag_bytes", "database=app,shard=s0,node=s0-primary,role=primary"); m != nil {
		t.Errorf("lag of the primary: %v", m)
	}
	if families["go_build_info"] == nil {
		t.Error("no go_build_info: which build runs is not exported")
	}
	if families["pgshard_pool_waits_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("pool waits are not a counter")
	}

	// pgshard's families follow Prometheus's naming rules.
	var all []*dto.MetricFamily
	for _, f := range families {
		all = append(all, f)
	}
	problems, err := promlint.NewWithMetricFamilies(all).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "pgshard_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

func gather(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := g.Gather() // also fails on duplicate or inconsistent series
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range families {
		m[f.GetName()] = f
	}
	return m
}

// find returns the metric of family name whose labels are exactly labels
// ("k=v,k=v", any order), or nil.
func find(families map[string]*dto.MetricFamily, name, labels string) *dto.Metric {
	want := map[string]string{}
	for _, kv := range strings.Split(labels, ",") {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	for _, m := range families[name].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// value is the value of a counter or gauge found as by find.
func value(families map[string]*dto.MetricFamily, name, labels string) (float64, bool) {
	m := find(families, name, labels)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
