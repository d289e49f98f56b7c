package wire

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/pgshard/pgshard/internal/admin"
	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

// clientAbout is what the admin listener reports of a session besides its
// user, key and server connections: fixed at login, or published by the
// session goroutine through atomics.
type clientAbout struct {
	since    time.Time
	database string
	appName  string // as sent at login
	tls      bool
	// shown is the transaction status last published (session goroutine
	// only); txStatus and txSince are what the admin listener reads.
	shown    byte
	txStatus atomic.Uint32
	txSince  atomic.Int64 // unix nanos the open transaction block began; 0 outside one
	// batch: a pipelined batch is open (its implicit transaction holds a
	// server connection); shownBatch is what was last published.
	batch      atomic.Bool
	shownBatch bool
	// held: a pause holds the session's next transaction back.
	held atomic.Bool
	// mode is the pool mode at login; pinned: session state made it
	// session pooling since (pin.go).
	mode   config.PoolMode
	pinned atomic.Bool
	// listening is how many channels the hub listens on for the session
	// (listen.go).
	listening atomic.Int32
}

// publish makes the session's transaction status visible, when it has
// changed since last published: once per transaction at most, so the hot
// path pays a comparison.
func (a *clientAbout) publish(status byte, batch bool) {
	if batch != a.shownBatch {
		a.shownBatch = batch
		a.batch.Store(batch)
	}
	if status == a.shown {
		return
	}
	if a.shown == 'I' || a.shown == 0 {
		a.txSince.Store(time.Now().UnixNano())
	}
	if status == 'I' {
		a.txSince.Store(0)
	}
	a.shown = status
	a.txStatus.Store(uint32(status))
}

// Clients lists the open client sessions for the admin listener's
// /clients, oldest first, each with the server connections it holds now.
func (srv *Server) Clients() []admin.ClientStatus {
	var out []admin.ClientStatus
	srv.eachSession(func(s *session) {
		c := admin.ClientStatus{
			PID:             s.key.pid,
			User:            s.user.Name,
			Database:        s.about.database,
			Address:         clientAddress(s.conn),
			ApplicationName: s.about.appName,
			TLS:             s.about.tls,
			PoolMode:        string(s.about.poolMode()),
			Pinned:          s.about.pinned.Load(),
			Listening:       int(s.about.listening.Load()),
			State:           s.stateName(),
			ConnectedAt:     s.about.since,
			Servers:         []admin.ClientServer{},
		}
		if ns := s.about.txSince.Load(); ns != 0 {
			t := time.Unix(0, ns)
			c.TransactionSince = &t
		}
		for _, sc := range s.heldServers() {
			c.Servers = append(c.Servers, admin.ClientServer{Shard: sc.pool.shard, Node: sc.pool.node.Name, Address: sc.pool.addr, BackendPID: sc.pid})
		}
		slices.SortFunc(c.Servers, func(a, b admin.ClientServer) int {
			return cmp.Or(cmp.Compare(a.Shard, b.Shard), cmp.Compare(a.Node, b.Node), cmp.Compare(a.BackendPID, b.BackendPID))
		})
		out = append(out, c)
	})
	slices.SortFunc(out, func(a, b admin.ClientStatus) int {
		return cmp.Or(a.ConnectedAt.Compare(b.ConnectedAt), cmp.Compare(a.PID, b.PID))
	})
	return out
}

// stateName is the session's state in pg_stat_activity's words.
func (s *session) stateName() string {
	if s.about.held.Load() {
		return "paused"
	}
	if s.working.Load() || s.about.batch.Load() {
		return "active"
	}
	switch s.about.txStatus.Load() {
	case 'T':
		return "idle in transaction"
	case 'E':
		return "idle in transaction (aborted)"
	}
	return "idle"
}

// ClientCounts counts the sessions of each database by state, for the
// pgshard_clients gauge (metrics.ClientSource): every state of every
// database, from 0.
func (srv *Server) ClientCounts() []metrics.ClientStat {
	counts := map[[2]string]int{}
	srv.eachSession(func(s *session) {
		counts[[2]string{s.about.database, s.stateName()}]++
	})
	names := make([]string, 0, len(srv.dbs))
	for name := range srv.dbs {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]metrics.ClientStat, 0, len(names)*len(metrics.ClientStates))
	for _, name := range names {
		for _, state := range metrics.ClientStates {
			out = append(out, metrics.ClientStat{Database: name, State: state, Sessions: counts[[2]string{name, state}]})
		}
	}
	return out
}

// heldServers are the server connections s holds now: its current one,
// those parked between statements of a transaction over several shards,
// and those of a statement running over several.
func (s *session) heldServers() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*serverConn
	add := func(sc *serverConn) {
		if sc != nil && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	add(s.sc)
	for _, sc := range s.parked {
		add(sc)
	}
	for _, m := range s.multi {
		add(m.sc)
	}
	return out
}

// Servers lists the pools' server connections for the admin listener's
// /servers and the console's SHOW SERVERS: those client sessions hold,
// with the client's process ID, and those idle in the pools. Connections
// being opened, and pgshard's own (the lag monitor's, LISTEN's), are not
// listed.
func (srv *Server) Servers() []admin.ServerStatus {
	var out []admin.ServerStatus
	status := func(sc *serverConn) admin.ServerStatus {
		st := admin.ServerStatus{Database: sc.pool.key.db, User: sc.pool.key.user, Shard: sc.pool.shard, Node: sc.pool.node.Name,
			Address: sc.pool.addr, BackendPID: sc.pid, OpenedAt: sc.created}
		if sc.prepared != nil {
			st.PreparedStatements = sc.prepared.Len()
		}
		return st
	}
	srv.eachSession(func(s *session) {
		for _, sc := range s.heldServers() {
			st := status(sc)
			st.State, st.ClientPID = admin.ServerInUse, s.key.pid
			out = append(out, st)
		}
	})
	for _, p := range srv.poolList() {
		p.mu.Lock()
		for _, sc := range p.idle {
			st := status(sc)
			idle := sc.idleAt
			st.State, st.IdleSince = admin.ServerIdle, &idle
			out = append(out, st)
		}
		p.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b admin.ServerStatus) int {
		return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.User, b.User), cmp.Compare(a.Shard, b.Shard),
			cmp.Compare(a.Node, b.Node), cmp.Compare(a.BackendPID, b.BackendPID))
	})
	return out
}
