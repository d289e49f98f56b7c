package router

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// insertSplit is a multi-row INSERT ... VALUES into a sharded table: each
// row's key, so each shard can be sent only its own rows.
type insertSplit struct {
	Table *Table
	Rows  []Source
	// Gen is set when rows leave the key to its default (genkeys.go):
	// Rows then hold Source.gen for those keys.
	Gen *genKeys
	// ByPosition is set instead of Rows for an INSERT without a column
	// list: every row's values in order. Which of them is the key depends
	// on the table's column order, which only the servers know; the wire
	// layer reads it for each execution (KeyColumns) and the route picks
	// the key from it.
	ByPosition [][]rowValue
	Relation   TableRef // the table as the statement names it
	// merge: the rows are a MERGE's source VALUES, the statement's first
	// VALUES list but inside its USING (...).
	merge bool
}

// rowValue is one value of a VALUES row, when routing may need it as a key.
type rowValue struct {
	Source
	ok   bool // a constant or a parameter
	null bool // the NULL constant
}

// TableRef is a table as a statement names it.
type TableRef struct {
	Table        *Table
	Schema, Name string // as written; Schema "" when unqualified
}

// KeyColumns gives, for INSERTs without a column list, the 0-based position
// of each sharded table's key among its columns, as read from a server.
type KeyColumns map[*Table]int

func (a *analyzer) insertPlan(ins *pg.InsertStmt, t *Table) *Plan {
	p := &Plan{Command: "INSERT", Tables: []string{t.Name}}
	if !valuesWithInlined(ins) || !withIntoSelect(ins, true) {
		return refuse(codeFeatureNotSupported, "pgshard: WITH ... INSERT into a sharded table is supported for INSERT ... SELECT, and for INSERT ... VALUES whose subqueries each use a CTE that only reads, once",
			"Move the WITH query into the VALUES, or run a data-modifying CTE as a statement of its own.")
	}
	keyCol := -1
	for i, c := range ins.Cols {
		if strings.EqualFold(c.GetResTarget().GetName(), t.Key) {
			keyCol = i
		}
	}
	if sel := ins.SelectStmt.GetSelectStmt(); len(ins.Cols) > 0 && keyCol < 0 && sel == nil {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT into sharded table %s does not set its shard key %s", t, t.Key),
			fmt.Sprintf("Include %s in the column list: a row's key decides its shard.", t.Key))
	}
	if e := a.schema.conflictTarget(ins, t); e != nil {
		return &Plan{Kind: KindRefuse, Err: e}
	}
	var newKeys []Source
	if oc := ins.OnConflictClause; oc != nil {
		// SET user_id = excluded.user_id: the key that routed the row;
		// user_id or users.user_id: the existing row's own.
		self := strings.ToLower(visibleName(ins.Relation))
		var e *Error
		newKeys, e = a.keyAssignments(oc.TargetList, t, "ON CONFLICT DO UPDATE", func(n *pg.Node) bool {
			return sameColumn(n, t.Key, true, self, "excluded")
		})
		if e != nil {
			return &Plan{Kind: KindRefuse, Err: e}
		}
	}
	sel := ins.SelectStmt.GetSelectStmt()
	if len(newKeys) > 0 && (sel == nil || len(sel.ValuesLists) == 0 || len(ins.Cols) == 0) {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: ON CONFLICT DO UPDATE sets shard key %s.%s to a value, which pgshard checks for INSERT ... VALUES with a column list only", t, t.Key),
			fmt.Sprintf("Write SET %s = excluded.%s, which keeps the row on its shard.", t.Key, t.Key))
	}
	if sel == nil {
		return a.defaultValuesPlan(p, ins, t)
	}
	if len(sel.ValuesLists) == 0 {
		return a.insertSelect(ins, t, sel, keyCol)
	}
	if len(ins.Cols) == 0 {
		return a.positionalInsert(p, ins, t, sel)
	}
	split := &insertSplit{Table: t}
	if keyCol < 0 || defaultKey(sel, keyCol) {
		// The key is left to the column's default (genkeys.go). ON
		// CONFLICT was checked above like any other: a conflict on the
		// new key is found on the key's shard, as for a given key.
		rows, g, e := a.generatedRows(ins, t, sel, keyCol)
		if e != nil {
			return &Plan{Kind: KindRefuse, Err: e}
		}
		split.Rows, split.Gen = rows, g
		split.Relation = TableRef{Table: t, Schema: ins.Relation.Schemaname, Name: ins.Relation.Relname}
	}
	for n, row := range sel.ValuesLists {
		if split.Gen != nil {
			break
		}
		items := row.GetList().GetItems()
		if keyCol >= len(items) {
			return refuse(codeSyntax, "INSERT has more target columns than expressions", "")
		}
		if c := items[keyCol].GetAConst(); c != nil && c.Isnull {
			return refuse(codeNullKey, nullKeyMessage(t, n), "Every row of a sharded table needs a shard key.")
		}
		src, ok := a.keySource(items[keyCol], t.KeyType, domKey)
		src.assign = true
		if !ok {
			return refuse(codeFeatureNotSupported, keyExpressionMessage(t, n), "Compute the key in the application and pass it as a value.")
		}
		split.Rows = append(split.Rows, src)
	}
	classes, refused := a.rowReads(ins, t, split.Rows)
	if refused != nil {
		return refused
	}
	if len(split.Rows) == 1 && split.Gen == nil {
		p.Kind = KindShard
		p.Class = classes
	} else {
		p.Kind = KindShard
		p.Insert = split
	}
	if len(newKeys) > 0 {
		p.newKeys = &keyWrite{Pin: Pin{Table: t, Values: newKeys}, command: "ON CONFLICT DO UPDATE", schema: a.schema}
	}
	p.Exact = a.exact
	return p
}

// rowReads checks what the rest of an INSERT ... VALUES (its values'
// subqueries, RETURNING, ON CONFLICT) reads on the shard each row goes
// to, and returns the single-row plan's classes: the row's key, and the
// keys of sharded tables its subqueries pin by their own conditions. A
// subquery tied to the row by key equality (ON CONFLICT ... DO UPDATE SET
// n = (SELECT count(*) FROM orders o WHERE o.user_id = excluded.user_id))
// reads the row's own shard; one over other shards' rows, or over a
// table on the default shard, is refused (stage.go may answer it), and
// with several rows, whose shards each evaluate it, so is any that reads
// a table that is not a reference table. rows nil: the rows' keys are
// found at run time (positionalInsert).
func (a *analyzer) rowReads(ins *pg.InsertStmt, t *Table, rows []Source) ([]Pin, *Plan) {
	classes := []Pin{{Table: t, Values: rows}}
	target := a.addRel(ins.Relation)
	if target < 0 {
		return classes, nil
	}
	// ON CONFLICT names the proposed row excluded: the same key.
	excluded := a.addRel(&pg.RangeVar{Relname: ins.Relation.Relname, Schemaname: ins.Relation.Schemaname, Alias: &pg.Alias{Aliasname: "excluded"}})
	a.rels[excluded].derived = true
	a.union(target, excluded)
	if len(rows) == 1 {
		a.addPin(target, rows)
	}
	sc := &scope{rels: []int{target, excluded}}
	before := len(a.rels)
	for _, row := range ins.SelectStmt.GetSelectStmt().GetValuesLists() {
		a.expr(row, sc)
	}
	for _, r := range ins.ReturningList {
		a.expr(r, sc)
	}
	if oc := ins.OnConflictClause; oc != nil {
		for _, r := range oc.TargetList {
			a.expr(r, sc)
		}
		a.expr(oc.WhereClause, sc)
	}
	reads := ""
	for _, r := range a.rels[before:] {
		if r.role == roleSharded || r.role == roleLocal {
			reads = r.name
			break
		}
	}
	switch {
	case reads == "":
		return classes, nil
	case len(rows) != 1:
		return nil, refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: a multi-row INSERT into sharded table %s reads table %s in a subquery, which each row's shard would evaluate over its own rows", t, reads),
			"Insert the rows one by one, or compute the value first.")
	}
	p := a.decide("INSERT")
	switch {
	case p.Kind == KindRefuse:
		return nil, p
	case p.Kind != KindShard:
		return nil, refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT into sharded table %s reads table %s in a subquery over rows of other shards than the row's", t, reads),
			fmt.Sprintf("Tie the subquery to the row's key (%s = ...), or compute the value first.", t.Key))
	}
	return p.Class, nil
}

// copyPlan routes COPY: into or out of a table by the table's role, and
// COPY (query) TO by where the query runs.
func (a *analyzer) copyPlan(c *pg.CopyStmt) *Plan {
	if c.Query != nil {
		inner := a.schema.buildThrough(c.Query, a.lits, a.version, a.views)
		switch {
		case inner.Kind == KindRefuse:
			return inner
		case inner.Kind == KindScatter && inner.Read && !needsMerge(inner):
			// Every shard's rows, one shard after the other, as one COPY:
			// exactly the rows one server would give, in some order.
			ci := &CopyIn{KeyCol: -1, Delim: '\t', Null: `\N`}
			applyCopyOptions(ci, c.Options)
			return &Plan{Kind: KindCopyOut, Command: "COPY", Read: true, Tables: inner.Tables, Exact: inner.Exact, Copy: ci, through: inner.through}
		case inner.Kind == KindScatter || inner.Kind == KindShard && inner.Insert != nil:
			return refuse(codeFeatureNotSupported,
				"pgshard: COPY (query) TO over every shard is supported only for queries whose rows need no merging (no ORDER BY, aggregates, DISTINCT or LIMIT), or TO STDOUT in a simple query",
				"Send it as a simple query to STDOUT (psql's \\copy), run the query as a SELECT, or pin it to one shard.")
		}
		return &Plan{Kind: inner.Kind, Class: inner.Class, Exact: inner.Exact, mergeErr: "pgshard: cannot merge COPY across shards", calls: inner.calls, through: inner.through}
	}
	role, t := a.schema.lookup(strings.ToLower(c.Relation.Schemaname), strings.ToLower(c.Relation.Relname))
	switch role {
	case roleLocal:
		return &Plan{Kind: KindDefault}
	case roleReference:
		if c.IsFrom && c.Filename == "" && !c.IsProgram {
			// Every row to every shard, in one two-phase transaction.
			p := copyInPlan(c, nil)
			if p.Copy != nil {
				p.Copy.Broadcast = true
			}
			return p
		}
		if c.IsFrom {
			return &Plan{Kind: KindAll}
		}
		return &Plan{Kind: KindAny}
	}
	if c.IsFrom {
		return copyInPlan(c, t)
	}
	if c.Filename != "" || c.IsProgram {
		return refuse(codeFeatureNotSupported, fmt.Sprintf("pgshard: COPY %s TO a server file reads every shard", t), "Use COPY ... TO STDOUT.")
	}
	// COPY TO STDOUT: every shard's rows, one shard after the other.
	p := copyInPlan(c, t)
	if p.Kind == KindRefuse {
		return p
	}
	p.Kind = KindCopyOut
	p.Read = true
	return p
}

// positionalInsert plans an INSERT without a column list: every value that
// could be the key is recorded, and the route picks the key's position once
// the wire layer has read the table's column order.
func (a *analyzer) positionalInsert(p *Plan, ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt) *Plan {
	split := &insertSplit{Table: t, Relation: TableRef{Table: t, Schema: ins.Relation.Schemaname, Name: ins.Relation.Relname}}
	for _, row := range sel.ValuesLists {
		items := row.GetList().GetItems()
		vals := make([]rowValue, len(items))
		for i, it := range items {
			if c := it.GetAConst(); c != nil && c.Isnull {
				vals[i].null = true
				continue
			}
			vals[i].Source, vals[i].ok = a.keySource(it, t.KeyType, domKey)
			vals[i].assign = true
		}
		split.ByPosition = append(split.ByPosition, vals)
	}
	if _, refused := a.rowReads(ins, t, nil); refused != nil {
		return refused
	}
	p.Kind = KindShard
	p.Insert = split
	p.Exact = a.exact
	return p
}

// atPosition is the insert with the key taken from position key of every
// row; nil and the refusal when a row's key is missing, NULL or computed.
func (ins *insertSplit) atPosition(key int) (*insertSplit, *Error) {
	out := &insertSplit{Table: ins.Table, Rows: make([]Source, 0, len(ins.ByPosition))}
	t := ins.Table
	for n, row := range ins.ByPosition {
		switch {
		case key >= len(row):
			return nil, &Error{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: row %d of INSERT into sharded table %s does not set its shard key %s (column %d)", n+1, t, t.Key, key+1),
				Hint:    fmt.Sprintf("Give a value for %s: a row's key decides its shard.", t.Key)}
		case row[key].null:
			return nil, &Error{Code: codeNullKey, Message: nullKeyMessage(t, n), Hint: "Every row of a sharded table needs a shard key."}
		case !row[key].ok:
			return nil, &Error{Code: codeFeatureNotSupported, Message: keyExpressionMessage(t, n), Hint: "Compute the key in the application and pass it as a value."}
		}
		out.Rows = append(out.Rows, row[key].Source)
	}
	return out, nil
}

// needColumnsError is the answer when nobody told the route where the key
// is in an INSERT without a column list (pgshard route has no server to ask).
func needColumnsError(t *Table) *Error {
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: INSERT into sharded table %s without a column list: which value is shard key %s depends on the table's column order on the servers", t, t.Key),
		Hint:    fmt.Sprintf("Write INSERT INTO %s (%s, ...) VALUES (...).", t.Name, t.Key)}
}

func nullKeyMessage(t *Table, row int) string {
	return fmt.Sprintf("pgshard: null value in shard key column %s of row %d of INSERT into %s", t.Key, row+1, t)
}

func keyExpressionMessage(t *Table, row int) string {
	return fmt.Sprintf("pgshard: row %d of INSERT into %s gives shard key %s as an expression; pgshard needs a constant or a parameter", row+1, t, t.Key)
}

// withIntoSelect moves an INSERT's WITH clause into its SELECT: WITH x AS
// (...) INSERT INTO t SELECT ... FROM x means INSERT INTO t WITH x AS (...)
// SELECT ... FROM x when every CTE only reads, and the SELECT is then
// planned (co-located, moved or staged) with its CTEs. With writes, CTEs
// that write move too: PostgreSQL would not take the result (a WITH that
// writes belongs at the top), but the analyzer plans it as the SELECT's,
// whose shards are the writes' (a DELETE ... RETURNING whose rows the
// INSERT archives on their own shard); the statement sent is the
// client's. False when the INSERT has a WITH clause that cannot move: a
// CTE that writes (unless writes), a VALUES list, a SELECT with a WITH
// clause of its own.
func withIntoSelect(ins *pg.InsertStmt, writes bool) bool {
	w := ins.WithClause
	if w == nil {
		return true
	}
	sel := ins.SelectStmt.GetSelectStmt()
	if sel == nil || len(sel.ValuesLists) > 0 || sel.WithClause != nil {
		return false
	}
	if !writes && writingCTE(w) {
		return false
	}
	sel.WithClause, ins.WithClause = w, nil
	return true
}

// valuesWithInlined inlines the CTEs of WITH x AS (SELECT ...) INSERT ...
// VALUES (..., (SELECT ... FROM x)) into the VALUES' subqueries, as
// PostgreSQL does with a CTE that only reads and is referenced once, so
// they are planned (or staged) as the subqueries they are. False when
// they cannot be (inlineCTEs); true for any other INSERT.
func valuesWithInlined(ins *pg.InsertStmt) bool {
	sel := ins.SelectStmt.GetSelectStmt()
	if ins.WithClause == nil || sel == nil || len(sel.ValuesLists) == 0 {
		return true
	}
	return inlineCTEs(&pg.Node{Node: &pg.Node_InsertStmt{InsertStmt: ins}}, &ins.WithClause)
}

// writingCTE says whether a CTE of w writes (INSERT, UPDATE, DELETE or
// MERGE ... RETURNING).
func writingCTE(w *pg.WithClause) bool {
	return w != nil && slices.ContainsFunc(w.Ctes, func(c *pg.Node) bool {
		return c.GetCommonTableExpr().GetCtequery().GetSelectStmt() == nil
	})
}

// insertSelect plans INSERT INTO t (..., key, ...) SELECT ... whose value for
// t's key is the shard key of a table the SELECT reads (of the same key
// type): every row a shard selects has a key that shard owns, so each
// shard inserts its own rows, and the statement runs on the shards the
// SELECT needs — atomically when they are several. Anything the SELECT
// computes must then be exact per shard, as for a subquery.
func (a *analyzer) insertSelect(ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt, keyCol int) *Plan {
	if p := a.arrayInsert(ins, t, sel, keyCol); p != nil {
		return p
	}
	if p := a.movePlan(ins, t, sel, keyCol); p != nil {
		return p
	}
	refuseIt := func(why string) *Plan {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT ... SELECT into sharded table %s: %s", t, why),
			fmt.Sprintf("Select %s from a table sharded on the same kind of key, so each row stays on its shard, or insert the rows with VALUES or COPY.", t.Key))
	}
	switch {
	case keyCol < 0 && len(ins.Cols) > 0:
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT into sharded table %s does not set its shard key %s", t, t.Key),
			fmt.Sprintf("Include %s in the column list: a row's key decides its shard (pgshard takes it from the column's sequence itself only when the SELECT reads no sharded table).", t.Key))
	case keyCol < 0:
		return refuseIt(fmt.Sprintf("list the target columns, so pgshard can find shard key %s", t.Key))
	case sel.Op != pg.SetOperation_SETOP_NONE:
		return refuseIt("the rows come from a UNION, INTERSECT or EXCEPT")
	}
	target := a.addRel(ins.Relation)
	sc := &scope{}
	a.selectStmt(sel, sc)
	if keyCol >= len(sel.TargetList) {
		return refuse(codeSyntax, "INSERT has more target columns than expressions", "")
	}
	if why := a.subqueryMerge(sel, sc); why != "" {
		return refuseIt(strings.TrimSuffix(why, " in a subquery") + " over rows of several shards")
	}
	if why := a.unmergeable(); why != "" {
		return refuseIt(why)
	}
	src, ok := a.keyColumn(sel.TargetList[keyCol].GetResTarget().GetVal(), sc)
	if !ok || !slices.Contains(sc.rels, src) || a.rels[src].table.KeyType != t.KeyType {
		return refuseIt(fmt.Sprintf("the value for %s is not the shard key of a table the SELECT reads", t.Key))
	}
	a.union(target, src)
	for _, r := range ins.ReturningList {
		a.expr(r, sc)
	}
	p := a.decide("INSERT")
	if p.Kind == KindScatter {
		p.Kind = KindAll
	}
	p.Exact = p.Exact || a.exact
	return p
}

// movePlan plans INSERT ... SELECT into sharded table t whose SELECT reads
// no sharded table (unsharded tables, reference tables, functions such as
// generate_series): the rows exist on one shard and their keys are known
// only once computed, so pgshard reads them there (COPY (SELECT) TO
// STDOUT) and sends each to the shard owning its key (a split COPY into
// t), atomically. Nil when the SELECT reads sharded tables: co-located
// INSERT ... SELECT takes over.
func (a *analyzer) movePlan(ins *pg.InsertStmt, t *Table, sel *pg.SelectStmt, keyCol int) *Plan {
	selPlan := a.schema.build(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}, a.lits, a.version)
	if selPlan.Kind != KindDefault && selPlan.Kind != KindAny {
		return nil
	}
	sourceKind := selPlan.Kind
	refuseIt := func(why string) *Plan {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT ... SELECT into sharded table %s from rows that are not sharded: %s", t, why),
			"pgshard moves such rows to their shards with COPY; insert them without it, or COPY them out and in yourself.")
	}
	switch {
	case ins.OnConflictClause != nil:
		return refuseIt("ON CONFLICT is not supported")
	case len(ins.ReturningList) > 0:
		return refuseIt("RETURNING is not supported")
	case ins.WithClause != nil:
		return refuseIt("a WITH clause on the INSERT is not supported (put it in the SELECT)")
	case writingCTE(sel.WithClause):
		// The rows would be read out and copied in, not in one statement.
		return refuseIt("a WITH query that writes is not supported")
	case hasParams(sel):
		return refuseIt("parameters ($n) are not supported; use literals")
	}
	cols := make([]*pg.Node, 0, len(ins.Cols)+1)
	if keyCol < 0 && len(ins.Cols) > 0 {
		// The key is left to its default: the rows take it from the
		// sequence behind the column on the default shard, where the
		// SELECT then runs, one sequence for every shard (genkeys.go).
		if t.KeyType != shard.KeyInt {
			return refuseIt(fmt.Sprintf("it leaves shard key %s to the column's default, which pgshard takes first for an integer key from its sequence only", t.Key))
		}
		var ok bool
		if sel, ok = withSequenceKey(sel, ins.Relation, t.Key); !ok {
			return refuseIt("pgshard could not add the key to its SELECT")
		}
		cols = append(cols, pg.MakeStrNode(t.Key))
		sourceKind = KindDefault
	}
	for _, c := range ins.Cols {
		if rt := c.GetResTarget(); rt != nil && len(rt.Indirection) == 0 {
			cols = append(cols, pg.MakeStrNode(rt.Name))
			continue
		}
		return refuseIt("a target column with a subscript or field is not supported")
	}
	into := &pg.CopyStmt{Relation: ins.Relation, Attlist: cols, IsFrom: true}
	p := copyInPlan(into, t)
	if p.Kind != KindCopyIn {
		return p
	}
	target, err1 := pg.Deparse(&pg.ParseResult{Version: a.version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_CopyStmt{CopyStmt: into}}}}})
	source, err2 := pg.Deparse(&pg.ParseResult{Version: a.version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_CopyStmt{CopyStmt: &pg.CopyStmt{
		Query: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}}}}})
	if err1 != nil || err2 != nil {
		return refuseIt("pgshard could not write it as COPY")
	}
	p.Command = "INSERT"
	p.Move = &Move{Source: source, SourceKind: sourceKind, Target: target}
	p.Exact = true // the texts embed the statement's constants
	return p
}

// hasParams reports whether n holds a $n parameter anywhere.
func hasParams(sel *pg.SelectStmt) bool {
	found := false
	visit(&pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}, func(n *pg.Node) bool {
		found = found || n.GetParamRef() != nil
		return !found
	})
	return found
}

// defaultKey reports whether a row of sel gives DEFAULT as its key (item
// keyCol).
func defaultKey(sel *pg.SelectStmt, keyCol int) bool {
	for _, row := range sel.ValuesLists {
		if items := row.GetList().GetItems(); keyCol < len(items) && items[keyCol].GetSetToDefault() != nil {
			return true
		}
	}
	return false
}

// conflictTarget refuses ON CONFLICT (columns) on a sharded table whose
// columns leave out the shard key: the arbiter index, a unique index on
// exactly those columns, is then enforced by each shard over its own rows
// only, so a conflicting row on another shard would go unseen (one
// PostgreSQL would update it or skip the insert). ON CONFLICT ON
// CONSTRAINT is refused when the catalog says the constraint leaves out
// the key, and a bare ON CONFLICT DO NOTHING, whose arbiters are every
// unique index, when the catalog lists such an index for the table
// (uniques.go).
func (s *Schema) conflictTarget(ins *pg.InsertStmt, t *Table) *Error {
	oc := ins.OnConflictClause
	if oc == nil {
		return nil
	}
	if oc.Infer == nil {
		return s.keylessArbiters(t, ins)
	}
	if oc.Infer.Conname != "" {
		return s.keylessConstraint(t, oc.Infer.Conname)
	}
	if len(oc.Infer.IndexElems) == 0 {
		return nil
	}
	var cols []string
	for _, n := range oc.Infer.IndexElems {
		e := n.GetIndexElem()
		if e == nil {
			return nil
		}
		if e.Expr == nil && strings.EqualFold(e.Name, t.Key) {
			return nil
		}
		if e.Expr != nil {
			cols = append(cols, "an expression")
		} else {
			cols = append(cols, e.Name)
		}
	}
	return &Error{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("pgshard: ON CONFLICT (%s) on sharded table %s: a unique index without the shard key %s is enforced by each shard over its own rows only, so a conflicting row on another shard would not be found", strings.Join(cols, ", "), t, t.Key),
		Hint:    fmt.Sprintf("Include %s in the unique index and the conflict target: ON CONFLICT (%s, ...).", t.Key, t.Key)}
}
