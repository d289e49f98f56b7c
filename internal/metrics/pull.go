package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// NodeStat is one server node as the health and lag monitor last saw it.
type NodeStat struct {
	Database string
	Shard    string // shard name, as configured
	Node     string // node name, as configured
	Role     string // as configured: "primary" or "replica"
	Address  string // host:port, for /status; never credentials

	// Up: the node's last poll succeeded and is recent.
	Up bool
	// Healthy: the node may take traffic in its role now: up, the role it
	// is configured for, not banned, and for a replica its lag known and
	// within the reads limits. The monitor or router decides.
	Healthy bool
	// RoleMismatch: the node is not what it is configured to be (a primary
	// in recovery, a promoted replica).
	RoleMismatch bool
	// Promoted: a configured replica that takes its shard's writes now
	// (monitor.follow_promotion followed its promotion).
	Promoted bool

	// Lag of a replica behind its primary. LagKnown is false for primaries
	// and while either side cannot be polled; the lag gauges are then left
	// out rather than reported as 0.
	LagKnown bool
	LagBytes int64
	Lag      time.Duration

	// Banned: kept out of routing after connection failures, until
	// BannedUntil (or a later successful poll).
	Banned      bool
	BannedUntil time.Time

	// Err is the last poll's error for operators, or "". It must not hold
	// secrets (DSNs with passwords).
	Err string
}

// PoolStat is one server connection pool: (database, user, node).
type PoolStat struct {
	Database string `json:"database"`
	User     string `json:"user"`
	Shard    string `json:"shard"`
	Node     string `json:"node"`

	Open    int `json:"open"`    // connections open, idle or in use
	Idle    int `json:"idle"`    // open and waiting in the pool
	InUse   int `json:"in_use"`  // open and held by a client
	Waiting int `json:"waiting"` // clients waiting for a connection now
	// LongestWait is how long the client waiting longest has waited so
	// far, in seconds (PgBouncer's maxwait); 0 when none waits. Waited is
	// the seconds clients spent waiting, over the waits that ended.
	LongestWait float64 `json:"longest_wait_seconds"`
	Waited      float64 `json:"waited_seconds"`

	Waits         uint64 `json:"waits"`          // clients that had to wait, since start
	WaitTimeouts  uint64 `json:"wait_timeouts"`  // waits that ended in queue_timeout (53300)
	Connects      uint64 `json:"connects"`       // server connections opened
	ConnectErrors uint64 `json:"connect_errors"` // attempts that failed
	ReserveOpens  uint64 `json:"reserve_opens"`  // clients that opened a reserve connection (pool.reserve_size)
	BudgetWaits   uint64 `json:"budget_waits"`   // opens that waited for the database's max_db_connections
}

// ClientStat counts the client sessions of a database in one state
// (pg_stat_activity's words, or paused).
type ClientStat struct {
	Database string
	State    string
	Sessions int
}

// ClientStates are the states ClientStat counts, each reported for every
// database, from 0.
var ClientStates = []string{"active", "idle", "idle in transaction", "idle in transaction (aborted)", "paused"}

// ClientSource reports the client sessions, under the same rules as
// NodeSource.
type ClientSource interface{ ClientCounts() []ClientStat }

// NodeSource reports every monitored node. Nodes is called at each scrape
// and by /status, from any goroutine: it must be safe for concurrent use,
// cheap (a snapshot under a read lock), and must not block on the network.
type NodeSource interface{ Nodes() []NodeStat }

// PoolSource reports every pool, under the same rules as NodeSource.
type PoolSource interface{ Pools() []PoolStat }

// SchemaWarning is a hazard the catalog checks found in a database's
// schema, for /status: a key column of another type than configured
// (key_type_mismatch), a column of a sharded table filled from each
// shard's own sequence (sequence_column), a unique index of a sharded
// table without its shard key (unique_without_key).
type SchemaWarning struct {
	Database string `json:"-"`
	Kind     string `json:"kind"`
	Object   string `json:"object"` // the table, column or index
	Detail   string `json:"detail"`
}

// SchemaSource reports the schema warnings of every database, under the
// same rules as NodeSource.
type SchemaSource interface{ SchemaWarnings() []SchemaWarning }

// NodeSourceFunc, PoolSourceFunc, SchemaSourceFunc and ClientSourceFunc
// adapt functions to the interfaces.
type (
	NodeSourceFunc   func() []NodeStat
	PoolSourceFunc   func() []PoolStat
	SchemaSourceFunc func() []SchemaWarning
	ClientSourceFunc func() []ClientStat
)

func (f NodeSourceFunc) Nodes() []NodeStat                 { return f() }
func (f PoolSourceFunc) Pools() []PoolStat                 { return f() }
func (f SchemaSourceFunc) SchemaWarnings() []SchemaWarning { return f() }
func (f ClientSourceFunc) ClientCounts() []ClientStat      { return f() }

var (
	nodeLabels = []string{"database", "shard", "node", "role"}
	poolLabels = []string{"database", "user", "shard", "node"}

	nodeUp = prometheus.NewDesc("pgshard_node_up",
		"1 while the node's last health poll succeeded and is recent, else 0.", nodeLabels, nil)
	nodeHealthy = prometheus.NewDesc("pgshard_node_healthy",
		"1 while the node may take traffic in its configured role (up, right role, not banned, replica lag within the reads limits), else 0.", nodeLabels, nil)
	nodeBanned = prometheus.NewDesc("pgshard_node_banned",
		"1 while the node is banned from routing after connection failures, else 0.", nodeLabels, nil)
	nodeLagBytes = prometheus.NewDesc("pgshard_node_lag_bytes",
		"Bytes of WAL a replica has not yet replayed, against its primary's current position. Absent while unknown.", nodeLabels, nil)
	nodeLagSeconds = prometheus.NewDesc("pgshard_node_lag_seconds",
		"How far a replica's replay trails its primary, in seconds. Absent while unknown.", nodeLabels, nil)

	clientSessions = prometheus.NewDesc("pgshard_clients",
		"Client sessions open, by database and state (active, idle, idle in transaction, idle in transaction (aborted), paused). max_client_conn bounds their sum.", []string{"database", "state"}, nil)

	poolOpen = prometheus.NewDesc("pgshard_pool_connections_open",
		"Server connections open in the pool, idle or in use.", poolLabels, nil)
	poolIdle = prometheus.NewDesc("pgshard_pool_connections_idle",
		"Server connections idle in the pool.", poolLabels, nil)
	poolInUse = prometheus.NewDesc("pgshard_pool_connections_in_use",
		"Server connections held by clients.", poolLabels, nil)
	poolWaiting = prometheus.NewDesc("pgshard_pool_clients_waiting",
		"Clients waiting for a server connection now.", poolLabels, nil)
	poolLongestWait = prometheus.NewDesc("pgshard_pool_longest_wait_seconds",
		"How long the client waiting longest for a server connection has waited so far (PgBouncer's maxwait); 0 when none waits.", poolLabels, nil)
	poolWaited = prometheus.NewDesc("pgshard_pool_wait_seconds_total",
		"Time clients spent waiting for a server connection, over the waits that ended; divided by pgshard_pool_waits_total, the mean wait.", poolLabels, nil)
	poolWaits = prometheus.NewDesc("pgshard_pool_waits_total",
		"Clients that had to wait for a server connection.", poolLabels, nil)
	poolWaitTimeouts = prometheus.NewDesc("pgshard_pool_wait_timeouts_total",
		"Waits that ended with queue_timeout (53300).", poolLabels, nil)
	poolConnects = prometheus.NewDesc("pgshard_pool_connects_total",
		"Server connections opened.", poolLabels, nil)
	poolConnectErrors = prometheus.NewDesc("pgshard_pool_connect_errors_total",
		"Server connection attempts that failed.", poolLabels, nil)
	poolReserveOpens = prometheus.NewDesc("pgshard_pool_reserve_opens_total",
		"Clients that waited pool.reserve_timeout and opened one of the pool.reserve_size connections beyond pool.size.", poolLabels, nil)
	poolBudgetWaits = prometheus.NewDesc("pgshard_pool_budget_waits_total",
		"Connections the pool had room for that waited for the database's max_db_connections on the node.", poolLabels, nil)
)

// pulled is the prometheus.Collector reading the sources at scrape time.
type pulled struct {
	mu      sync.Mutex
	nodes   []NodeSource
	pools   []PoolSource
	clients []ClientSource
}

func (p *pulled) addClients(s ClientSource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clients = append(p.clients, s)
}

func (p *pulled) addNodes(s NodeSource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes = append(p.nodes, s)
}

func (p *pulled) addPools(s PoolSource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pools = append(p.pools, s)
}

func (p *pulled) sources() ([]NodeSource, []PoolSource, []ClientSource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]NodeSource(nil), p.nodes...), append([]PoolSource(nil), p.pools...), append([]ClientSource(nil), p.clients...)
}

func (p *pulled) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		nodeUp, nodeHealthy, nodeBanned, nodeLagBytes, nodeLagSeconds,
		poolOpen, poolIdle, poolInUse, poolWaiting, poolLongestWait, poolWaited, poolWaits, poolWaitTimeouts, poolConnects, poolConnectErrors,
		poolReserveOpens, poolBudgetWaits, clientSessions,
	} {
		ch <- d
	}
}

func (p *pulled) Collect(ch chan<- prometheus.Metric) {
	nodes, pools, clients := p.sources()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, src := range nodes {
		for _, n := range src.Nodes() {
			l := []string{n.Database, n.Shard, n.Node, n.Role}
			gauge(nodeUp, b2f(n.Up), l...)
			gauge(nodeHealthy, b2f(n.Healthy), l...)
			gauge(nodeBanned, b2f(n.Banned), l...)
			if n.LagKnown {
				gauge(nodeLagBytes, float64(n.LagBytes), l...)
				gauge(nodeLagSeconds, n.Lag.Seconds(), l...)
			}
		}
	}
	for _, src := range pools {
		for _, s := range src.Pools() {
			l := []string{s.Database, s.User, s.Shard, s.Node}
			gauge(poolOpen, float64(s.Open), l...)
			gauge(poolIdle, float64(s.Idle), l...)
			gauge(poolInUse, float64(s.InUse), l...)
			gauge(poolWaiting, float64(s.Waiting), l...)
			gauge(poolLongestWait, s.LongestWait, l...)
			ch <- prometheus.MustNewConstMetric(poolWaited, prometheus.CounterValue, s.Waited, l...)
			counter(poolWaits, s.Waits, l...)
			counter(poolWaitTimeouts, s.WaitTimeouts, l...)
			counter(poolConnects, s.Connects, l...)
			counter(poolConnectErrors, s.ConnectErrors, l...)
			counter(poolReserveOpens, s.ReserveOpens, l...)
			counter(poolBudgetWaits, s.BudgetWaits, l...)
		}
	}
	for _, src := range clients {
		for _, c := range src.ClientCounts() {
			gauge(clientSessions, float64(c.Sessions), c.Database, c.State)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
