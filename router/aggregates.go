package router

import (
	"maps"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Which calls are aggregates. A read over several shards that computes an
// aggregate must merge it (or be staged, or refused); one whose aggregate
// goes unnoticed returns one row per shard, or each group's value from
// one shard, which is silently wrong. So an aggregate is recognised by
// every sign the grammar gives (DISTINCT, ORDER BY or FILTER inside the
// call, WITHIN GROUP, SQL/JSON's JSON_ARRAYAGG and JSON_OBJECTAGG), by
// the names of PostgreSQL's own aggregates, and by the names the catalog
// lists: the wire layer reads every aggregate's name from the default
// shard (user-defined ones and extensions' too, PostGIS's st_union say)
// and tells the router (SetAggregates). A function of another schema that
// shares an aggregate's name counts as one, which at worst stages or
// refuses a statement that would have run.

// builtinAggregates are PostgreSQL 17's aggregates (pg_proc, prokind 'a'),
// known without reading a catalog (pgshard route, a shard that cannot be
// read). rank, dense_rank, percent_rank and cume_dist are aggregates only
// with WITHIN GROUP; with OVER they are window functions.
var builtinAggregates = map[string]bool{
	"any_value": true, "array_agg": true, "avg": true, "bit_and": true, "bit_or": true, "bit_xor": true,
	"bool_and": true, "bool_or": true, "corr": true, "count": true, "covar_pop": true, "covar_samp": true,
	"cume_dist": true, "dense_rank": true, "every": true, "json_agg": true, "json_agg_strict": true,
	"json_object_agg": true, "json_object_agg_strict": true, "json_object_agg_unique": true,
	"json_object_agg_unique_strict": true, "jsonb_agg": true, "jsonb_agg_strict": true,
	"jsonb_object_agg": true, "jsonb_object_agg_strict": true, "jsonb_object_agg_unique": true,
	"jsonb_object_agg_unique_strict": true, "max": true, "min": true, "mode": true, "percent_rank": true,
	"percentile_cont": true, "percentile_disc": true, "range_agg": true, "range_intersect_agg": true,
	"rank": true, "regr_avgx": true, "regr_avgy": true, "regr_count": true, "regr_intercept": true,
	"regr_r2": true, "regr_slope": true, "regr_sxx": true, "regr_sxy": true, "regr_syy": true,
	"stddev": true, "stddev_pop": true, "stddev_samp": true, "string_agg": true, "sum": true,
	"var_pop": true, "var_samp": true, "variance": true, "xmlagg": true,
}

// SetAggregates records the lower-case names of the aggregates a shard's
// catalog lists, beyond the built-in ones. Cached plans are dropped, and
// clients' prepared statements planned again, when they change: a plan
// made while an aggregate was taken for a plain function is wrong.
func (r *Router) SetAggregates(names map[string]bool) {
	extra := map[string]bool{}
	for name := range names {
		if !builtinAggregates[name] {
			extra[name] = true
		}
	}
	old := r.schema.aggregates.Load()
	if old == nil && len(extra) == 0 || old != nil && maps.Equal(*old, extra) {
		return
	}
	if len(extra) == 0 {
		r.schema.aggregates.Store(nil)
	} else {
		r.schema.aggregates.Store(&extra)
	}
	r.catalogGen.Add(1)
	r.cache.Purge()
}

// Aggregates returns the names SetAggregates added to the built-in ones.
func (r *Router) Aggregates() map[string]bool {
	if p := r.schema.aggregates.Load(); p != nil {
		return *p
	}
	return nil
}

// isAggregate says whether f, not a window function, is an aggregate.
func (s *Schema) isAggregate(f *pg.FuncCall) bool {
	if f.Over != nil {
		return false
	}
	if f.AggStar || f.AggDistinct || f.AggWithinGroup || f.AggFilter != nil || len(f.AggOrder) > 0 {
		return true // the grammar allows these only in aggregate calls
	}
	name := funcName(f)
	if builtinAggregates[name] {
		return true
	}
	extra := s.aggregates.Load()
	return extra != nil && (*extra)[name]
}

// hasAggregate says whether an expression of list computes an aggregate
// of the query it stands in (not of a subquery's).
func (s *Schema) hasAggregate(list []*pg.Node) bool {
	found := false
	for _, n := range list {
		visit(n, func(c *pg.Node) bool {
			if f := c.GetFuncCall(); f != nil && s.isAggregate(f) || isJSONAggregate(c) {
				found = true
			}
			return !found && c.GetSubLink() == nil
		})
	}
	return found
}

// jsonAggConstructor is the aggregate part of JSON_ARRAYAGG(...) or
// JSON_OBJECTAGG(...), or nil for any other node.
func jsonAggConstructor(n *pg.Node) *pg.JsonAggConstructor {
	switch {
	case n.GetJsonArrayAgg() != nil:
		return n.GetJsonArrayAgg().GetConstructor()
	case n.GetJsonObjectAgg() != nil:
		return n.GetJsonObjectAgg().GetConstructor()
	}
	return nil
}

// isJSONAggregate says whether n is JSON_ARRAYAGG or JSON_OBJECTAGG used
// as an aggregate, not as a window function. pgshard does not merge them:
// a read over several shards computing one is staged or refused.
func isJSONAggregate(n *pg.Node) bool {
	c := jsonAggConstructor(n)
	return c != nil && c.Over == nil
}
