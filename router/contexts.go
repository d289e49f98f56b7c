package router

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// Contexts say which key pins decide where a statement's rows are.
//
// Relations joined on their keys form a class that one shard holds
// together, and a pin on any of them usually pins the class: in
// "u JOIN orders o ON o.user_id = u.user_id WHERE o.user_id = 5" only
// user 5's rows qualify. That holds where the pinned relation filters the
// statement's rows: an inner join, a WHERE term, EXISTS or IN (subquery)
// as a WHERE term. Elsewhere a pin restricts only the relation's own rows,
// not the rows around it: NOT EXISTS (... o.user_id = u.user_id AND
// o.user_id = 5) keeps every user but 5's, a subquery in the select list
// or an OR adds to rows rather than filtering them, and the nullable side
// of an outer join keeps the preserved side's rows whatever it matches.
//
// So each such place opens a context, a node in a tree whose root (0) is
// the statement's own level; every relation and every pin records the
// context it was found in. A pin applies to a class only if its context
// contains the context of every relation of the class: pins found in a
// NOT EXISTS pin what is inside it, never the query around it.
//
// A CTE's query is a context of its own, since where its rows matter is
// where it is referenced: a reference takes the pins that apply to the
// CTE's rows into the referencing context (cteItem), and the CTE's own
// relations then do not count against the class they join.

// keyPin is one pin: the key equals one of vals. ctx is the context it
// was found in.
type keyPin struct {
	vals []Source
	ctx  int
	rel  int // the relation pinned
}

// addPin pins relation i in the current context.
func (a *analyzer) addPin(i int, vals []Source) {
	a.rels[i].pins = append(a.rels[i].pins, keyPin{vals: vals, ctx: a.ctx, rel: i})
}

// optional runs walk in a new context nested in the current one.
func (a *analyzer) optional(walk func()) { a.nest(false, walk) }

// nest runs walk in a new context nested in the current one, a CTE's
// query's if cte.
func (a *analyzer) nest(cte bool, walk func()) {
	outer := a.ctx
	a.ctx = len(a.ctxUp)
	a.ctxUp = append(a.ctxUp, outer)
	a.ctxCTE = append(a.ctxCTE, cte)
	walk()
	a.ctx = outer
}

// within says whether context inner is outer or nested in it.
func (a *analyzer) within(inner, outer int) bool {
	for {
		if inner == outer {
			return true
		}
		if inner == 0 {
			return false
		}
		inner = a.ctxUp[inner]
	}
}

// cteOf is the innermost CTE query context holding ctx, or -1.
func (a *analyzer) cteOf(ctx int) int {
	for ; ctx != 0; ctx = a.ctxUp[ctx] {
		if a.ctxCTE[ctx] {
			return ctx
		}
	}
	return -1
}

// markFilters records the subqueries among where's AND terms that filter
// the rows of the query whose WHERE it is: EXISTS and IN (subquery).
func (a *analyzer) markFilters(where *pg.Node) {
	for _, t := range andTerms(nil, where) {
		if sl := t.GetSubLink(); sl != nil && (sl.SubLinkType == pg.SubLinkType_EXISTS_SUBLINK || sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK) {
			a.filtering[sl] = true
		}
	}
}

// classPins are the pins that apply to the class of relations members:
// those whose context contains every member's. A relation of a CTE's
// query counts only for pins found in that query: outside it, the CTE's
// references stand for its rows (see above).
func (a *analyzer) classPins(members []int) []keyPin {
	var out []keyPin
	for _, i := range members {
	pins:
		for _, p := range a.rels[i].pins {
			for _, j := range members {
				r := &a.rels[j]
				if c := a.cteOf(r.ctx); (c < 0 || a.within(p.ctx, c)) && !a.within(r.ctx, p.ctx) {
					continue pins
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// class lists the relations in i's class.
func (a *analyzer) class(i int) []int {
	root := a.find(i)
	var out []int
	for j := range a.rels {
		if a.find(j) == root {
			out = append(out, j)
		}
	}
	return out
}
