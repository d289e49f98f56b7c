package router

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// rel is one relation named in a statement.
type rel struct {
	role  role
	table *Table // for roleSharded
	name  string
	alias string
	// key is the shard key's column name as this relation shows it: the
	// table's key, or for a derived table (derived) the output column
	// that carries its inner table's key.
	key     string
	derived bool
	pins    []keyPin // each pin: the key equals one of its values
	up      int      // union-find parent: co-located relations share a root
	ctx     int      // the context the relation was found in (contexts.go)
}

// scope is one query level's FROM list, for resolving column references.
type scope struct {
	rels   []int
	parent *scope
}

// analyzer walks one statement's tree, recording relations, key pins and
// equalities between keys, and the constructs routing must know about.
type analyzer struct {
	schema *Schema
	lits   []sqltext.Literal
	rels   []rel
	ctes   map[string]bool
	walked map[*pg.SubLink]bool // sublinks conjuncts already walked
	// filtering are the sublinks that filter their query's rows, ctx the
	// current context, ctxUp each context's parent, ctxCTE whether it is a
	// CTE's query (contexts.go).
	filtering map[*pg.SubLink]bool
	ctx       int
	ctxUp     []int
	ctxCTE    []bool
	setop     bool // the statement is a UNION of queries
	version   int32
	exact     bool // a constant was used that the literal list does not hold
	writes    bool // a data-modifying statement anywhere (CTEs included), or a function that may write
	// nestedDML is the target of the first INSERT/UPDATE/DELETE nested in
	// a query (a data-modifying WITH); refWrite the first such target that
	// is a reference table.
	nestedDML, refWrite string
	writer              string // the first function not known to be read-only
	advisory            string // the first advisory lock function called
	locks               bool   // FOR UPDATE/SHARE
	window              string // first window function seen, for the refusal
	nested              string // a construct in a nested query that scatter cannot merge
	// nestedSpread is such a construct in a subquery whose own rows are
	// not pinned to one key: it reads rows of other shards than its
	// statement's even when the statement is pinned to one shard through
	// it (user_id = 5 AND user_id IN (SELECT user_id ... LIMIT 2)).
	nestedSpread string
	top          *scope // the scope of a SELECT statement's own FROM list
	// keyOut records, per simple SELECT, the select-list positions that
	// are the shard key of a table it reads, and that key's type.
	keyOut map[*pg.SelectStmt]keyOutputs
	depth  int
	// cteQueries holds each CTE's query, for rowsFromShards.
	cteQueries map[string]*pg.Node
	// cteKeys: the CTEs whose output has a shard key column (cteKey).
	cteKeys map[string]cteKey
	// foreignRows names why a SELECT's rows do not come from its shards
	// alone (see rowsFromShards), or is "".
	foreignRows string
	// unrouted refuses a call of a routed function that cannot be routed
	// by its key argument (routedCall).
	unrouted, unroutedHint string
	// calls are the functions called, by lower-case name, aggregates and
	// built-in read-only ones aside (bodies.go).
	calls []string
	// views are the views to plan through (views.go), expanded those it
	// did, viewDepth how deep in views it is.
	views     map[string]*pg.Node
	expanded  []string
	viewDepth int
	// zeroOffsets plans subqueries' OFFSET parameters as 0, recording
	// them in offsetParams; offsetParam: without it, one made a subquery
	// unmergeable (zerooffset.go).
	zeroOffsets  bool
	offsetParams []int
	offsetParam  bool
}

func (a *analyzer) addRel(rv *pg.RangeVar) int {
	name := strings.ToLower(rv.Relname)
	schema := strings.ToLower(rv.Schemaname)
	if schema == "" && a.ctes[name] {
		return -1
	}
	r := rel{name: name, up: len(a.rels)}
	r.role, r.table = a.schema.lookup(schema, name)
	if r.table != nil {
		r.key = r.table.Key
	}
	if rv.Alias != nil {
		r.alias = strings.ToLower(rv.Alias.Aliasname)
	}
	return a.newRel(r)
}

// newRel adds r, found in the current context, and returns its index.
func (a *analyzer) newRel(r rel) int {
	r.up, r.ctx = len(a.rels), a.ctx
	a.rels = append(a.rels, r)
	return len(a.rels) - 1
}

func (a *analyzer) find(i int) int {
	for a.rels[i].up != i {
		a.rels[i].up = a.rels[a.rels[i].up].up
		i = a.rels[i].up
	}
	return i
}

func (a *analyzer) union(i, j int) {
	ri, rj := a.find(i), a.find(j)
	if ri != rj && a.rels[ri].table.KeyType == a.rels[rj].table.KeyType {
		a.rels[rj].up = ri
	}
}

// column resolves a column reference to a relation in scope and says
// whether the column is that relation's shard key.
func (a *analyzer) column(cr *pg.ColumnRef, sc *scope) (int, bool) {
	var qual, col string
	switch f := cr.Fields; len(f) {
	case 1:
		col = f[0].GetString_().GetSval()
	case 2:
		qual, col = f[0].GetString_().GetSval(), f[1].GetString_().GetSval()
	case 3:
		qual, col = f[1].GetString_().GetSval(), f[2].GetString_().GetSval()
	default:
		return -1, false
	}
	if col == "" {
		return -1, false // a star
	}
	col = strings.ToLower(col)
	qual = strings.ToLower(qual)
	for s := sc; s != nil; s = s.parent {
		found := -1
		for _, i := range s.rels {
			r := &a.rels[i]
			if qual != "" {
				if r.alias == qual || r.alias == "" && r.name == qual {
					found = i
				}
				continue
			}
			if r.role == roleSharded && r.key == col {
				if found >= 0 && a.find(found) != a.find(i) {
					return -1, false // ambiguous: the server will say so
				}
				if found < 0 {
					found = i
				}
			}
		}
		if found >= 0 {
			r := &a.rels[found]
			return found, r.role == roleSharded && r.key == col
		}
	}
	return -1, false
}

// keyColumn resolves n to a relation whose shard key it is, possibly
// cast to a type that keeps keys apart (text, numeric): what co-location
// and key outputs need.
func (a *analyzer) keyColumn(n *pg.Node, sc *scope) (int, bool) {
	i, d, ok := a.keyColumnIn(n, sc)
	return i, ok && d <= domNumeric
}

// keyColumnIn resolves n to a relation whose shard key it is, through
// casts, and the domain those casts put it in.
func (a *analyzer) keyColumnIn(n *pg.Node, sc *scope) (int, domain, bool) {
	var casts []*pg.TypeName
	for n.GetTypeCast() != nil {
		casts = append(casts, n.GetTypeCast().TypeName)
		n = n.GetTypeCast().Arg
	}
	if cr := n.GetColumnRef(); cr != nil {
		if i, key := a.column(cr, sc); key {
			return i, columnDomain(casts, a.rels[i].table.KeyType), true
		}
	}
	return -1, domOpaque, false
}

// fromList adds a FROM clause's relations to sc and applies JOIN ... ON.
func (a *analyzer) fromList(items []*pg.Node, sc *scope) {
	for _, it := range items {
		a.fromItem(it, sc)
	}
}

func (a *analyzer) fromItem(n *pg.Node, sc *scope) {
	switch {
	case n.GetRangeVar() != nil:
		if def := a.view(n.GetRangeVar()); def != nil {
			a.viewItem(n.GetRangeVar(), def, sc)
		} else if i := a.addRel(n.GetRangeVar()); i >= 0 {
			sc.rels = append(sc.rels, i)
		} else {
			a.cteItem(n.GetRangeVar(), sc)
		}
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		// An outer join's nullable side does not filter the other's rows.
		side := func(n *pg.Node, nullable bool) {
			if nullable {
				a.optional(func() { a.fromItem(n, sc) })
			} else {
				a.fromItem(n, sc)
			}
		}
		side(j.Larg, j.Jointype == pg.JoinType_JOIN_RIGHT || j.Jointype == pg.JoinType_JOIN_FULL)
		side(j.Rarg, j.Jointype == pg.JoinType_JOIN_LEFT || j.Jointype == pg.JoinType_JOIN_FULL)
		if j.Jointype == pg.JoinType_JOIN_INNER {
			a.conjuncts(j.Quals, sc)
		} else {
			a.keyEqualities(j.Quals, sc)
		}
		a.expr(j.Quals, sc)
		if len(j.UsingClause) > 0 {
			a.using(j, sc)
		}
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		inner := &scope{parent: sc}
		a.query(rs.Subquery, inner)
		a.derivedKey(rs, inner, sc)
	case n.GetRangeFunction() != nil:
		for _, f := range n.GetRangeFunction().Functions {
			a.expr(f, sc)
		}
	case n.GetRangeTableSample() != nil:
		// SYSTEM and BERNOULLI sample a share of the rows, so each shard's
		// sample together is one of the table; a method that takes a
		// number of rows (tsm_system_rows) would take it from each shard.
		ts := n.GetRangeTableSample()
		before := len(sc.rels)
		a.fromItem(ts.Relation, sc)
		for _, arg := range ts.Args {
			a.expr(arg, sc)
		}
		a.expr(ts.Repeatable, sc)
		method := ""
		if len(ts.Method) > 0 {
			method = strings.ToLower(ts.Method[len(ts.Method)-1].GetString_().GetSval())
		}
		if method != "system" && method != "bernoulli" && len(sc.rels) > before && a.rels[sc.rels[before]].role == roleSharded && a.nested == "" {
			a.nested = "TABLESAMPLE " + method + " (it would take its rows from each shard)"
		}
	default:
		// XMLTABLE, JSON_TABLE: their expressions may hold subqueries.
		a.expr(n, sc)
	}
}

// derivedKey makes a derived table (a subquery in FROM) a relation of sc
// when one of its output columns is the shard key of a table it reads:
// joining it on that column (x.user_id = u.user_id) then co-locates it
// like a table, each of its rows on the shard of that key.
func (a *analyzer) derivedKey(rs *pg.RangeSubselect, inner, sc *scope) {
	sel := rs.Subquery.GetSelectStmt()
	if sel == nil || sel.Op != pg.SetOperation_SETOP_NONE || rs.Alias == nil {
		return
	}
	if i, name, ok := a.outputKey(sel.TargetList, rs.Alias.Colnames, inner); ok {
		alias := strings.ToLower(rs.Alias.Aliasname)
		a.keyedRel(i, alias, alias, name, sc)
	}
}

// outputKey finds, among a query's outputs (a select or RETURNING list
// analyzed in inner, its columns renamed by colnames if any), the first
// that is the shard key of a relation of inner: that relation and the
// column's output name.
func (a *analyzer) outputKey(outputs, colnames []*pg.Node, inner *scope) (int, string, bool) {
	for pos, t := range outputs {
		rt := t.GetResTarget()
		i, ok := a.keyColumn(rt.GetVal(), inner)
		name, star := outputName(rt)
		if star && len(colnames) == 0 {
			// SELECT * (or t.*, RETURNING *) of a sharded table carries
			// its key column under the key's own name.
			if i = a.starKey(rt.GetVal().GetColumnRef(), inner); i >= 0 {
				ok, name = true, a.rels[i].key
			}
		}
		if !ok || !slices.Contains(inner.rels, i) {
			continue
		}
		if pos < len(colnames) {
			name = strings.ToLower(colnames[pos].GetString_().GetSval())
		}
		return i, name, true
	}
	return -1, "", false
}

// starKey is the sharded relation of sc whose columns * (or rel.*) lists,
// when it is the only one it can list (-1 otherwise).
func (a *analyzer) starKey(cr *pg.ColumnRef, sc *scope) int {
	if cr == nil {
		return -1
	}
	if len(cr.Fields) == 1 {
		if len(sc.rels) == 1 && a.rels[sc.rels[0]].role == roleSharded {
			return sc.rels[0]
		}
		return -1
	}
	q := strings.ToLower(cr.Fields[len(cr.Fields)-2].GetString_().GetSval())
	for _, i := range sc.rels {
		r := a.rels[i]
		if r.role == roleSharded && (r.alias == q || r.alias == "" && r.name == q) {
			return i
		}
	}
	return -1
}

// keyEqualities applies only key = key equalities: in an outer join's ON
// clause a constant does not filter the preserved side, but co-location
// still holds.
func (a *analyzer) keyEqualities(n *pg.Node, sc *scope) {
	for _, t := range andTerms(nil, n) {
		a.keyEquality(t, sc)
	}
}

// using treats JOIN ... USING (key) as key equality of the joined tables.
func (a *analyzer) using(j *pg.JoinExpr, sc *scope) {
	for _, u := range j.UsingClause {
		col := strings.ToLower(u.GetString_().GetSval())
		var same []int
		for _, i := range sc.rels {
			if r := a.rels[i]; r.role == roleSharded && r.key == col {
				same = append(same, i)
			}
		}
		for k := 1; k < len(same); k++ {
			a.union(same[0], same[k])
		}
	}
}

// query walks a nested query (subquery, CTE, set operation branch).
func (a *analyzer) query(n *pg.Node, sc *scope) {
	switch {
	case n == nil:
	case n.GetSelectStmt() != nil:
		a.selectStmt(n.GetSelectStmt(), sc)
	case n.GetInsertStmt() != nil, n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil:
		a.writes = true
		if t := dmlTarget(n); t != nil {
			name := strings.ToLower(t.Relname)
			if a.nestedDML == "" {
				a.nestedDML = name
			}
			if role, _ := a.schema.lookup(strings.ToLower(t.Schemaname), name); role == roleReference && a.refWrite == "" {
				a.refWrite = name
			}
		}
		a.dml(n, sc)
	}
}

// dmlTarget is the table an INSERT, UPDATE or DELETE writes.
func dmlTarget(n *pg.Node) *pg.RangeVar {
	switch {
	case n.GetInsertStmt() != nil:
		return n.GetInsertStmt().Relation
	case n.GetUpdateStmt() != nil:
		return n.GetUpdateStmt().Relation
	case n.GetDeleteStmt() != nil:
		return n.GetDeleteStmt().Relation
	}
	return nil
}

func (a *analyzer) selectStmt(s *pg.SelectStmt, sc *scope) {
	a.depth++
	defer func() { a.depth-- }()
	a.with(s.WithClause, sc)
	if s.Op != pg.SetOperation_SETOP_NONE {
		if a.depth == 1 {
			a.setop = true
		}
		a.selectStmt(s.Larg, &scope{parent: sc.parent})
		a.selectStmt(s.Rarg, &scope{parent: sc.parent})
		return
	}
	if len(s.LockingClause) > 0 {
		a.locks = true
	}
	a.fromList(s.FromClause, sc)
	a.conjuncts(s.WhereClause, sc)
	a.markFilters(s.WhereClause)
	for _, l := range s.ValuesLists {
		a.expr(l, sc)
	}
	for _, t := range s.TargetList {
		a.expr(t, sc)
	}
	a.expr(s.WhereClause, sc)
	a.expr(s.HavingClause, sc)
	// Subqueries run wherever the rows are ordered, grouped or counted
	// too: ORDER BY (SELECT count(*) FROM orders o WHERE o.status = u.country).
	for _, list := range [][]*pg.Node{s.SortClause, s.GroupClause, s.DistinctClause, s.WindowClause, {s.LimitCount, s.LimitOffset}} {
		for _, n := range list {
			a.expr(n, sc)
		}
	}
	if a.depth > 1 && a.nestedSpread == "" {
		if why := a.subqueryMerge(s, sc); why != "" {
			if a.nested == "" {
				a.nested = why
			}
			if !a.onOneKey(sc) {
				a.nestedSpread = why
			}
		}
	}
	a.recordKeyOutputs(s, sc)
}

// onOneKey says whether every relation sc reads is a sharded table
// pinned by sc's own conditions to one key value, so all its rows are on
// one shard, which its statement then reaches: through key equality that
// shard is the statement's, or another the route includes. A derived
// table, an unsharded relation or a pin to several values does not tell.
func (a *analyzer) onOneKey(sc *scope) bool {
	for _, i := range sc.rels {
		r := &a.rels[i]
		if r.role != roleSharded || r.derived || !slices.ContainsFunc(r.pins, func(p keyPin) bool { return len(p.vals) == 1 && a.within(r.ctx, p.ctx) }) {
			return false
		}
	}
	return len(sc.rels) > 0
}

type keyOutputs struct {
	pos []int
	typ shard.KeyType
}

func (a *analyzer) recordKeyOutputs(s *pg.SelectStmt, sc *scope) {
	var out keyOutputs
	for pos, t := range s.TargetList {
		if i, ok := a.keyColumn(t.GetResTarget().GetVal(), sc); ok && slices.Contains(sc.rels, i) {
			out.pos = append(out.pos, pos)
			out.typ = a.rels[i].table.KeyType
		}
	}
	if out.pos != nil {
		if a.keyOut == nil {
			a.keyOut = map[*pg.SelectStmt]keyOutputs{}
		}
		a.keyOut[s] = out
	}
}

// keyAligned says whether every query of a set operation selects the
// shard key of a table it reads in one same column, keys of one type: a
// row's value there is its key, so equal rows share a shard.
func (a *analyzer) keyAligned(leaves []*pg.SelectStmt) bool {
	first, ok := a.keyOut[leaves[0]]
	if !ok {
		return false
	}
	for _, p := range first.pos {
		aligned := true
		for _, l := range leaves[1:] {
			o, ok := a.keyOut[l]
			if !ok || o.typ != first.typ || !slices.Contains(o.pos, p) {
				aligned = false
				break
			}
		}
		if aligned {
			return true
		}
	}
	return false
}

// subqueryMerge names what a subquery computes over rows of several shards
// that its shard's part alone would get wrong, or "". A subquery evaluated
// per row of an enclosing query and tied to that row by shard key
// equality (o.user_id = u.user_id) reads rows of one key, all on the outer
// row's shard, so anything in it is exact. Otherwise groups by a shard key
// and DISTINCT rows that include one are each whole on one shard, while a
// LIMIT over rows of several shards never is.
func (a *analyzer) subqueryMerge(s *pg.SelectStmt, sc *scope) string {
	if a.correlatedOnKey(sc) || !a.readsSharded(s) {
		return ""
	}
	switch {
	case (len(s.GroupClause) > 0 || a.schema.hasAggregate(s.TargetList) || s.HavingClause != nil) && !a.ownKeyIn(s.GroupClause, sc):
		return "an aggregate in a subquery"
	case len(s.DistinctClause) > 0 && !a.ownKeyIn(distinctValues(s), sc):
		return "DISTINCT in a subquery"
	case !a.noLimit(s):
		return "LIMIT or OFFSET in a subquery"
	}
	return ""
}

// correlatedOnKey says whether every sharded relation of sc, a subquery's
// scope, is joined by key equality to a sharded relation of an enclosing
// query (and there is at least one).
func (a *analyzer) correlatedOnKey(sc *scope) bool {
	outer := map[int]bool{}
	for s := sc.parent; s != nil; s = s.parent {
		for _, i := range s.rels {
			if a.rels[i].role == roleSharded {
				outer[a.find(i)] = true
			}
		}
	}
	tied := false
	for _, i := range sc.rels {
		if a.rels[i].role != roleSharded {
			continue
		}
		if !outer[a.find(i)] {
			return false
		}
		tied = true
	}
	return tied
}

// ownKeyIn says whether one of exprs is the shard key of a relation of sc
// itself (not of an enclosing query).
func (a *analyzer) ownKeyIn(exprs []*pg.Node, sc *scope) bool {
	for _, e := range exprs {
		if i, ok := a.keyColumn(e, sc); ok && slices.Contains(sc.rels, i) {
			return true
		}
	}
	return false
}

// distinctValues are what a SELECT DISTINCT tells rows apart by: its ON
// expressions, or its whole select list. With the shard key among them,
// rows that are the same are on the same shard.
func distinctValues(s *pg.SelectStmt) []*pg.Node {
	if s.DistinctClause[0].GetNode() != nil {
		return s.DistinctClause
	}
	return targetValues(s.TargetList)
}

func targetValues(targets []*pg.Node) []*pg.Node {
	out := make([]*pg.Node, 0, len(targets))
	for _, t := range targets {
		out = append(out, t.GetResTarget().GetVal())
	}
	return out
}

func (a *analyzer) with(w *pg.WithClause, sc *scope) {
	if w == nil {
		return
	}
	for _, c := range w.Ctes {
		cte := c.GetCommonTableExpr()
		again := a.ctes[strings.ToLower(cte.Ctename)]
		a.ctes[strings.ToLower(cte.Ctename)] = true
		if a.cteQueries == nil {
			a.cteQueries = map[string]*pg.Node{}
		}
		a.cteQueries[strings.ToLower(cte.Ctename)] = cte.Ctequery
		inner := &scope{parent: sc.parent}
		a.nest(true, func() {
			a.depth++
			a.query(cte.Ctequery, inner)
			a.depth--
		})
		i, col, ok := a.outputKey(cteOutputs(cte.Ctequery), cte.Aliascolnames, inner)
		if ok || again {
			if a.cteKeys == nil {
				a.cteKeys = map[string]cteKey{}
			}
			if again {
				// A name defined at two levels of the statement: which
				// one a FROM item means is not tracked, so neither keys.
				i = -1
			}
			k := cteKey{rel: i, column: col}
			if i >= 0 {
				for _, p := range a.classPins(a.class(i)) {
					k.pins = append(k.pins, p.vals)
				}
			}
			a.cteKeys[strings.ToLower(cte.Ctename)] = k
		}
	}
}

// cteKey is a CTE whose output column is the shard key of relation rel,
// which it reads (a SELECT) or writes (INSERT, UPDATE or DELETE ...
// RETURNING): a FROM item naming the CTE is then a relation keyed by
// that column, co-located with rel (cteItem).
type cteKey struct {
	rel    int
	column string
	pins   [][]Source // the pins of its rows, which its references take
}

// cteOutputs is the output list of a CTE's query: a plain SELECT's select
// list, a write's RETURNING list; nil for anything else.
func cteOutputs(q *pg.Node) []*pg.Node {
	switch {
	case q.GetSelectStmt() != nil && q.GetSelectStmt().Op == pg.SetOperation_SETOP_NONE:
		return q.GetSelectStmt().TargetList
	case q.GetInsertStmt() != nil:
		return q.GetInsertStmt().ReturningList
	case q.GetUpdateStmt() != nil:
		return q.GetUpdateStmt().ReturningList
	case q.GetDeleteStmt() != nil:
		return q.GetDeleteStmt().ReturningList
	}
	return nil
}

// cteItem makes a FROM item naming CTE rv a relation of sc when the CTE
// outputs a shard key (cteKey), as derivedKey does for a subquery in FROM.
func (a *analyzer) cteItem(rv *pg.RangeVar, sc *scope) {
	name := strings.ToLower(rv.Relname)
	k, ok := a.cteKeys[name]
	if !ok || k.rel < 0 || rv.Schemaname != "" {
		return
	}
	alias := name
	if rv.Alias != nil {
		alias = strings.ToLower(rv.Alias.Aliasname)
		if len(rv.Alias.Colnames) > 0 {
			return // columns renamed: the key's name is not known here
		}
	}
	// Named after the table it reads or writes, for messages.
	j := a.keyedRel(k.rel, a.rels[k.rel].name, alias, k.column, sc)
	for _, vals := range k.pins {
		a.addPin(j, vals)
	}
}

// keyedRel adds to sc, and returns, a derived relation named name,
// referred to as alias, whose column key is relation i's shard key,
// co-located with i.
func (a *analyzer) keyedRel(i int, name, alias, key string, sc *scope) int {
	j := a.newRel(rel{role: roleSharded, table: a.rels[i].table, name: name, alias: alias, key: key, derived: true})
	a.union(j, i)
	sc.rels = append(sc.rels, j)
	return j
}

// expr looks inside an expression for subqueries and for functions that
// matter to routing.
func (a *analyzer) expr(n *pg.Node, sc *scope) {
	if n == nil {
		return
	}
	switch {
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		if a.walked[sl] {
			return
		}
		a.expr(sl.Testexpr, sc)
		walk := func() {
			a.depth++
			a.query(sl.Subselect, &scope{parent: sc})
			a.depth--
		}
		if a.filtering[sl] {
			walk()
		} else {
			a.optional(walk)
		}
		return
	case jsonAggConstructor(n) != nil:
		if c := jsonAggConstructor(n); c.Over != nil && a.window == "" && !a.ownKeyIn(c.Over.PartitionClause, sc) {
			a.window = "JSON_ARRAYAGG"
			if n.GetJsonObjectAgg() != nil {
				a.window = "JSON_OBJECTAGG"
			}
			if a.depth > 1 && a.nestedSpread == "" && !a.onOneKey(sc) {
				a.nestedSpread = "window function " + a.window + "() in a subquery"
			}
		}
	case n.GetFuncCall() != nil:
		f := n.GetFuncCall()
		if f.Over != nil && a.window == "" && !a.ownKeyIn(f.Over.PartitionClause, sc) {
			// A window partitioned by a shard key has each partition whole
			// on one shard; any other spans shards.
			a.window = funcName(f)
			if a.depth > 1 && a.nestedSpread == "" && !a.onOneKey(sc) {
				a.nestedSpread = "window function " + a.window + "() in a subquery"
			}
		}
		if fn := a.schema.function(f); fn != nil {
			a.routedCall(f, fn, sc)
		}
		if name := funcName(f); a.advisory == "" && isAdvisoryLock(name) {
			a.advisory = name
		}
		if name := funcName(f); !a.schema.isAggregate(f) && !readOnlyFunctions[name] {
			a.noteCall(name)
		}
		if name := funcName(f); !a.schema.isAggregate(f) && !readOnlyFunctions[name] && !a.schema.readOnly[name] {
			// Not known to be read-only: it may write (nextval, a user
			// function), so the statement is not sent to a replica.
			a.writes = true
			if a.writer == "" {
				a.writer = name
			}
		}
	}
	walkChildren(n, func(c *pg.Node) { a.expr(c, sc) })
}

// isAdvisoryLock reports whether name is one of PostgreSQL's advisory
// lock functions (pg_advisory_lock, pg_try_advisory_xact_lock_shared,
// pg_advisory_unlock_all...).
func isAdvisoryLock(name string) bool {
	return strings.HasPrefix(name, "pg_advisory_") || strings.HasPrefix(name, "pg_try_advisory_")
}

func funcName(f *pg.FuncCall) string {
	if len(f.Funcname) == 0 {
		return ""
	}
	return strings.ToLower(f.Funcname[len(f.Funcname)-1].GetString_().GetSval())
}
