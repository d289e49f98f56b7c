package router

// Functions whose bodies read or write sharded tables. pgshard routes a
// statement by the tables it names, and does not see inside a function:
// a statement that names no sharded table but calls one that works on them
// (SELECT count_orders(), SELECT archive_user(42)) would run on the
// default shard alone, counting one shard's rows or writing rows where no
// keyed lookup finds them. The wire layer reads, from the default shard's
// catalog, which functions' bodies name a sharded table, and tells the
// router (SetTableFunctions); such a statement is then refused, unless a
// hint routes it or the function is routed by its key (sharding.functions).
// A statement that names sharded tables runs where they are, and a
// function it calls per row, or for its pinned key, is taken to work on
// that row's key.

// SetTableFunctions replaces the functions, by lower-case name, whose
// bodies name a sharded table, each with that table; nil or empty clears
// them.
func (r *Router) SetTableFunctions(fns map[string]string) {
	if len(fns) == 0 {
		r.tableFuncs.Store(nil)
		return
	}
	r.tableFuncs.Store(&fns)
}

// TableFunctions returns what SetTableFunctions last set.
func (r *Router) TableFunctions() map[string]string {
	if f := r.tableFuncs.Load(); f != nil {
		return *f
	}
	return nil
}

// checkCalls refuses rt when it runs on one shard for want of a sharded
// table in the statement, and calls a function whose body names one.
func (r *Router) checkCalls(rt *Route) *Route {
	fns := r.tableFuncs.Load()
	if fns == nil || rt.Err != nil || rt.Plan == nil || len(rt.Plan.calls) == 0 {
		return rt
	}
	if rt.Kind != KindDefault && rt.Kind != KindAny {
		return rt
	}
	for _, name := range rt.Plan.calls {
		if table, ok := (*fns)[name]; ok {
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
				Message: "pgshard: function " + name + " works on sharded table " + table + ", but the statement names no sharded table, so it would run on the default shard only",
				Hint:    "If the function works on the rows of one shard key, list it in sharding.functions with that argument; else name the shard with /* pgshard: shard=N */ (once per shard)."})
		}
	}
	return rt
}

// noteCall records a function a statement calls, for checkCalls.
func (a *analyzer) noteCall(name string) {
	for _, c := range a.calls {
		if c == name {
			return
		}
	}
	a.calls = append(a.calls, name)
}
