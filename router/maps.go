package router

import "github.com/pgshard/pgshard/shard"

// Map returns the shard map statements are routed with now. A caller that
// routes many rows of one statement (COPY) reads it once, so the whole
// statement sees one version.
func (r *Router) Map() *shard.Map { return r.maps.Load() }
