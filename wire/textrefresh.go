package wire

import (
	"context"
	"sync"
	"time"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// Keeping the shards' collated columns (textorder.go) current: DDL adds,
// changes and drops them while pgshard runs, through this process or not.

// textOrderRefresh is how often refreshTextOrder reads the collated
// columns again without being told of DDL: DDL that bypassed this process
// (another pgshard, a migration run on the shards) is seen within it.
const textOrderRefresh = time.Minute

// refreshTextOrder reads each shard's collated columns again every
// textOrderRefresh and after a session of this process ran DDL, until ctx
// ends. Reading them on every merge would cost a round trip per query.
// Each round, the first at start too, also checks the shard key columns
// (checkKeyColumns), which functions work on sharded tables
// (checkTableFunctions), which views read them (checkTableViews), which
// functions are aggregates (checkAggregates), which of their columns
// come from a sequence (checkSequenceColumns) and which unique indexes
// leave out the shard key (checkUniqueIndexes).
func (srv *Server) refreshTextOrder(ctx context.Context) {
	t := time.NewTicker(textOrderRefresh)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-srv.ddl.kick:
			}
		}
		srv.ddl.mu.Lock()
		waiting := srv.ddl.waiting
		srv.ddl.waiting = nil
		srv.ddl.mu.Unlock()
		for _, db := range srv.databases() {
			if !first || len(waiting) > 0 {
				// The first connections read them, unless a session already
				// waits on this round for what its DDL changed.
				srv.readCollatedColumns(ctx, db)
			}
			srv.checkKeyColumns(ctx, db)
			srv.checkTableFunctions(ctx, db)
			srv.checkTableViews(ctx, db)
			srv.checkAggregates(ctx, db)
			srv.checkSequenceColumns(ctx, db)
			srv.checkUniqueIndexes(ctx, db)
		}
		for _, done := range waiting {
			close(done)
		}
	}
}

// ddlRounds are the requests for a round of refreshTextOrder.
type ddlRounds struct {
	kick    chan struct{} // buffered: one pending round covers them all
	mu      sync.Mutex
	waiting []chan struct{}
}

// schemaChanged asks refreshTextOrder for a round; the channel it returns
// is closed when a round that started after the call is over.
func (srv *Server) schemaChanged() <-chan struct{} {
	done := make(chan struct{})
	srv.ddl.mu.Lock()
	srv.ddl.waiting = append(srv.ddl.waiting, done)
	srv.ddl.mu.Unlock()
	select {
	case srv.ddl.kick <- struct{}{}:
	default: // a round is already due
	}
	return done
}

// afterDDL runs when a session that sent DDL is out of any transaction:
// its changes are committed, and the session's next statement waits
// (up to ddlRefreshWait) for the shards' collated columns to be read
// again, so a merge right after CREATE TABLE knows the new columns.
func (s *session) afterDDL(ctx context.Context) {
	s.ranDDL = false
	t := time.NewTimer(ddlRefreshWait)
	defer t.Stop()
	select {
	case <-s.srv.schemaChanged():
	case <-t.C:
	case <-ctx.Done():
	}
}

// ddlRefreshWait bounds afterDDL: a shard that does not answer delays a
// session no longer than this.
const ddlRefreshWait = 2 * time.Second

// noteDDL records that the session sent a statement planned as p, and
// drops the keys taken ahead when it may restart a sequence (keycache.go).
func (s *session) noteDDL(p *router.Plan, text string) {
	if p != nil && p.DDL {
		s.ranDDL = true
		// A statement checked before may name what it dropped.
		s.db.parsed.keys.Purge()
	}
	if s.db.keys.held.Load() && dropsKeys(p, text) {
		s.db.keys.drop()
	}
}

// readCollatedColumns reads db's collated columns on each shard's primary,
// and the default collation's order where the first connection could not
// learn it. A shard that fails keeps what was known, and the next round
// tries again.
func (srv *Server) readCollatedColumns(ctx context.Context, db *database) {
	u := srv.resolverUser(db)
	if u == nil || len(db.cfg.Shards) < 2 {
		return // nothing to read with, or nothing is ever merged
	}
	s := &session{srv: srv, db: db, user: u, log: srv.log}
	for i := range db.cfg.Shards {
		to := &db.textOrder[i]
		rows, err := s.onShard(ctx, shard.ShardID(i), func(sc *serverConn) ([]string, error) {
			if to.def.Load() == textOrderUnknown {
				if def, err := s.hiddenRows(sc, textOrderProbe); err == nil && len(def) == 1 {
					to.def.CompareAndSwap(textOrderUnknown, defaultOrder(def[0]))
				}
			}
			return s.hiddenRows(sc, collatedColumnsQuery)
		})
		var cols *collatedColumns
		if err == nil {
			cols, err = parseCollatedColumns(rows)
		}
		if err != nil {
			if ctx.Err() == nil {
				// Debug: a shard that is down says so elsewhere, every round.
				srv.log.Debug("could not read which columns have collations of their own; keeping what was known",
					"database", db.cfg.Name, "shard", db.cfg.Shards[i].Name, "err", err)
			}
			continue
		}
		to.cols.Store(cols)
	}
}
