package wire

import (
	"context"
	"reflect"
	"slices"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// A reload may move a database's nodes: a shard's primary now at another
// address (after a failover), replicas added or removed, new server
// credentials. The shards themselves and how rows are placed on them stay.
// Such a reload makes a new generation of the database: its configuration,
// fresh pools, and a lag monitor of the new nodes; router, metrics and
// what is known of the shards' collations carry over. The old generation
// is marked replaced and its pools retired: idle connections close at
// once, busy ones when released, and checkouts are refused. A session
// moves to the new generation when it holds nothing on a server
// (transaction pooling: between transactions; session pooling: once its
// server connections are gone), at its next message or when its wait for a
// retired pool ends, so no transaction spans two generations.

// database returns the generation of the named database in force, or nil.
func (srv *Server) database(name string) *database {
	if slot := srv.dbs[name]; slot != nil {
		return slot.Load()
	}
	return nil
}

// databases returns the generations in force, in no particular order.
func (srv *Server) databases() []*database {
	out := make([]*database, 0, len(srv.dbs))
	for _, slot := range srv.dbs {
		out = append(out, slot.Load())
	}
	return out
}

// runMonitors starts the lag monitors of the databases in force under ctx,
// and makes monitors of later generations run under it too.
func (srv *Server) runMonitors(ctx context.Context) {
	srv.monMu.Lock()
	defer srv.monMu.Unlock()
	srv.monCtx = ctx
	for _, db := range srv.databases() {
		srv.startMonitorLocked(db)
	}
}

// startMonitorLocked runs db's lag monitor until the server stops or a
// newer generation replaces it. Before Serve there is nothing to run under:
// Serve starts it. The caller holds srv.monMu.
func (srv *Server) startMonitorLocked(db *database) {
	if db.topo == nil || srv.monCtx == nil {
		return
	}
	ctx, stop := context.WithCancel(srv.monCtx)
	db.topo.stop = stop
	srv.monitors.Go(func() { db.topo.mon.Run(ctx) })
}

// nodesMoved names the databases whose nodes or server credentials differ
// between old and cfg: those a reload gives a new generation. A user's
// new server credentials count for every database, since pools log in
// with them; an added or removed user needs no new pools.
func nodesMoved(old, cfg *config.Config) []string {
	usersMoved := false
	for i := range old.Users {
		was := &old.Users[i]
		if now := cfg.User(was.Name); now != nil && (now.ServerUser != was.ServerUser || now.ServerPassword != was.ServerPassword) {
			usersMoved = true
		}
	}
	var out []string
	for i := range cfg.Databases {
		now := &cfg.Databases[i]
		was := old.Database(now.Name)
		if was == nil {
			continue // a new database needs a restart; fixedChanges says so
		}
		if usersMoved || !reflect.DeepEqual(nodesOf(was), nodesOf(now)) {
			out = append(out, now.Name)
		}
	}
	slices.Sort(out)
	return out
}

// databaseNodes is what a reload may change in a database: where its
// shards' nodes are and how pgshard logs in to them.
type databaseNodes struct {
	serverUser     string
	serverPassword config.Secret
	primaries      []config.Node
	replicas       [][]config.Node
}

func nodesOf(d *config.Database) databaseNodes {
	n := databaseNodes{serverUser: d.ServerUser, serverPassword: d.ServerPassword}
	for i := range d.Shards {
		n.primaries = append(n.primaries, d.Shards[i].Primary)
		n.replicas = append(n.replicas, d.Shards[i].Replicas)
	}
	return n
}

// shardNames lists d's shards, which a reload may not change.
func shardNames(d *config.Database) []string {
	out := make([]string, len(d.Shards))
	for i := range d.Shards {
		out[i] = d.Shards[i].Name
	}
	return out
}

// nextGeneration builds the generation of old's database that d (from
// cfg) describes. Nothing runs or changes until swapIn.
func (srv *Server) nextGeneration(old *database, d *config.Database, cfg *config.Config) (*database, error) {
	db := &database{cfg: d, router: old.router, dbm: old.dbm, textOrder: old.textOrder, parsed: old.parsed}
	if u := resolverUserIn(cfg, d); u != nil {
		var err error
		if db.topo, err = newTopology(d, u, cfg.Monitor); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// swapIn puts db in force in place of the generation it follows, retires
// the old generation's pools and moves the lag monitoring to db's nodes,
// keeping what was observed of those that did not move.
func (srv *Server) swapIn(db *database) {
	slot := srv.dbs[db.cfg.Name]
	srv.poolsMu.Lock()
	old := slot.Load()
	// Marked under poolsMu: no pool of the old generation can be made
	// after the sweep below.
	old.replaced.Store(true)
	slot.Store(db)
	var retired []*pool
	for k, p := range srv.pools {
		if p.owner == old {
			delete(srv.pools, k)
			retired = append(retired, p)
		}
	}
	// The new pools count their connections afresh: those the old ones
	// still hold are mostly on nodes that moved away.
	for k := range srv.budgets {
		if k.db == db.cfg.Name {
			delete(srv.budgets, k)
		}
	}
	srv.poolsMu.Unlock()
	for _, p := range retired {
		p.retire()
	}
	// Listeners hear the old nodes: they LISTEN again on the new ones.
	old.failHub(reloadMovedListeners(old.cfg.Name))
	srv.monMu.Lock()
	if old.topo != nil && db.topo != nil {
		// Nodes that did not move keep their lag: their replicas go on
		// taking reads without waiting for the new monitor's first polls.
		db.topo.mon.Inherit(old.topo.mon)
	}
	srv.startMonitorLocked(db)
	if old.topo != nil && old.topo.stop != nil {
		old.topo.stop()
	}
	srv.monMu.Unlock()
}

// holdsNoServer says whether the session holds nothing on a server: no
// connection, transaction or cursor there. A BEGIN pgshard answered
// itself, an extended batch that has not reached a server, or a portal
// pgshard keeps itself for a statement over several shards (its route
// names shards, which a reload keeps, and its rows, once run, are
// pgshard's) counts as nothing. Only then may the session move to a newer
// generation.
func (s *session) holdsNoServer() bool {
	return s.sc == nil && len(s.parked) == 0 && len(s.txShards) == 0 && len(s.vcursors) == 0
}

// followReload moves the session to the generation of its database in
// force, if a reload made a new one and the session holds nothing on a
// server; it reports whether it moved.
func (s *session) followReload() bool {
	if s.dbSlot == nil {
		return false
	}
	if db := s.dbSlot.Load(); db != s.db && s.holdsNoServer() {
		s.db = db
		return true
	}
	return false
}

// poolAfterReload is, when p was retired by a reload and the session can
// move to the new generation, the pool that takes p's place: the primary
// of the same shard (a read meant for a replica is served by the primary
// rather than guess which replica matches). Otherwise nil.
func (s *session) poolAfterReload(p *pool) *pool {
	if !p.isRetired() || !s.followReload() {
		return nil
	}
	for i := range s.db.cfg.Shards {
		if s.db.cfg.Shards[i].Name == p.shard {
			np, err := s.shardPool(shard.ShardID(i))
			if err != nil {
				return nil
			}
			return np
		}
	}
	return nil
}
