package wire

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/pgshard/pgshard/router"
)

// aggregatesQuery lists the name of every aggregate the database knows:
// PostgreSQL's own (a newer server's too), extensions' and the database's
// own. The router knows PostgreSQL 17's by name; a read over several
// shards that calls any other must not be taken for a plain function
// call (router/aggregates.go).
const aggregatesQuery = `SELECT DISTINCT lower(proname) FROM pg_catalog.pg_proc WHERE prokind = 'a'`

// checkAggregates reads, on db's default shard, the names of the
// aggregates, and tells the router. Read in refreshTextOrder's rounds,
// from the default shard: aggregates are created on every shard alike, as
// DDL. When the shard cannot be read, what was found before stays.
func (srv *Server) checkAggregates(ctx context.Context, db *database) {
	rows, ok := srv.shardedCatalog(ctx, db, "which functions are aggregates", func([]*router.Table) string { return aggregatesQuery })
	if !ok {
		return
	}
	names := make(map[string]bool, len(rows))
	for _, name := range rows {
		names[name] = true
	}
	before := db.router.Aggregates()
	db.router.SetAggregates(names)
	if now := db.router.Aggregates(); !maps.Equal(before, now) && len(now) > 0 {
		srv.log.Info("aggregates beyond PostgreSQL's own: reads over several shards that call them are staged or refused",
			"database", db.cfg.Name, "aggregates", strings.Join(slices.Sorted(maps.Keys(now)), ", "))
	}
}
