package wire

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/shard"
)

// UseMetrics makes the server count statements and two-phase outcomes in
// reg and report its pools and nodes at scrape time. Call it before Serve.
func (srv *Server) UseMetrics(reg *metrics.Registry) {
	srv.metrics = reg
	for name, slot := range srv.dbs {
		slot.Load().dbm = reg.Database(name)
	}
	reg.AddPoolSource(srv)
	reg.AddNodeSource(srv)
	reg.AddClientSource(srv)
}

// SchemaWarnings reports what the catalog checks last found wrong in each
// database's schema (metrics.SchemaSource): key columns of another type
// than configured, sequence columns whose values repeat across shards,
// unique indexes without the shard key.
func (srv *Server) SchemaWarnings() []metrics.SchemaWarning {
	var out []metrics.SchemaWarning
	for name, slot := range srv.dbs {
		db := slot.Load()
		for t, why := range db.router.KeyProblems() {
			out = append(out, metrics.SchemaWarning{Database: name, Kind: "key_type_mismatch", Object: t.String() + "." + t.Key,
				Detail: why + "; statements routed by this key are refused until key_type and the column agree"})
		}
		if cols := db.seqColumns.Load(); cols != nil {
			for _, c := range *cols {
				out = append(out, metrics.SchemaWarning{Database: name, Kind: "sequence_column", Object: c,
					Detail: "filled from each shard's own sequence, so its values repeat across shards; run pgshard sequences --apply"})
			}
		}
		if idx := db.uniques.Load(); idx != nil {
			for _, u := range *idx {
				out = append(out, metrics.SchemaWarning{Database: name, Kind: "unique_without_key", Object: u,
					Detail: "a unique index without the shard key: each shard enforces it over its own rows only, so its values can repeat across shards"})
			}
		}
	}
	slices.SortFunc(out, func(a, b metrics.SchemaWarning) int {
		return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Object, b.Object))
	})
	return out
}

// Pools reports every pool's connections and waits (metrics.PoolSource),
// ordered by database, user, shard and node.
func (srv *Server) Pools() []metrics.PoolStat {
	ps := srv.poolList()
	out := make([]metrics.PoolStat, 0, len(ps))
	now := time.Now()
	for _, p := range ps {
		p.mu.Lock()
		out = append(out, metrics.PoolStat{Database: p.key.db, User: p.key.user, Shard: p.shard, Node: p.node.Name,
			Open: p.total, Idle: len(p.idle), InUse: p.total - len(p.idle), Waiting: len(p.waiters),
			LongestWait: p.longestWaitLocked(now).Seconds(), Waited: p.stats.waited.Seconds(),
			Waits: uint64(p.stats.waits), WaitTimeouts: uint64(p.stats.timeouts),
			Connects: uint64(p.stats.connects - p.stats.connectErrors), ConnectErrors: uint64(p.stats.connectErrors),
			ReserveOpens: uint64(p.stats.reserveOpens), BudgetWaits: uint64(p.stats.budgetWaits)})
		p.mu.Unlock()
	}
	// In a stable order for /status, pgshard status and SHOW POOLS.
	slices.SortFunc(out, func(a, b metrics.PoolStat) int {
		return cmp.Or(cmp.Compare(a.Database, b.Database), cmp.Compare(a.User, b.User), cmp.Compare(a.Shard, b.Shard), cmp.Compare(a.Node, b.Node))
	})
	return out
}

// Nodes reports every node as the lag monitor last saw it
// (metrics.NodeSource). Healthy means the node may take traffic in its
// role now.
func (srv *Server) Nodes() []metrics.NodeStat {
	var out []metrics.NodeStat
	for name, slot := range srv.dbs {
		db := slot.Load()
		if db.topo == nil {
			continue
		}
		r := &srv.conf().Reads
		follow := srv.conf().Monitor.FollowPromotion
		for _, st := range db.topo.mon.Snapshot() {
			sh := &db.cfg.Shards[st.ID.Shard]
			role, addr := "replica", ""
			if st.Configured == shard.RolePrimary {
				role = "primary"
				addr = nodeAddr(&sh.Primary)
			} else {
				for k := range sh.Replicas {
					if sh.Replicas[k].Name == st.ID.Name {
						addr = nodeAddr(&sh.Replicas[k])
					}
				}
			}
			healthy := st.Healthy && !st.RoleMismatch && !st.Banned
			promoted := false
			if role == "replica" {
				healthy = db.topo.mon.Eligible(st.ID, r.MaxLagBytes, r.MaxLag)
				if follow {
					w, err := db.topo.mon.WriteNode(st.ID.Shard)
					promoted = err == nil && w == st.ID
					healthy = healthy || promoted && !st.Banned
				}
			}
			n := metrics.NodeStat{Database: name, Shard: sh.Name, Node: st.ID.Name, Role: role, Address: addr,
				Up: st.Healthy, Healthy: healthy, RoleMismatch: st.RoleMismatch, Promoted: promoted,
				LagKnown: st.LagKnown, LagBytes: st.LagBytes, Lag: st.LagTime,
				Banned: st.Banned, BannedUntil: st.BannedUntil}
			if st.Err != nil {
				n.Err = st.Err.Error()
			}
			out = append(out, n)
		}
	}
	return out
}

func nodeAddr(n *config.Node) string { return net.JoinHostPort(n.Host, strconv.Itoa(n.Port)) }
