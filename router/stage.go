package router

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Staged subqueries. A SELECT pgshard cannot merge as one statement may
// still be answered exactly when the part that spans shards is an
// uncorrelated subquery that is mergeable on its own: pgshard runs that
// subquery first (routed and merged like any statement), writes its rows
// into the statement as constants, and routes what is left. Citus calls
// this recursive planning. The shapes staged:
//
//   - a derived table or a CTE: its rows become a VALUES list
//     (SELECT count(*) FROM (SELECT DISTINCT country FROM users) t);
//   - a subquery used as a value: its one value
//     (WHERE balance > (SELECT avg(balance) FROM users));
//   - x IN / op ANY (subquery): an array of its values, which pins x when
//     x is a shard key (WHERE user_id IN (SELECT ... ORDER BY ... LIMIT 3));
//   - EXISTS (subquery): true or false;
//   - a branch of a UNION, INTERSECT or EXCEPT: its rows, as for a
//     derived table (SELECT code FROM countries UNION ALL SELECT country
//     FROM users);
//   - the query of COPY (query) TO STDOUT: its rows, which the server
//     then writes in the COPY's format;
//   - as a last resort, for a query of one sharded table, the table's
//     rows that pass its WHERE clause (pullUp), so window functions and
//     the aggregates pgshard cannot merge run on one shard over them;
//   - a correlated EXISTS or aggregate tied to its outer row by one
//     equality: the values or groups it compares with (decorrelate.go);
//   - failing all of these, the rows of the sharded tables that keep the
//     statement from routing (joins not on the key, correlated subqueries
//     over other shards: stagetables.go).
//
// PostgreSQL evaluates an uncorrelated subquery once too, so the answer is
// the same; what differs is that the subquery reads its own snapshot, as
// every shard already does. SELECTs and COPYs otherwise refused are
// staged, and so are UPDATEs and DELETEs whose subqueries, staged, name
// the keys they write (WHERE user_id IN (SELECT user_id FROM users WHERE
// ...)): the write then runs on those keys' shards, atomically over
// several, and its stages read the primaries.

// isUpdateOrDelete says whether stmt is a write staging may answer.
func isUpdateOrDelete(stmt *pg.Node) bool {
	return stmt.GetUpdateStmt() != nil || stmt.GetDeleteStmt() != nil
}

// StageForm is how a staged subquery's result goes into the statement.
type StageForm uint8

const (
	StageRows   StageForm = iota // a derived table or CTE: VALUES rows
	StageValue                   // (SELECT ...) as a value: one row, one column
	StageArray                   // x op ANY (SELECT ...): one column, an array
	StageExists                  // EXISTS (SELECT ...): whether it has a row
)

var stageFormNames = [...]string{"rows", "value", "array", "exists"}

func (f StageForm) String() string { return stageFormNames[f] }

// Stage is one subquery run before its statement.
type Stage struct {
	SQL  string
	Form StageForm
	// Table names the table (as the statement does) whose rows the stage
	// reads for a pull-up or a broadcast (stagetables.go), not a subquery.
	Table string
	// Params are the statement's parameter numbers the stage takes, as
	// its $1, $2, ... (a subquery of a Bind's statement: WHERE y = $3).
	Params []int
	// Inserted is, for the rows of an INSERT ... SELECT, the number of
	// columns the INSERT names: they reach it as that many arrays.
	Inserted int
}

// MaxStagedBytes bounds the constants a stage writes into a statement:
// past it the statement is refused. pgshard parses the filled statement to
// route it, and libpg_query's parse tree of a VALUES list costs about
// 500 ms and 90 MB per MiB of constants (measured here), so the bound is
// kept to what a few thousand rows take.
const MaxStagedBytes = 256 << 10

// MaxStagedParamBytes bounds the rows a stage passes as Bind parameters
// (Staging.Params), counted as the shards sent them. The filled statement
// stays short, so it is parsed once and its plan cached; what bounds this
// is the memory pgshard holds the rows in and the bytes each shard is
// sent.
const MaxStagedParamBytes = 2 << 20

// minStagedDataRow is the fewest bytes a shard sends for a row: a DataRow's
// column count and one column's length.
const minStagedDataRow = 6

// Staging is a statement answered in stages: each of Stages is run, in
// order, and its result replaces the marker StageMarker(i) in Outer.
type Staging struct {
	Stages []Stage
	Outer  string
	// Refusal is the statement's own refusal, for when the stages show
	// the staging cannot work (a subquery that was correlated after all).
	Refusal *Error
	// PullUp: the one stage is a table's rows (pullUp), not a subquery.
	PullUp bool
	// Broadcast: some stages are tables' rows for a join or a correlated
	// subquery (stagetables.go); Decorrelated: some answer a correlated
	// subquery (decorrelate.go).
	Broadcast, Decorrelated bool
	// Write: the statement is an INSERT, UPDATE or DELETE; its stages
	// read the shards' primaries, as the write's own subqueries would.
	Write bool
	// Params: the stages' results may reach the statement as Bind
	// parameters ($n::type[] arrays unnested, values), not constants; not
	// for COPY, which takes no parameters.
	Params bool
	// Dropped are the statement's parameter numbers only its stages take:
	// Outer no longer names them, so a server could not tell their types.
	Dropped []int
	// Highest is the highest parameter number the statement names: a Bind
	// must bring that many values (or as many as its Parse declared types
	// for, if more), as a server checks. Unnamed are the numbers below it
	// that it does not name, whose types a server could not infer.
	Highest int
	Unnamed []int
	// tooLarge is when (Unix nanoseconds) the last run found a stage past
	// MaxStagedBytes: for a while after, the statement is refused without
	// reading the rows again (the plan, and so this, is shared by every
	// session sending the same text).
	tooLarge atomic.Int64
}

// TooLargeFor is how long a staging found too large is refused without
// running its stages again; past it, the rows may have shrunk.
const TooLargeFor = time.Minute

// MarkTooLarge records that a stage passed MaxStagedBytes at now.
func (st *Staging) MarkTooLarge(now time.Time) { st.tooLarge.Store(now.UnixNano()) }

// KnownTooLarge says whether a stage passed MaxStagedBytes within
// TooLargeFor before now.
func (st *Staging) KnownTooLarge(now time.Time) bool {
	at := st.tooLarge.Load()
	return at != 0 && now.UnixNano()-at < int64(TooLargeFor)
}

const stagePrefix = "pgshard_stage_"

// stageMarkers finds the markers in Outer: StageMarker(i), and
// StageMarker(i)+"_name" where a value's column takes the subquery's name.
var stageMarkers = regexp.MustCompile(`\b` + stagePrefix + `([0-9]+)(_name)?\b`)

// StageResult is a stage's result as SQL for its place, and the name of
// its first column.
type StageResult struct {
	SQL, Column string
}

// StageMarker is the name that stands for stage i's result in the
// statement: a relation for rows (the result's alias, then), else a column.
func StageMarker(i int) string { return stagePrefix + strconv.Itoa(i) }

// Fill returns the statement with each stage's result in place of its
// marker.
func (st *Staging) Fill(results []StageResult) string {
	return stageMarkers.ReplaceAllStringFunc(st.Outer, func(m string) string {
		digits, name := strings.CutSuffix(m[len(stagePrefix):], "_name")
		i, err := strconv.Atoi(digits)
		switch {
		case err != nil || i >= len(results):
			return m
		case name:
			return `"` + strings.ReplaceAll(results[i].Column, `"`, `""`) + `"`
		}
		return results[i].SQL
	})
}

// stage tries to answer the refused SELECT stmt (refused) in stages, and
// returns nil when it cannot: no subquery that reads a sharded table can
// be run on its own, or the statement is not a plain read.
func (r *Router) stage(text string, stmt *pg.Node, version int32, refused *Plan) *Plan {
	if sqltext.IndexFold(text, stagePrefix) >= 0 || r.callsShardFunction(stmt) {
		return nil
	}
	// The planner rewrites the tree it is given for merging: start again
	// from the text.
	tree, err := pg.Parse(text)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	root := tree.Stmts[0].Stmt
	sb := stager{r: r, version: version, names: map[int]string{}, ctes: cteNames(root)}
	command := "SELECT"
	switch {
	case root.GetSelectStmt() != nil:
		sb.selectStmt(root.GetSelectStmt())
	case root.GetUpdateStmt() != nil:
		u := root.GetUpdateStmt()
		if u.WithClause != nil && !inlineCTEs(root, &u.WithClause) {
			return nil
		}
		sb.write(u.FromClause, u.TargetList, []*pg.Node{u.WhereClause}, u.ReturningList)
		command = "UPDATE"
	case root.GetDeleteStmt() != nil:
		d := root.GetDeleteStmt()
		if d.WithClause != nil && !inlineCTEs(root, &d.WithClause) {
			return nil
		}
		sb.write(d.UsingClause, []*pg.Node{d.WhereClause}, d.ReturningList)
		command = "DELETE"
	case root.GetInsertStmt() != nil:
		ins := root.GetInsertStmt()
		if !valuesWithInlined(ins) || !withIntoSelect(ins, false) {
			return nil
		}
		rows := ins.SelectStmt.GetSelectStmt()
		role, _ := r.schema.lookup(strings.ToLower(ins.Relation.Schemaname), strings.ToLower(ins.Relation.Relname))
		if rows == nil || len(ins.Cols) == 0 && role == roleSharded {
			// Without a column list a sharded row's key is found at run
			// time, from VALUES only.
			return nil
		}
		var conflict []*pg.Node
		if oc := ins.OnConflictClause; oc != nil {
			conflict = append(slices.Clip(oc.TargetList), oc.WhereClause)
		}
		if len(rows.ValuesLists) == 0 {
			// INSERT ... SELECT whose rows do not stay on their shards:
			// the SELECT's rows, read and merged by pgshard, are
			// inserted from arrays (unnest), each row on its key's shard
			// (arrayinsert.go), on every shard for a reference table.
			if !sb.addAny(ins.SelectStmt, StageRows, true) {
				return nil
			}
			ins.SelectStmt = insertedFromMarker(0, rows, len(ins.Cols), insertedKey(ins, r.schema))
			sb.stages[0].Inserted = len(ins.Cols)
			sb.write(nil, conflict, ins.ReturningList)
		} else {
			sb.write(nil, rows.ValuesLists, conflict, ins.ReturningList)
		}
		command = "INSERT"
	case root.GetCopyStmt() != nil:
		// COPY (query) TO STDOUT whose rows need merging: the query's
		// merged rows, and the server formats them with the COPY's own
		// options (CSV, HEADER, NULL, ...).
		c := root.GetCopyStmt()
		if c.Query.GetSelectStmt() == nil || c.IsFrom || c.IsProgram || c.Filename != "" || !sb.add(c.Query, StageRows) {
			return nil
		}
		c.Query = selectFromMarker(0)
		command = "COPY"
	}
	if len(sb.stages) == 0 {
		return nil
	}
	outer, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: root}}})
	if err != nil {
		return nil
	}
	st := &Staging{Stages: sb.stages, Outer: outer, Refusal: refused.Err, PullUp: sb.pulledUp, Params: command != "COPY",
		Broadcast: sb.broadcast, Decorrelated: sb.decorrelated, Write: command != "SELECT" && command != "COPY",
		Dropped: dropped(sb.stages, root)}
	st.Highest, st.Unnamed = paramNumbers(sb.stages, root)
	if st.Write && !r.routesFilled(st) {
		return nil
	}
	// A write keeps a keyless refusal's mark: a session's shard key or a
	// hint still sends the whole statement to its shard.
	return &Plan{Kind: KindRefuse, Err: refused.Err, Command: command, Read: !st.Write, Exact: true, keyless: refused.keyless,
		Staging: st}
}

// PullUp is the staging of a query of one sharded table whose merge failed
// only once its rows came back (min or max of text under the database's
// collation, a cast of a date aggregate to text): the table's rows pulled
// up to one shard, as pullUp does at plan time. nil when the statement is
// not such a query.
func (r *Router) PullUp(text string, refusal *Error) *Staging {
	if sqltext.IndexFold(text, stagePrefix) >= 0 {
		return nil
	}
	tree, err := pg.Parse(text)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	root := tree.Stmts[0].Stmt
	sel := root.GetSelectStmt()
	if sel == nil || sel.Op != pg.SetOperation_SETOP_NONE || sel.LockingClause != nil || sel.IntoClause != nil || r.callsShardFunction(root) {
		return nil
	}
	sb := stager{r: r, version: tree.Version, names: map[int]string{}, ctes: cteNames(root)}
	if sb.pullUp(sel); len(sb.stages) == 0 {
		return nil
	}
	outer, err := pg.Deparse(&pg.ParseResult{Version: tree.Version, Stmts: []*pg.RawStmt{{Stmt: root}}})
	if err != nil {
		return nil
	}
	st := &Staging{Stages: sb.stages, Outer: outer, Refusal: refusal, PullUp: true, Params: true, Dropped: dropped(sb.stages, root)}
	st.Highest, st.Unnamed = paramNumbers(sb.stages, root)
	return st
}

// callsShardFunction reports whether stmt calls a function that works on
// the rows of its own shard (a routed one, or one whose body names a
// sharded table): run on one shard over staged rows, it would work on the
// wrong shard.
func (r *Router) callsShardFunction(stmt *pg.Node) bool {
	fns := r.TableFunctions()
	found := false
	visit(stmt, func(c *pg.Node) bool {
		if fc := c.GetFuncCall(); fc != nil {
			_, body := fns[strings.ToLower(funcName(fc))]
			found = body || r.schema.function(fc) != nil
		}
		return !found
	})
	return found
}

type stager struct {
	r                       *Router
	version                 int32
	stages                  []Stage
	pulledUp                bool
	broadcast, decorrelated bool
	// names are the output names of the subqueries whose stages (by
	// index) answer them through a lookup (groupedValue).
	names map[int]string
	// ctes are the statement's CTE names, which are not tables.
	ctes map[string]bool
}

// selectStmt stages what it can of a top-level SELECT: its CTEs, derived
// tables and sublinks, or, for a set operation, its branches.
func (sb *stager) selectStmt(sel *pg.SelectStmt) {
	if sel == nil || sel.LockingClause != nil || sel.IntoClause != nil {
		return
	}
	if w := sel.WithClause; w != nil && !w.Recursive {
		for _, c := range w.Ctes {
			cte := c.GetCommonTableExpr()
			if q := cte.GetCtequery(); q.GetSelectStmt() != nil && sb.add(q, StageRows) {
				cte.Ctequery = selectFromMarker(len(sb.stages) - 1)
			}
		}
	}
	if sel.Op != pg.SetOperation_SETOP_NONE {
		sel.Larg = sb.branch(sel.Larg)
		sel.Rarg = sb.branch(sel.Rarg)
		return
	}
	for _, f := range sel.FromClause {
		sb.fromItem(f)
	}
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		sl, before := rt.GetVal().GetSubLink(), len(sb.stages)
		sb.sublinks(t)
		if sl == nil || rt.Name != "" || len(sb.stages) == before {
			continue
		}
		// The column keeps the name PostgreSQL gives a subquery.
		if name, ok := sb.names[before]; ok {
			rt.Name = name // a grouped lookup's, known from the query
			continue
		}
		switch sl.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			rt.Name = "exists"
		case pg.SubLinkType_ARRAY_SUBLINK:
			rt.Name = "array"
		case pg.SubLinkType_EXPR_SUBLINK:
			rt.Name = StageMarker(before) + "_name"
		}
	}
	sb.sublinks(sel.WhereClause)
	sb.sublinks(sel.HavingClause)
	for _, list := range [][]*pg.Node{sel.SortClause, sel.GroupClause, {sel.LimitCount, sel.LimitOffset}} {
		for _, n := range list {
			sb.sublinks(n)
		}
	}
	if len(sb.stages) == 0 {
		sb.pullUp(sel)
	}
	if len(sb.stages) == 0 {
		sb.tables(sel)
	}
}

// pullUp is the last resort for a query of one sharded table that no
// subquery explains the refusal of (a window function, an ordered or
// statistical aggregate, an ORDER BY of arrays): the table's rows that
// pass the WHERE clause are staged, under the table's name or alias, and
// the rest of the query runs on one shard over them. The table reaches
// the stage with its WHERE clause, so only those rows travel; a result
// past the bytes a stage may hold is refused.
func (sb *stager) pullUp(sel *pg.SelectStmt) {
	if len(sel.FromClause) != 1 || sel.WithClause != nil || len(sel.GroupClause) > 0 && hasStar(sel.TargetList) {
		// SELECT * ... GROUP BY the primary key counts on the key's
		// constraint, which staged rows do not have.
		return
	}
	rv := sel.FromClause[0].GetRangeVar()
	if rv == nil || rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
		return // an alias renaming columns would not carry over
	}
	for _, rest := range [][]*pg.Node{sel.TargetList, {sel.HavingClause}, sel.SortClause, sel.DistinctClause, sel.WindowClause, sel.GroupClause} {
		for _, n := range rest {
			if sb.readsPlaced(n) {
				return // a (correlated) subquery over sharded rows would stay
			}
		}
	}
	if role, _ := sb.r.schema.lookup(strings.ToLower(rv.Schemaname), strings.ToLower(rv.Relname)); role != roleSharded {
		return
	}
	alias := &pg.Alias{Aliasname: rv.Relname}
	if rv.Alias != nil {
		alias = &pg.Alias{Aliasname: rv.Alias.Aliasname}
	}
	rows := &pg.SelectStmt{TargetList: []*pg.Node{starTarget()}, FromClause: sel.FromClause, WhereClause: sel.WhereClause}
	limitStageRows(rows)
	// Not nested: the rows' query may be the statement itself (SELECT *
	// FROM t WHERE ...), which would pull up forever.
	if !sb.addStage(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: rows}}, StageRows, false) {
		return
	}
	sb.stages[len(sb.stages)-1].Table = alias.Aliasname
	sel.FromClause = []*pg.Node{{Node: &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{
		Subquery: selectFromMarker(len(sb.stages) - 1), Alias: alias}}}}
	sel.WhereClause = nil
	sb.pulledUp = true
}

// branch stages a set operation's branch whole when it reads a sharded
// table (SELECT code FROM countries UNION ALL SELECT country FROM users):
// its rows, merged as a statement of its own, take its place.
func (sb *stager) branch(b *pg.SelectStmt) *pg.SelectStmt {
	if b == nil || b.LockingClause != nil || b.IntoClause != nil {
		return b
	}
	if sb.add(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: b}}, StageRows) {
		return selectFromMarker(len(sb.stages) - 1).GetSelectStmt()
	}
	return b
}

func (sb *stager) fromItem(n *pg.Node) {
	switch {
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		sb.fromItem(j.Larg)
		sb.fromItem(j.Rarg)
		sb.sublinks(j.Quals)
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		if !rs.Lateral && sb.add(rs.Subquery, StageRows) {
			rs.Subquery = selectFromMarker(len(sb.stages) - 1)
		}
	case n.GetRangeVar() != nil:
		sb.view(n)
	default:
		sb.sublinks(n) // a function's, XMLTABLE's or JSON_TABLE's arguments
	}
}

// view stages FROM item n when it names a view of sharded tables whose
// own query is computed over all of its rows (an aggregate, GROUP BY,
// DISTINCT, LIMIT, a window or a set operation: a report's view): the
// view's query, run first as a statement of its own and merged over the
// shards, gives the rows the view would, and they take its place under
// its name or alias. A view of plain rows is planned through instead
// (views.go), pinned or merged with the rest of the statement.
func (sb *stager) view(n *pg.Node) {
	rv := n.GetRangeVar()
	name := strings.ToLower(rv.Relname)
	if rv.Schemaname == "" && sb.ctes[name] {
		return
	}
	def := sb.r.viewTrees()[name].GetSelectStmt()
	if def == nil || !sb.wholeQuery(def) {
		return
	}
	if !sb.add(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: proto.Clone(def).(*pg.SelectStmt)}}, StageRows) {
		return
	}
	alias := rv.Alias
	if alias == nil {
		alias = &pg.Alias{Aliasname: rv.Relname}
	}
	n.Node = &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{Subquery: selectFromMarker(len(sb.stages) - 1), Alias: alias}}
}

// wholeQuery says whether sel computes over all of its rows at once, so
// that each shard's part of it would not be a part of its result.
func (sb *stager) wholeQuery(sel *pg.SelectStmt) bool {
	if sel.Op != pg.SetOperation_SETOP_NONE || len(sel.GroupClause) > 0 || sel.HavingClause != nil ||
		len(sel.DistinctClause) > 0 || sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.WindowClause) > 0 {
		return true
	}
	if sb.r.schema.hasAggregate(sel.TargetList) {
		return true
	}
	window := false
	for _, t := range sel.TargetList {
		visit(t, func(c *pg.Node) bool {
			if f := c.GetFuncCall(); f != nil && f.Over != nil {
				window = true
			}
			return !window && c.GetSubLink() == nil
		})
	}
	return window
}

// sublinks stages the subqueries of expression n, not those nested in
// another subquery (a staged one is run whole).
func (sb *stager) sublinks(n *pg.Node) {
	visit(n, func(c *pg.Node) bool {
		sl := c.GetSubLink()
		if sl == nil {
			return true
		}
		marker := &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: []*pg.Node{pg.MakeStrNode(StageMarker(len(sb.stages)))}}}}
		switch sl.SubLinkType {
		case pg.SubLinkType_EXPR_SUBLINK:
			if sb.add(sl.Subselect, StageValue) {
				c.Node = marker.Node
			} else if n, name := sb.groupedValue(sl.Subselect.GetSelectStmt()); n != nil {
				c.Node = n.Node
				sb.names[len(sb.stages)-1] = name
				sb.decorrelated = true
			}
		case pg.SubLinkType_ARRAY_SUBLINK:
			if sb.add(sl.Subselect, StageArray) {
				c.Node = marker.Node
			}
		case pg.SubLinkType_EXISTS_SUBLINK:
			q := proto.Clone(sl.Subselect).(*pg.Node)
			if sel := q.GetSelectStmt(); sel != nil && sel.LimitCount == nil {
				// One row tells.
				sel.LimitCount = pg.MakeAConstIntNode(1, -1)
				sel.LimitOption = pg.LimitOption_LIMIT_OPTION_COUNT
			}
			if sb.add(q, StageExists) {
				c.Node = marker.Node
			} else if n := sb.semiJoin(sl.Subselect.GetSelectStmt()); n != nil {
				c.Node = n.Node
				sb.decorrelated = true
			}
		case pg.SubLinkType_ANY_SUBLINK:
			if sl.Testexpr.GetRowExpr() != nil {
				return false
			}
			op := sl.OperName
			if len(op) == 0 {
				op = []*pg.Node{pg.MakeStrNode("=")} // IN
			}
			test := sl.Testexpr
			if sb.add(sl.Subselect, StageArray) {
				c.Node = &pg.Node_AExpr{AExpr: &pg.A_Expr{Kind: pg.A_Expr_Kind_AEXPR_OP_ANY, Name: op, Lexpr: test, Rexpr: marker, Location: -1}}
			}
		}
		return false
	})
}

// add records q as the next stage if it can run on its own: a read that
// routes, reads a sharded table, and names no relation it does not
// define (a correlated subquery, which the outer row feeds). A subquery
// that is refused as one statement but can itself be staged is run in
// stages in turn: it is smaller than its statement, so this ends.
func (sb *stager) add(q *pg.Node, form StageForm) bool {
	return sb.addStage(q, form, true)
}

// addStage is add; nested says whether q may itself be staged.
func (sb *stager) addStage(q *pg.Node, form StageForm, nested bool) bool {
	if !sb.readsPlaced(q) {
		return false
	}
	return sb.addAny(q, form, nested)
}

// addAny is addStage for a query that may read no table placed on one
// shard: an INSERT's SELECT of constants or generate_series, whose rows
// the INSERT cannot move to their shards otherwise with RETURNING, ON
// CONFLICT or parameters (movePlan).
func (sb *stager) addAny(q *pg.Node, form StageForm, nested bool) bool {
	if q.GetSelectStmt() == nil || correlated(q) {
		return false
	}
	q, params := renumberParams(q)
	sql, err := pg.Deparse(&pg.ParseResult{Version: sb.version, Stmts: []*pg.RawStmt{{Stmt: q}}})
	if err != nil {
		return false
	}
	p := sb.r.planStaged(sql, sqltext.Normalize(sql).Literals, true, nested)
	if p.Staging == nil && (p.Kind == KindRefuse || !p.Read || sb.r.viewRefusal(p.locals) != nil) {
		return false // (a materialized view, say, is refused when routed)
	}
	sb.stages = append(sb.stages, Stage{SQL: sql, Form: form, Params: params})
	return true
}

// dropped are the parameter numbers stages take that outer does not.
func dropped(stages []Stage, outer *pg.Node) []int {
	kept := map[int]bool{}
	visit(outer, func(c *pg.Node) bool {
		if pr := c.GetParamRef(); pr != nil {
			kept[int(pr.Number)] = true
		}
		return true
	})
	var out []int
	for _, st := range stages {
		for _, n := range st.Params {
			if !kept[n] && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// paramNumbers is the highest parameter number named by outer or taken
// by a stage, and the lower numbers neither names.
func paramNumbers(stages []Stage, outer *pg.Node) (highest int, unnamed []int) {
	named := map[int]bool{}
	visit(outer, func(c *pg.Node) bool {
		if pr := c.GetParamRef(); pr != nil {
			named[int(pr.Number)] = true
		}
		return true
	})
	for _, st := range stages {
		for _, p := range st.Params {
			named[p] = true
		}
	}
	for n := range named {
		highest = max(highest, n)
	}
	for n := 1; n < highest; n++ {
		if !named[n] {
			unnamed = append(unnamed, n)
		}
	}
	return highest, unnamed
}

// renumberParams returns q, or a copy whose parameters are numbered from
// $1 in the order they first appear, and the numbers they had: a stage
// runs on its own, with only the parameters it takes.
func renumberParams(q *pg.Node) (*pg.Node, []int) {
	if !hasParam(q) {
		return q, nil
	}
	q = proto.Clone(q).(*pg.Node)
	var params []int
	visit(q, func(c *pg.Node) bool {
		if pr := c.GetParamRef(); pr != nil {
			i := slices.Index(params, int(pr.Number))
			if i < 0 {
				params = append(params, int(pr.Number))
				i = len(params) - 1
			}
			pr.Number = int32(i + 1)
		}
		return true
	})
	return q, params
}

// readsPlaced says whether q reads a table that is not whole on every
// shard: a sharded table (or a view of one), or a table that lives on the
// default shard only (a subquery over it, run first, answers wherever the
// statement then runs: WHERE user_id = 5 AND status IN (SELECT code FROM
// statuses)). Names of the statement's CTEs and of the system catalogs
// are not such tables.
func (sb *stager) readsPlaced(q *pg.Node) bool {
	views := sb.r.viewTrees()
	found := false
	visit(q, func(c *pg.Node) bool {
		if rv := c.GetRangeVar(); rv != nil {
			name, schema := strings.ToLower(rv.Relname), strings.ToLower(rv.Schemaname)
			_, view := views[name]
			role, _ := sb.r.schema.lookup(schema, name)
			found = role == roleSharded || view || role == roleLocal && defaultShardTable(schema, name, sb.ctes)
		}
		return !found
	})
	return found
}

// defaultShardTable says whether a relation the schema does not know
// (lowercase schema and name) is a table on the default shard, not one of
// the statement's CTEs or a system catalog.
func defaultShardTable(schema, name string, ctes map[string]bool) bool {
	if schema == "" {
		return !ctes[name] && !strings.HasPrefix(name, "pg_")
	}
	return schema != "pg_catalog" && schema != "information_schema"
}

// cteNames are the names of the CTEs anywhere in stmt.
func cteNames(stmt *pg.Node) map[string]bool {
	names := map[string]bool{}
	visit(stmt, func(c *pg.Node) bool {
		if cte := c.GetCommonTableExpr(); cte != nil {
			names[strings.ToLower(cte.Ctename)] = true
		}
		return true
	})
	return names
}

func hasParam(q *pg.Node) bool {
	found := false
	visit(q, func(c *pg.Node) bool {
		found = found || c.GetParamRef() != nil
		return !found
	})
	return found
}

// correlated reports whether q qualifies a column with a relation it does
// not define itself: such a reference is to an outer query's row. (An
// unqualified outer column cannot be told from the query alone; run on
// its own, the subquery fails on it, and the staging gives way to the
// statement's refusal.)
func correlated(q *pg.Node) bool {
	return namesOutside(q, definedNames(q))
}

// selectFromMarker is SELECT * FROM <marker i>, standing for a staged
// query's rows.
func selectFromMarker(i int) *pg.Node {
	return &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: &pg.SelectStmt{
		TargetList: []*pg.Node{starTarget()},
		FromClause: []*pg.Node{pg.MakeSimpleRangeVarNode(StageMarker(i), -1)},
	}}}
}

// StageError is the error PostgreSQL raises where a subquery's result does
// not fit its place.
func StageError(form StageForm, cols, rows int) *Error {
	switch {
	case form == StageValue && cols != 1:
		return &Error{Code: codeSyntax, Message: "subquery must return only one column"}
	case form == StageArray && cols != 1:
		return &Error{Code: codeSyntax, Message: "subquery has too many columns"}
	case form == StageValue && rows > 1:
		return &Error{Code: "21000", Message: "more than one row returned by a subquery used as an expression"}
	}
	return nil
}

// describeStaging is the route's description for pgshard route.
func describeStaging(st *Staging) string {
	var b strings.Builder
	b.WriteString("kind=staged")
	for i, s := range st.Stages {
		fmt.Fprintf(&b, "\n  stage %d (%s", i, s.Form)
		for k, n := range s.Params {
			fmt.Fprintf(&b, ", $%d=$%d", k+1, n)
		}
		fmt.Fprintf(&b, "): %s", s.SQL)
	}
	fmt.Fprintf(&b, "\n  then: %s", st.Outer)
	return b.String()
}

func hasStar(targets []*pg.Node) bool {
	for _, t := range targets {
		if _, star := outputName(t.GetResTarget()); star {
			return true
		}
	}
	return false
}
