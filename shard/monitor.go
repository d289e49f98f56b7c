package shard

// # Health and replication lag monitor
//
// A Monitor knows, for every node of a topology (each shard's primary and
// its streaming replicas), whether the node answers, whether it is what it
// is configured to be, and how far each replica trails its primary. The
// router reads it to decide whether a read may go to a replica
// (Eligible, ReplayedPast); the wire layer feeds it connection failures
// (Ban).
//
// One poller goroutine per node, owned by Run, keeps one connection to the
// node and every Interval runs one statement:
//
//	SELECT pg_is_in_recovery(),
//	       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn() END,
//	       pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()
//
// The same statement runs on primaries and replicas, so a node that changed
// role (a primary restarted as a standby, a promoted replica) is seen as what
// it is now and flagged RoleMismatch; the router must then neither write to
// that primary nor read from that replica. pg_current_wal_lsn() fails during
// recovery, hence the CASE.
//
// Lag in bytes is the primary's last pg_current_wal_lsn() minus the replica's
// pg_last_wal_replay_lsn(). Lag in time comes from the primary poller's own
// history of (time, LSN) samples (lsnHistory.lagTime gives the exact rule):
// the time since the primary was first seen past the replica's replay
// position, or 0 when the replica has replayed everything the primary was
// last seen at.
// PostgreSQL's own measures mislead here: now() −
// pg_last_xact_replay_timestamp() grows on an idle primary, and
// pg_stat_replication.replay_lag freezes while replay is paused.
//
// Failure is never health. A node is Healthy only while its last poll
// succeeded and is at most StaleAfter old; a node not yet polled, whose poll
// failed or timed out, or whose poller is stuck is Unknown, and an Unknown
// node is never Eligible. A replica's lag is only known while its primary is
// Healthy too: with the primary unreachable there is nothing to measure
// against, so no replica of that shard is Eligible under a lag limit.
//
// State is guarded by one RWMutex: pollers write a few times per second per
// node, the read path takes the read lock for a handful of comparisons.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// NodeID names a node: its shard and its configured name, unique within the
// shard.
type NodeID struct {
	Shard ShardID
	Name  string
}

func (id NodeID) String() string { return fmt.Sprintf("shard %d node %s", id.Shard, id.Name) }

// Role is what a node is in its shard's replication.
type Role uint8

const (
	RoleUnknown Role = iota // not polled successfully
	RolePrimary             // not in recovery: accepts writes
	RoleReplica             // in recovery: a streaming standby
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleReplica:
		return "replica"
	default:
		return "unknown"
	}
}

// NodeSpec is one node to monitor.
type NodeSpec struct {
	ID   NodeID
	Role Role // as configured: RolePrimary (one per shard) or RoleReplica
	// Dial opens a connection to the node. If nil, DSN is used.
	Dial func(ctx context.Context) (*pgconn.PgConn, error)
	// DSN is a libpq connection string or URL (host, port, user, password,
	// dbname, sslmode), built like the node's pools build theirs.
	DSN string
}

// Options tune a Monitor. Zero values take the defaults.
type Options struct {
	Interval     time.Duration // between polls of one node; default 250ms
	Timeout      time.Duration // per poll, connecting included; default 1s
	StaleAfter   time.Duration // a successful poll older than this no longer counts; default 2×Interval
	History      int           // primary LSN samples kept per shard; default 1200 (5 min of a busy primary at 250ms)
	BanBase      time.Duration // first ban; default 1s
	BanMax       time.Duration // longest ban, and how long a node must stay unbanned to start again at BanBase; default 30s
	ReconnectMax time.Duration // longest wait between a failing poller's attempts; default 2s
	// FollowPromotion: a configured replica that took the place of its
	// shard's primary (WriteNode) is the primary replicas' lag and
	// read-your-writes positions are measured against.
	FollowPromotion bool

	// Now is the clock; default time.Now. Tests inject their own.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 2 * o.Interval
	}
	if o.History <= 0 {
		o.History = 1200
	}
	if o.BanBase <= 0 {
		o.BanBase = time.Second
	}
	if o.BanMax <= 0 {
		o.BanMax = 30 * time.Second
	}
	o.BanMax = max(o.BanMax, o.BanBase)
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 2 * time.Second
	}
	o.ReconnectMax = max(o.ReconnectMax, o.Interval)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// NodeState is a snapshot of one node as the monitor sees it.
type NodeState struct {
	ID         NodeID
	Configured Role // from NodeSpec
	Role       Role // observed by the last successful poll (RoleUnknown before one)
	// RoleMismatch: the node is not what it is configured to be (a primary in
	// recovery, a replica that was promoted). Never write to such a primary
	// or read from such a replica.
	RoleMismatch bool

	Healthy bool // the last poll succeeded and is at most StaleAfter old
	Unknown bool // !Healthy: never polled, poll failed, or poll too old
	Err     error

	InRecovery bool
	CurrentLSN LSN // pg_current_wal_lsn(), primaries (not in recovery) only
	ReceiveLSN LSN // pg_last_wal_receive_lsn(), replicas only
	ReplayLSN  LSN // pg_last_wal_replay_lsn(), replicas only

	// For configured replicas, against the shard primary's last sample;
	// LagKnown is false while either side is not Healthy.
	PrimaryLSN        LSN
	LagKnown          bool
	LagBytes          int64
	LagTime           time.Duration
	LagTimeLowerBound bool // the replay position predates the history: LagTime is a minimum

	LastPoll    time.Time // completion of the last successful poll
	LastAttempt time.Time // start of the last poll, successful or not

	Banned      bool      // by Ban, until a poll succeeds after BannedUntil
	BannedUntil time.Time // end of the current backoff
	Bans        int       // ban level: bans since the node was last stable
	BanErr      error
}

// Monitor polls every node of a topology; see the comment at the top of
// this file.
type Monitor struct {
	opts      Options
	nodes     []*nodeMon
	byID      map[NodeID]*nodeMon
	primaries map[ShardID]*nodeMon
	running   atomic.Bool

	mu sync.RWMutex // guards the mutable fields of every nodeMon
}

type nodeMon struct {
	spec NodeSpec
	dial func(ctx context.Context) (*pgconn.PgConn, error)

	// Guarded by Monitor.mu.
	ok          bool // the last poll succeeded
	lastOK      time.Time
	lastAttempt time.Time
	err         error
	inRecovery  bool
	current     LSN
	receive     LSN
	replay      LSN
	history     *lsnHistory // primaries only
	ban         banState
}

// NewMonitor checks the topology (unique IDs, exactly one primary per shard,
// a Dial or a parsable DSN per node) and returns a Monitor that polls nothing
// until Run.
func NewMonitor(nodes []NodeSpec, opts Options) (*Monitor, error) {
	m := &Monitor{
		opts:      opts.withDefaults(),
		byID:      make(map[NodeID]*nodeMon, len(nodes)),
		primaries: make(map[ShardID]*nodeMon),
	}
	shards := map[ShardID]bool{}
	for _, spec := range nodes {
		if _, dup := m.byID[spec.ID]; dup {
			return nil, fmt.Errorf("monitor: %v listed twice", spec.ID)
		}
		n := &nodeMon{spec: spec, dial: spec.Dial, err: errNotPolled}
		switch spec.Role {
		case RolePrimary:
			if _, dup := m.primaries[spec.ID.Shard]; dup {
				return nil, fmt.Errorf("monitor: shard %d has two primaries", spec.ID.Shard)
			}
			m.primaries[spec.ID.Shard] = n
			n.history = newLSNHistory(m.opts.History)
		case RoleReplica:
			if m.opts.FollowPromotion {
				// It may be promoted: its WAL positions then time the lag
				// of the others.
				n.history = newLSNHistory(m.opts.History)
			}
		default:
			return nil, fmt.Errorf("monitor: %v: role must be primary or replica", spec.ID)
		}
		if n.dial == nil {
			cfg, err := pgconn.ParseConfig(spec.DSN)
			if err != nil {
				// pgconn's parse errors quote the DSN with the password masked.
				return nil, fmt.Errorf("monitor: %v: %w", spec.ID, err)
			}
			if _, set := cfg.RuntimeParams["application_name"]; !set {
				cfg.RuntimeParams["application_name"] = "pgshard-monitor"
			}
			n.dial = func(ctx context.Context) (*pgconn.PgConn, error) { return pgconn.ConnectConfig(ctx, cfg) }
		}
		shards[spec.ID.Shard] = true
		m.byID[spec.ID] = n
		m.nodes = append(m.nodes, n)
	}
	for s := range shards {
		if m.primaries[s] == nil {
			return nil, fmt.Errorf("monitor: shard %d has no primary", s)
		}
	}
	return m, nil
}

// Options returns the options in effect, defaults filled in.
func (m *Monitor) Options() Options { return m.opts }

// Snapshot returns every node's state, in the order given to NewMonitor, as
// of one instant.
func (m *Monitor) Snapshot() []NodeState {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.opts.Now()
	out := make([]NodeState, len(m.nodes))
	for i, n := range m.nodes {
		out[i] = m.stateLocked(n, now)
	}
	return out
}

// State returns one node's state; false for an unknown ID.
func (m *Monitor) State(id NodeID) (NodeState, bool) {
	n := m.byID[id]
	if n == nil {
		return NodeState{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.stateLocked(n, m.opts.Now()), true
}

func (m *Monitor) healthyLocked(n *nodeMon, now time.Time) bool {
	return n.ok && now.Sub(n.lastOK) <= m.opts.StaleAfter
}

func (m *Monitor) stateLocked(n *nodeMon, now time.Time) NodeState {
	s := NodeState{
		ID:          n.spec.ID,
		Configured:  n.spec.Role,
		Healthy:     m.healthyLocked(n, now),
		Err:         n.err,
		LastPoll:    n.lastOK,
		LastAttempt: n.lastAttempt,
		Banned:      n.ban.banned,
		Bans:        n.ban.level,
		BanErr:      n.ban.err,
	}
	s.Unknown = !s.Healthy
	if n.ban.banned {
		s.BannedUntil = n.ban.until
	}
	if !n.lastOK.IsZero() {
		s.InRecovery = n.inRecovery
		s.CurrentLSN, s.ReceiveLSN, s.ReplayLSN = n.current, n.receive, n.replay
		s.Role = RolePrimary
		if n.inRecovery {
			s.Role = RoleReplica
		}
		s.RoleMismatch = s.Role != n.spec.Role
	}
	if n.spec.Role == RoleReplica {
		s.PrimaryLSN, s.LagBytes, s.LagTime, s.LagTimeLowerBound, s.LagKnown = m.lagLocked(n, now)
	}
	return s
}

// lagLocked measures replica n against its shard's primary. Both must be
// Healthy and in their configured roles: lag against a stale or demoted
// primary would be a number without meaning.
func (m *Monitor) lagLocked(n *nodeMon, now time.Time) (primary LSN, lagBytes int64, lagTime time.Duration, lowerBound, ok bool) {
	p := m.primaryLocked(n.spec.ID.Shard, now)
	primary, _ = p.history.latest()
	if !m.healthyLocked(n, now) || !m.healthyLocked(p, now) || !n.inRecovery || p.inRecovery {
		return primary, 0, 0, false, false
	}
	lagTime, lowerBound, ok = p.history.lagTime(now, n.replay)
	if !ok {
		return primary, 0, 0, false, false
	}
	return primary, primary.Sub(n.replay), lagTime, lowerBound, true
}

// ReplicaLag returns how far replica id trails its primary. ok is false for
// an unknown ID, a primary, or while the lag is not known (see NodeState's
// LagKnown). A lag time that is only a lower bound is returned as is.
func (m *Monitor) ReplicaLag(id NodeID) (bytes int64, lag time.Duration, ok bool) {
	n := m.byID[id]
	if n == nil || n.spec.Role != RoleReplica {
		return 0, 0, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, bytes, lag, _, ok = m.lagLocked(n, m.opts.Now())
	return bytes, lag, ok
}

// Eligible reports whether replica id may serve a read now: Healthy (polled
// successfully within StaleAfter), not banned, in recovery (a configured
// replica that is not, was promoted), with its lag known and at most
// maxBytes and maxLag. A limit ≤ 0 is no limit; a lag time that is only a
// lower bound never passes a time limit. Primaries are never Eligible: this
// is the replica read path.
func (m *Monitor) Eligible(id NodeID, maxBytes int64, maxLag time.Duration) bool {
	n := m.byID[id]
	if n == nil || n.spec.Role != RoleReplica {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if n.ban.banned {
		return false
	}
	_, lagBytes, lagTime, lowerBound, ok := m.lagLocked(n, m.opts.Now())
	if !ok {
		return false
	}
	if maxBytes > 0 && lagBytes > maxBytes {
		return false
	}
	if maxLag > 0 && (lowerBound || lagTime > maxLag) {
		return false
	}
	return true
}

// ReplayedPast reports whether node id had replayed WAL up to at least lsn
// as of its last poll, and that poll is recent (Healthy): a read that must
// see a write committed at lsn (read-your-writes) may go there. It does not
// check bans or lag; combine it with Eligible.
func (m *Monitor) ReplayedPast(id NodeID, lsn LSN) bool {
	n := m.byID[id]
	if n == nil {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.healthyLocked(n, m.opts.Now()) && n.inRecovery && n.replay >= lsn
}

// PrimaryLSN returns the last pg_current_wal_lsn() seen on shard's primary,
// 0 if it was never polled. It may be up to one Interval old, or older while
// the primary is Unknown; a caller needing its own write's position should
// read pg_current_wal_lsn() on its own connection after the commit.
func (m *Monitor) PrimaryLSN(shard ShardID) LSN {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p := m.primaryLocked(shard, m.opts.Now())
	if p == nil {
		return 0
	}
	l, _ := p.history.latest()
	return l
}

// Ban takes node id out of the read rotation because a connection to it
// failed (err says how), with exponential backoff: BanBase for the first ban,
// doubling to BanMax. The node rejoins when a poll that started after the
// backoff succeeds. Bans while the backoff runs are absorbed (many pooled
// connections break at once); see banState for the exact rules. It reports
// whether the ban took effect.
func (m *Monitor) Ban(id NodeID, err error) bool {
	n := m.byID[id]
	if n == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return n.ban.ban(m.opts.Now(), m.opts.BanBase, m.opts.BanMax, err)
}

// errNotPolled is a node's error before its first poll has finished.
var errNotPolled = errors.New("not polled yet")
