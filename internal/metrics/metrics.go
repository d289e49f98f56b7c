// Package metrics holds the Prometheus metric families pgshard exposes on
// the admin listener's /metrics, all named pgshard_*.
//
// Two kinds of state reach it differently:
//
//   - Events on the hot path (a statement routed, its latency, a two-phase
//     commit's outcome) are counted by the code where they happen, through
//     handles taken once, ahead of time. Registry.Database returns a
//     *Database whose methods index fixed arrays of prometheus.Counter and
//     prometheus.Observer children curried with every label value at
//     construction, so counting a statement costs an array index and an
//     atomic add: no label strings, no map lookup, no allocation. Hold the
//     *Database (one per configured database, e.g. beside the router) for
//     the life of the server; do not call Registry.Database per statement.
//   - State that already exists elsewhere (node health and lag in the
//     monitor, pool sizes and wait counts in the server's pools) is pulled
//     at scrape time through NodeSource and PoolSource, which the owners of
//     that state implement. Nothing is copied into gauges on the hot path
//     and nothing can go stale between scrapes.
//
// A nil *Database is valid and counts nothing, so code can run without
// metrics (tests, tools).
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RouteKind is what the router decided for a statement. The values and
// names are those of router.Kind, in the same order, so the wire layer
// converts with RouteKind(plan.Kind) (a test keeps the two in step).
type RouteKind uint8

const (
	KindShard     RouteKind = iota // the shard(s) owning the statement's key values
	KindDefault                    // the default shard (unsharded tables)
	KindAny                        // any one shard (reference tables, no table)
	KindScatter                    // every shard, results merged
	KindAll                        // every shard, as a write (DDL, reference tables)
	KindSession                    // transaction control and session state
	KindRefuse                     // refused without running
	KindCopySplit                  // COPY FROM STDIN split by key
	KindCopyOut                    // COPY TO STDOUT of every shard
	numKinds
)

var kindNames = [numKinds]string{"shard", "default", "any", "scatter", "all", "session", "refuse", "copy-split", "copy-out"}

func (k RouteKind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Target is the kind of node a statement ran on.
type Target uint8

const (
	TargetPrimary Target = iota
	TargetReplica
	numTargets
)

var targetNames = [numTargets]string{"primary", "replica"}

func (t Target) String() string {
	if t < numTargets {
		return targetNames[t]
	}
	return "unknown"
}

// TwoPhaseOutcome is how a two-phase commit ended for the client.
type TwoPhaseOutcome uint8

const (
	TwoPhaseCommitted  TwoPhaseOutcome = iota // every participant committed
	TwoPhaseRolledBack                        // a PREPARE failed; every participant rolled back
	TwoPhaseUnknown                           // the client got 08007: the resolver finishes it
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"committed", "rolled_back", "unknown"}

func (o TwoPhaseOutcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "invalid"
}

// ResolveDecision is what the in-doubt resolver did with a prepared
// transaction.
type ResolveDecision uint8

const (
	ResolveCommit   ResolveDecision = iota // the coordinator's decision row existed
	ResolveRollback                        // presumed abort
	numDecisions
)

var decisionNames = [numDecisions]string{"commit", "rollback"}

func (d ResolveDecision) String() string {
	if d < numDecisions {
		return decisionNames[d]
	}
	return "invalid"
}

// FormOutcome is what became of a simple query pool.prepare_simple could
// run as a server-side prepared statement.
type FormOutcome uint8

const (
	FormExecuted FormOutcome = iota // it ran as the prepared statement
	FormPrepared                    // ... which pgshard prepared on the connection first
	FormRefused                     // the server refused it before it ran; the query ran as sent
	numForms
)

var formNames = [numForms]string{"executed", "prepared", "refused"}

func (o FormOutcome) String() string {
	if o < numForms {
		return formNames[o]
	}
	return "invalid"
}

// Helped is how pgshard answered a statement it could not merge as sent
// (wire/staged.go, wire/serversort.go).
type Helped uint8

const (
	HelpedStaged       Helped = iota // subqueries, set-operation branches or a COPY's query run first
	HelpedPulledUp                   // one table's rows pulled up to a shard, which ran the query
	HelpedSorted                     // the shards' rows ordered by a shard
	HelpedBroadcast                  // sharded tables' rows staged for a join or a correlated subquery
	HelpedDecorrelated               // a correlated subquery answered from the values or groups it compares with
	numHelped
)

var helpedNames = [numHelped]string{"staged", "pulled_up", "sorted_on_shard", "broadcast", "decorrelated"}

func (h Helped) String() string {
	if h < numHelped {
		return helpedNames[h]
	}
	return "invalid"
}

// LoginRefusal is why pgshard refused a client's login.
type LoginRefusal uint8

const (
	RefusedMaxClients     LoginRefusal = iota // max_client_conn sessions were open (53300)
	RefusedUserMaxClients                     // the user's max_client_conn sessions were open (53300)
	RefusedAuth                               // authentication failed (28P01, 28000)
	RefusedOther                              // an unknown database, a startup parameter pgshard cannot serve, a protocol error
	numRefusals
)

var refusalNames = [numRefusals]string{"max_client_conn", "user_max_client_conn", "auth", "other"}

func (r LoginRefusal) String() string {
	if r < numRefusals {
		return refusalNames[r]
	}
	return "invalid"
}

// CancelOutcome is what became of a CancelRequest.
type CancelOutcome uint8

const (
	CancelLocal         CancelOutcome = iota // for a client of this pgshard (sent on to its servers, if it was running something)
	CancelForwarded                          // for a client of a peer, and passed on to it (peer_id, peers)
	CancelForwardFailed                      // for a client of a peer that could not be reached
	CancelUnmatched                          // no client here has that process ID and key, and no peer is to have it
	numCancelOutcomes
)

var cancelNames = [numCancelOutcomes]string{"local", "forwarded", "forward_failed", "unmatched"}

func (c CancelOutcome) String() string {
	if c < numCancelOutcomes {
		return cancelNames[c]
	}
	return "invalid"
}

// IdleTimeout is which idle timeout ended a session.
type IdleTimeout uint8

const (
	IdleInTransaction IdleTimeout = iota // idle_transaction_timeout: a transaction left open
	IdleSession                          // client_idle_timeout: idle outside a transaction
	numIdleTimeouts
)

var idleTimeoutNames = [numIdleTimeouts]string{"idle_transaction_timeout", "client_idle_timeout"}

func (x IdleTimeout) String() string {
	if x < numIdleTimeouts {
		return idleTimeoutNames[x]
	}
	return "invalid"
}

// LatencyBuckets are the statement latency histogram's upper bounds in
// seconds: from 100µs (a pooled single-shard statement on loopback) to 10s.
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Registry is pgshard's metric registry: the pgshard_* families, the Go
// runtime and process collectors, and the pulled node and pool state.
type Registry struct {
	reg *prometheus.Registry

	statements    *prometheus.CounterVec   // database, kind, target
	latency       *prometheus.HistogramVec // database, kind
	forms         *prometheus.CounterVec   // database, outcome
	helped        *prometheus.CounterVec   // database, how
	keyMismatches *prometheus.GaugeVec     // database
	seqColumns    *prometheus.GaugeVec     // database
	uniques       *prometheus.GaugeVec     // database
	genKeys       *prometheus.CounterVec   // database, source
	keyMoves      *prometheus.CounterVec   // database
	movedRows     *prometheus.CounterVec   // database
	idleEnded     *prometheus.CounterVec   // database, timeout
	pinned        *prometheus.CounterVec   // database
	unpinned      *prometheus.CounterVec   // database
	listeners     *prometheus.GaugeVec     // database
	notifications *prometheus.CounterVec   // database
	listenLost    *prometheus.CounterVec   // database
	twoPhase      [numOutcomes]prometheus.Counter
	refused       [numRefusals]prometheus.Counter
	cancels       [numCancelOutcomes]prometheus.Counter
	resolved      [numDecisions]prometheus.Counter

	pulled *pulled

	mu  sync.Mutex
	dbs map[string]*Database
}

// New returns a Registry with every family registered.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_route_statements_total",
			Help: "Statements routed, by database, routing kind and the kind of node they ran on.",
		}, []string{"database", "kind", "target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pgshard_statement_duration_seconds",
			Help:    "Time from a statement's arrival to the end of its answer, by database and routing kind.",
			Buckets: LatencyBuckets,
		}, []string{"database", "kind"}),
		forms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_server_forms_total",
			Help: "Simple queries run as server-side prepared statements (pool.prepare_simple), by database and outcome: executed, prepared (a Parse was sent first), refused (the server refused the form before it ran; the query ran as sent).",
		}, []string{"database", "outcome"}),
		helped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_helped_statements_total",
			Help: "Statements pgshard could not merge as sent and answered another way, by database and how: staged (subqueries, set-operation branches or a COPY's query run first and passed in), broadcast (the rows of sharded tables a join or a correlated subquery reads staged for every shard), decorrelated (a correlated subquery answered from the values or groups it compares with), pulled_up (one table's rows moved to a shard that ran the query), sorted_on_shard (the shards' rows ordered by a shard). All but the last read up to 2 MiB of rows more than a plain statement would.",
		}, []string{"database", "how"}),
		keyMismatches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgshard_key_column_mismatches",
			Help: "Sharded tables whose key column on some shard is not of the configured key_type (or is missing): statements routed by their key are refused until it is fixed. Alert on > 0.",
		}, []string{"database"}),
		seqColumns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgshard_sharded_sequence_columns",
			Help: "Columns of sharded tables filled from a sequence (serial, bigserial, identity): each shard has its own, so their values repeat across shards. See the operations guide, Sequences.",
		}, []string{"database"}),
		uniques: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgshard_sharded_unique_without_key",
			Help: "Unique (and exclusion) indexes of sharded tables that do not include the shard key: each shard enforces them over its own rows only, so their values can repeat across shards. See the operations guide, Unique indexes.",
		}, []string{"database"}),
		genKeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_generated_keys_total",
			Help: "Shard keys pgshard took from a key column's default for INSERTs and COPYs that leave the key out, by database and source: query (a round trip to the default shard), cache (taken ahead from a sequence with a CACHE above 1). See the operations guide, INSERT.",
		}, []string{"database", "source"}),
		keyMoves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_key_moves_total",
			Help: "UPDATEs that gave rows a shard key another shard owns and moved them there (sharding.key_updates: move), by database. See the operations guide, Writes that set the shard key.",
		}, []string{"database"}),
		movedRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_key_moved_rows_total",
			Help: "Rows those UPDATEs moved to another shard, by database.",
		}, []string{"database"}),
		pinned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_sessions_pinned_total",
			Help: "Transaction-pooling sessions that kept their server connections for the rest of the session because they took session state (pool.session_state: pin), by database.",
		}, []string{"database"}),
		unpinned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_sessions_unpinned_total",
			Help: "Pinned sessions returned to transaction pooling because their server connections no longer held any of their session state, by database.",
		}, []string{"database"}),
		listeners: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pgshard_listeners",
			Help: "Transaction-pooling sessions that pgshard listens for now (they ran LISTEN), by database. See the operations guide, LISTEN/NOTIFY.",
		}, []string{"database"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_notifications_total",
			Help: "Notifications pgshard's listening connections received for transaction-pooling listeners, by database; each reaches every session listening on its channel.",
		}, []string{"database"}),
		listenLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_listeners_lost_total",
			Help: "Transaction-pooling listeners ended because they may have missed notifications, by database: a listening connection was lost, a reload moved the nodes, or more than 16 MiB of notifications waited for the client.",
		}, []string{"database"}),
		idleEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgshard_idle_timeouts_total",
			Help: "Sessions ended because their client sent nothing for longer than a timeout, by database and timeout: idle_transaction_timeout (a transaction left open, 25P03), client_idle_timeout (outside a transaction, 57P05).",
		}, []string{"database", "timeout"}),
		pulled: &pulled{},
		dbs:    map[string]*Database{},
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgshard_logins_refused_total",
		Help: "Client logins refused, by reason: max_client_conn (53300), user_max_client_conn (the user's own limit, 53300), auth (a wrong password or an unknown user), other (an unknown database, a startup parameter pgshard cannot serve).",
	}, []string{"reason"})
	for x := range numRefusals {
		r.refused[x] = refused.WithLabelValues(x.String())
	}
	cancels := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgshard_cancel_requests_total",
		Help: "CancelRequests received, by outcome: local (for a client of this pgshard), forwarded (for a client of a peer, passed on to it), forward_failed (the peer could not be reached), unmatched (no client here has that process ID and key, and no peer is to have it).",
	}, []string{"outcome"})
	for o := range numCancelOutcomes {
		r.cancels[o] = cancels.WithLabelValues(o.String())
	}
	twoPhase := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgshard_two_phase_commits_total",
		Help: "Two-phase commits of transactions that wrote on several shards, by outcome: committed, rolled_back (a PREPARE or the coordinator's commit failed), unknown (the client got 08007; the resolver finishes it).",
	}, []string{"outcome"})
	for o := range numOutcomes {
		r.twoPhase[o] = twoPhase.WithLabelValues(o.String())
	}
	resolved := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pgshard_two_phase_resolved_total",
		Help: "In-doubt prepared transactions the resolver finished, by decision: commit or rollback.",
	}, []string{"decision"})
	for d := range numDecisions {
		r.resolved[d] = resolved.WithLabelValues(d.String())
	}
	r.reg.MustRegister(
		r.statements, r.latency, r.forms, r.helped, r.keyMismatches, r.seqColumns, r.uniques, r.genKeys, r.keyMoves, r.movedRows,
		r.idleEnded, r.pinned, r.unpinned, r.listeners, r.notifications, r.listenLost, refused, cancels, twoPhase, resolved, r.pulled,
		collectors.NewGoCollector(),
		collectors.NewBuildInfoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Gatherer is what promhttp.HandlerFor serves.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Registerer lets other packages add collectors of their own; their names
// should start with pgshard_ too.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }

// AddNodeSource adds a source of node state, read at every scrape.
func (r *Registry) AddNodeSource(s NodeSource) { r.pulled.addNodes(s) }

// AddClientSource adds a source of client session counts, read at every
// scrape.
func (r *Registry) AddClientSource(s ClientSource) { r.pulled.addClients(s) }

// AddPoolSource adds a source of pool state, read at every scrape.
func (r *Registry) AddPoolSource(s PoolSource) { r.pulled.addPools(s) }

// TwoPhase returns the counter of two-phase commits that ended with o.
// Counters are created up front; keep the handle or call this per commit
// (an array index).
func (r *Registry) TwoPhase(o TwoPhaseOutcome) prometheus.Counter {
	if r == nil || o >= numOutcomes {
		return discard{}
	}
	return r.twoPhase[o]
}

// Refused returns the counter of logins refused for reason x.
func (r *Registry) Refused(x LoginRefusal) prometheus.Counter {
	if r == nil || x >= numRefusals {
		return discard{}
	}
	return r.refused[x]
}

// Cancel returns the counter of CancelRequests that ended with o.
func (r *Registry) Cancel(o CancelOutcome) prometheus.Counter {
	if r == nil || o >= numCancelOutcomes {
		return discard{}
	}
	return r.cancels[o]
}

// Resolved returns the counter of in-doubt transactions the resolver
// finished with d.
func (r *Registry) Resolved(d ResolveDecision) prometheus.Counter {
	if r == nil || d >= numDecisions {
		return discard{}
	}
	return r.resolved[d]
}

// Database returns the hot-path handles of one database, creating every
// (kind, target) counter and kind histogram for it, so each series is
// exported from zero. Call it once per database when the server starts
// and keep the result; it takes a lock. A nil Registry returns nil, which
// counts nothing.
func (r *Registry) Database(name string) *Database {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d := r.dbs[name]; d != nil {
		return d
	}
	d := &Database{}
	for k := range numKinds {
		for t := range numTargets {
			d.statements[k][t] = r.statements.WithLabelValues(name, k.String(), t.String())
		}
		d.latency[k] = r.latency.WithLabelValues(name, k.String())
	}
	for o := range numForms {
		d.forms[o] = r.forms.WithLabelValues(name, o.String())
	}
	for h := range numHelped {
		d.helped[h] = r.helped.WithLabelValues(name, h.String())
	}
	d.keyMismatches = r.keyMismatches.WithLabelValues(name)
	d.seqColumns = r.seqColumns.WithLabelValues(name)
	d.uniques = r.uniques.WithLabelValues(name)
	d.keysQueried = r.genKeys.WithLabelValues(name, "query")
	d.keysCached = r.genKeys.WithLabelValues(name, "cache")
	d.keyMoves = r.keyMoves.WithLabelValues(name)
	d.movedRows = r.movedRows.WithLabelValues(name)
	for x := range numIdleTimeouts {
		d.idleEnded[x] = r.idleEnded.WithLabelValues(name, x.String())
	}
	d.pinned = r.pinned.WithLabelValues(name)
	d.unpinned = r.unpinned.WithLabelValues(name)
	d.listeners = r.listeners.WithLabelValues(name)
	d.notifications = r.notifications.WithLabelValues(name)
	d.listenLost = r.listenLost.WithLabelValues(name)
	r.dbs[name] = d
	return d
}

// Database is one database's curried metric children. Its methods are
// safe for concurrent use and do not allocate.
type Database struct {
	statements    [numKinds][numTargets]prometheus.Counter
	latency       [numKinds]prometheus.Observer
	forms         [numForms]prometheus.Counter
	helped        [numHelped]prometheus.Counter
	keyMismatches prometheus.Gauge
	seqColumns    prometheus.Gauge
	uniques       prometheus.Gauge
	keysQueried   prometheus.Counter
	keysCached    prometheus.Counter
	keyMoves      prometheus.Counter
	movedRows     prometheus.Counter
	idleEnded     [numIdleTimeouts]prometheus.Counter
	pinned        prometheus.Counter
	unpinned      prometheus.Counter
	listeners     prometheus.Gauge
	notifications prometheus.Counter
	listenLost    prometheus.Counter
}

// Unpinned counts a pinned session returned to transaction pooling.
func (d *Database) Unpinned() {
	if d == nil {
		return
	}
	d.unpinned.Inc()
}

// Listening counts a session that started (+1) or stopped (-1) being
// listened for.
func (d *Database) Listening(delta int) {
	if d == nil {
		return
	}
	d.listeners.Add(float64(delta))
}

// Notified counts a notification received for listeners.
func (d *Database) Notified() {
	if d == nil {
		return
	}
	d.notifications.Inc()
}

// ListenerLost counts a listener ended because it may have missed
// notifications.
func (d *Database) ListenerLost() {
	if d == nil {
		return
	}
	d.listenLost.Inc()
}

// Pinned counts a session that session state pinned to its server
// connections.
func (d *Database) Pinned() {
	if d == nil {
		return
	}
	d.pinned.Inc()
}

// IdleTimedOut counts a session ended by the idle timeout x.
func (d *Database) IdleTimedOut(x IdleTimeout) {
	if d == nil || x >= numIdleTimeouts {
		return
	}
	d.idleEnded[x].Inc()
}

// KeyMoved counts one UPDATE that moved n rows to their new key's shard.
func (d *Database) KeyMoved(n int) {
	if d == nil {
		return
	}
	d.keyMoves.Inc()
	d.movedRows.Add(float64(n))
}

// GeneratedKeys counts n shard keys taken from a key column's default,
// from the keys taken ahead (cached) or by a query.
func (d *Database) GeneratedKeys(n int, cached bool) {
	if d == nil {
		return
	}
	if cached {
		d.keysCached.Add(float64(n))
	} else {
		d.keysQueried.Add(float64(n))
	}
}

// KeyMismatches sets how many sharded tables' key columns do not match
// the configuration.
func (d *Database) KeyMismatches(n int) {
	if d == nil {
		return
	}
	d.keyMismatches.Set(float64(n))
}

// SequenceColumns sets how many columns of sharded tables are filled from
// a sequence of each shard.
func (d *Database) SequenceColumns(n int) {
	if d == nil {
		return
	}
	d.seqColumns.Set(float64(n))
}

// ServerForm counts one simple query's server form ending as o.
func (d *Database) ServerForm(o FormOutcome) {
	if d == nil || o >= numForms {
		return
	}
	d.forms[o].Inc()
}

// Helped counts one statement answered as h says.
func (d *Database) Helped(h Helped) {
	if d == nil || h >= numHelped {
		return
	}
	d.helped[h].Inc()
}

// Statement counts one statement routed as kind and run on target.
func (d *Database) Statement(kind RouteKind, target Target) {
	if d == nil || kind >= numKinds || target >= numTargets {
		return
	}
	d.statements[kind][target].Inc()
}

// Observe records a statement's latency under kind.
func (d *Database) Observe(kind RouteKind, elapsed time.Duration) {
	if d == nil || kind >= numKinds {
		return
	}
	d.latency[kind].Observe(elapsed.Seconds())
}

// StatementCounter returns the counter Statement increments, for a caller
// that wants to hold it (e.g. one per prepared plan).
func (d *Database) StatementCounter(kind RouteKind, target Target) prometheus.Counter {
	if d == nil || kind >= numKinds || target >= numTargets {
		return discard{}
	}
	return d.statements[kind][target]
}

// LatencyObserver returns the histogram child Observe feeds.
func (d *Database) LatencyObserver(kind RouteKind) prometheus.Observer {
	if d == nil || kind >= numKinds {
		return discard{}
	}
	return d.latency[kind]
}

// discard is the Counter and Observer handed out where nothing is counted.
type discard struct{ prometheus.Counter }

func (discard) Inc()            {}
func (discard) Add(float64)     {}
func (discard) Observe(float64) {}

// UniqueWithoutKey sets how many unique indexes of sharded tables leave
// out the shard key.
func (d *Database) UniqueWithoutKey(n int) {
	if d == nil {
		return
	}
	d.uniques.Set(float64(n))
}
