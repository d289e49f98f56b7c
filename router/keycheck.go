package router

import (
	"cmp"
	"slices"

	"github.com/pgshard/pgshard/shard"
)

// Key columns that are not what the configuration says. A shard key is
// hashed by its configured type: if the column on the servers is of
// another type (numeric where bigint is configured, citext or a
// case-insensitive collation where text is), values the server holds equal
// hash apart, and a keyed route misses rows without any error. The wire
// layer reads the key columns from the shards' catalogs and tells the
// router (SetKeyProblems); keyed routes to such a table are refused until
// configuration and column agree. Reads without the key, which run on
// every shard, stay correct and keep working.

// ShardedTables lists the configured sharded tables, in name order.
func (s *Schema) ShardedTables() []*Table {
	var out []*Table
	for _, ts := range s.sharded {
		out = append(out, ts...)
	}
	slices.SortFunc(out, func(a, b *Table) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Schema, b.Schema))
	})
	return out
}

// TextKeys says whether the database is sharded by a text key over
// several shards: then a key's bytes must be UTF-8 to hash alike for every
// client.
func (s *Schema) TextKeys() bool {
	if s.Shards < 2 {
		return false
	}
	for _, ts := range s.sharded {
		for _, t := range ts {
			if t.KeyType == shard.KeyText {
				return true
			}
		}
	}
	return false
}

// SetKeyProblems replaces the tables whose key column does not match the
// configuration, each with what is wrong; nil or empty clears them.
func (r *Router) SetKeyProblems(problems map[*Table]string) {
	if len(problems) == 0 {
		r.keyProblems.Store(nil)
		return
	}
	r.keyProblems.Store(&problems)
}

// KeyProblems returns what SetKeyProblems last set.
func (r *Router) KeyProblems() map[*Table]string {
	if p := r.keyProblems.Load(); p != nil {
		return *p
	}
	return nil
}

// checkRoute refuses rt when the servers' catalogs say it would be
// wrong: a key column of another type (checkKeys), a function working on
// sharded tables called where none is named (checkCalls), a view of
// sharded tables (checkViews).
func (r *Router) checkRoute(rt *Route) *Route { return r.checkViews(r.checkCalls(r.checkKeys(rt))) }

// checkKeys refuses rt when it routes by the key of a table whose key
// column does not match the configuration.
func (r *Router) checkKeys(rt *Route) *Route {
	probs := r.keyProblems.Load()
	if probs == nil || rt.Err != nil || rt.Plan == nil {
		return rt
	}
	p := rt.Plan
	var tables []*Table
	switch {
	case rt.Kind == KindShard && !rt.hinted:
		// Pinned tables, and those co-located with them by key equality.
		tables = p.keyed
		if p.Insert != nil {
			tables = append(tables[:len(tables):len(tables)], p.Insert.Table)
		}
		if p.Arrays != nil {
			tables = append(tables[:len(tables):len(tables)], p.Arrays.Table)
		}
	case rt.Kind == KindCopyIn && p.Copy != nil && !p.Copy.Broadcast:
		tables = append(tables, p.Copy.Table)
	}
	for _, t := range tables {
		if why, bad := (*probs)[t]; bad {
			return refuseRoute(rt, &Error{Code: codeDatatypeMismatch,
				Message: "pgshard: cannot route by shard key " + t.String() + "." + t.Key + ": " + why,
				Hint:    "Make sharding.tables' key_type match the column (or alter the column) and reload; reads without the key still run on every shard."})
		}
	}
	return rt
}
