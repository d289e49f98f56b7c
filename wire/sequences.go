package wire

import (
	"context"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/internal/seqrange"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// Columns of sharded tables filled from a sequence. DDL creates a table on
// every shard, and with a serial or identity column each shard's own
// sequence, so ids that one PostgreSQL would give once repeat across
// shards, unless each shard's sequence keeps to a block of its own
// (internal/seqrange, `pgshard sequences`). pgshard finds the columns
// whose sequences still overlap in refreshTextOrder's rounds and says so,
// in the log once per column and in pgshard_sharded_sequence_columns.

// checkSequenceColumns reads on every shard which columns of sharded
// tables come from a sequence and what values each shard's may give, and
// warns of the ones whose shards' sequences overlap, not seen before. Only
// refreshTextOrder's goroutine calls it.
func (srv *Server) checkSequenceColumns(ctx context.Context, db *database) {
	u := srv.resolverUser(db)
	tables := db.router.Schema().ShardedTables()
	if u == nil || len(tables) == 0 || len(db.cfg.Shards) < 2 {
		return
	}
	q := seqrange.ColumnsQuery(seqTables(tables))
	s := &session{srv: srv, db: db, user: u, log: srv.log}
	perColumn := map[string][]seqrange.Column{}
	for i := range db.cfg.Shards {
		rows, err := s.onShard(ctx, shard.ShardID(i), func(sc *serverConn) ([]string, error) { return s.hiddenRows(sc, q) })
		if err != nil {
			srv.log.Debug("could not read the sharded tables' sequence columns; keeping what was known", "database", db.cfg.Name, "shard", db.cfg.Shards[i].Name, "err", err)
			return
		}
		for _, r := range rows {
			c, err := seqrange.Parse(r)
			if err != nil {
				srv.log.Debug("could not read a sequence column", "database", db.cfg.Name, "err", err)
				return
			}
			perColumn[c.Column] = append(perColumn[c.Column], c)
		}
	}
	// A shard key's values come from the default shard's sequence alone
	// when pgshard fills it in (wire/genkeys.go): the others' are unused.
	keys := map[string]bool{}
	for _, t := range tables {
		keys[t.Schema+"."+t.Name+"."+t.Key] = true
	}
	var cols []string
	apart := map[string]bool{}
	for name, per := range perColumn {
		if len(per) == len(db.cfg.Shards) && seqrange.Apart(per) {
			apart[name] = true
		}
		schema, rest, _ := strings.Cut(name, ".")
		if keys[schema+"."+rest] || keys["."+rest] {
			continue
		}
		// A column on fewer shards (DDL sent around pgshard) has no
		// sequences on the others to collide with there; it is counted
		// when its shards' sequences overlap.
		if !seqrange.Apart(per) {
			cols = append(cols, name)
		}
	}
	slices.Sort(cols)
	for _, c := range cols {
		if old := db.seqColumns.Load(); old == nil || !slices.Contains(*old, c) {
			srv.log.Warn("a column of a sharded table is filled from a sequence of each shard: its values repeat across shards",
				"database", db.cfg.Name, "column", c,
				"fix", "run `pgshard sequences --apply` to give each shard's sequence a block of its own, or use the shard key, a uuid or one sequence on the default shard for ids (docs/operations.md, Sequences)")
		}
	}
	db.seqColumns.Store(&cols)
	db.seqApart.Store(&apart)
	db.dbm.SequenceColumns(len(cols))
}

func seqTables(tables []*router.Table) []seqrange.Table {
	out := make([]seqrange.Table, len(tables))
	for i, t := range tables {
		out[i] = seqrange.Table{Schema: t.Schema, Name: t.Name}
	}
	return out
}
