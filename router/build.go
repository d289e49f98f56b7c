package router

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// build plans one parsed statement.
func (s *Schema) build(stmt *pg.Node, lits []sqltext.Literal, version int32) *Plan {
	return s.buildThrough(stmt, lits, version, nil)
}

// buildThrough is build, planning reads of the views (by name) through
// their queries (views.go).
func (s *Schema) buildThrough(stmt *pg.Node, lits []sqltext.Literal, version int32, views map[string]*pg.Node) *Plan {
	a := newAnalyzer(s, lits, version, views)
	p := s.buildWith(a, stmt, lits, version)
	if p != nil {
		s.finish(p, a, stmt)
		s.withZeroOffsets(p, a, stmt, lits, version, views)
	}
	return p
}

func newAnalyzer(s *Schema, lits []sqltext.Literal, version int32, views map[string]*pg.Node) *analyzer {
	return &analyzer{schema: s, lits: lits, ctes: map[string]bool{}, walked: map[*pg.SubLink]bool{}, filtering: map[*pg.SubLink]bool{}, ctxUp: []int{0}, ctxCTE: []bool{false}, version: version, views: views}
}

// finish records in p what a found beyond the plan itself.
func (s *Schema) finish(p *Plan, a *analyzer, stmt *pg.Node) {
	if p.calls == nil {
		p.calls = a.calls
	}
	if p.Kind != KindRefuse && p.Kind != KindAll {
		p.through = append(a.expanded, p.through...)
		p.locals = s.localRelations(stmt, p.through)
	}
}

func (s *Schema) buildWith(a *analyzer, stmt *pg.Node, lits []sqltext.Literal, version int32) *Plan {
	switch {
	case stmt.GetSelectStmt() != nil && stmt.GetSelectStmt().IntoClause != nil:
		// SELECT ... INTO creates a table: DDL, run on every shard like
		// CREATE TABLE ... AS, and never a read a replica could serve.
		if p := a.createFromShards(stmt, "SELECT ... INTO"); p != nil {
			return p
		}
		return &Plan{Kind: KindAll, Command: "SELECT", DDL: true}
	case stmt.GetCreateTableAsStmt() != nil && stmt.GetCreateTableAsStmt().Query.GetSelectStmt() != nil:
		ctas := stmt.GetCreateTableAsStmt()
		what := "CREATE TABLE ... AS"
		if ctas.Objtype == pg.ObjectType_OBJECT_MATVIEW {
			// Its REFRESH would fill it on each shard from that shard's
			// rows, WITH NO DATA or not.
			what = "CREATE MATERIALIZED VIEW"
		} else if ctas.Into.GetSkipData() {
			return &Plan{Kind: KindAll, DDL: true} // the columns only
		}
		if p := a.createFromShards(ctas.Query, what); p != nil {
			return p
		}
		return &Plan{Kind: KindAll, DDL: true}
	case stmt.GetSelectStmt() != nil:
		sel := stmt.GetSelectStmt()
		a.top = &scope{}
		a.selectStmt(sel, a.top)
		// A UNION's own DISTINCT makes the repeats of a branch without
		// sharded rows one again.
		if !a.rowsFromShards(stmt) && !(sel.Op == pg.SetOperation_SETOP_UNION && !sel.All) {
			a.foreignRows = "a query whose rows do not all come from sharded tables (a reference table's rows, or a SELECT without FROM, would repeat on every shard)"
		}
		if a.outerJoinRepeats(stmt) {
			a.foreignRows = "an outer join that keeps the rows of a table that is not sharded (each shard would return those matching none of its own rows)"
		}
		p := a.decide("SELECT")
		if p.Kind == KindRefuse {
			return p
		}
		if dml := a.dmlInSelect(p); dml != nil {
			return dml
		}
		p.Read = !a.locks && !a.writes
		if a.writes && p.Kind == KindAny {
			p.Kind = KindDefault
		}
		if a.advisory != "" && p.Kind != KindDefault {
			// Advisory locks are one lock space, the default shard's, as
			// one server's: a lock taken where some rows live would not
			// exclude the same lock taken anywhere else.
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: %s in a query over sharded tables would take the lock on their shard; advisory locks live on the default shard", a.advisory),
				"Take the lock in a statement of its own, e.g. SELECT "+a.advisory+"(...).")
		}
		if p.Kind == KindScatter || p.Kind == KindShard && a.mayFanOut() {
			if why := a.unmergeable(); why != "" {
				if p.Kind == KindScatter {
					return refuseScatter(why, a)
				}
				p.mergeErr = "pgshard: cannot merge " + why + " across shards"
			} else if err := a.mergePlan(p, stmt); err != nil {
				if p.Kind == KindScatter {
					return refuse(codeFeatureNotSupported, err.Error(), scatterHint(a))
				}
				p.mergeErr = err.Error()
			}
		}
		p.Exact = p.Exact || a.exact
		return p
	case stmt.GetInsertStmt() != nil, stmt.GetUpdateStmt() != nil, stmt.GetDeleteStmt() != nil:
		return a.writePlan(stmt)
	case s.Shards > 1 && importsSnapshot(stmt):
		// A snapshot is one server's: imported on another shard it is an
		// unknown identifier, and pg_dump -j's workers would fail on their
		// first statement over every shard with a misleading lock error.
		return refuse(codeFeatureNotSupported,
			"pgshard: SET TRANSACTION SNAPSHOT is not supported in a database of several shards: snapshots are per shard",
			"pg_dump -j shares its snapshot with its workers this way: run pg_dump through pgshard without -j.")
	case s.Shards > 1 && sqlPrepared(stmt):
		// The wire layer keeps such statements per client and routes
		// EXECUTE by its arguments when one comes as a query of its own
		// (wire/sqlprepared.go); with other statements, or through the
		// extended protocol, the session's current shard would run it
		// whatever shard holds the rows its parameters name.
		return refuse(codeFeatureNotSupported,
			"pgshard: SQL-level PREPARE, EXECUTE and DEALLOCATE of a named statement must be sent as a simple query of its own in a database of several shards",
			"Send it alone, or use protocol-level prepared statements (Parse/Bind/Execute, as drivers do).")
	case stmt.GetListenStmt() != nil:
		// A listener listens on every shard: a NOTIFY runs where its
		// session is (in a transaction, with the transaction's writes), and
		// pg_notify() on the default shard.
		return &Plan{Kind: KindAll, Command: "LISTEN", Channel: stmt.GetListenStmt().Conditionname}
	case stmt.GetUnlistenStmt() != nil:
		// UNLISTEN * has no channel.
		return &Plan{Kind: KindAll, Command: "UNLISTEN", Channel: stmt.GetUnlistenStmt().Conditionname}
	case setValue(stmt.GetVariableSetStmt()) != nil:
		if p := s.settingRefused(stmt.GetVariableSetStmt().Name, constText(setValue(stmt.GetVariableSetStmt()))); p != nil {
			return p
		}
		return &Plan{Kind: KindSession}
	case stmt.GetTransactionStmt() != nil, stmt.GetVariableSetStmt() != nil, stmt.GetVariableShowStmt() != nil,
		stmt.GetDiscardStmt() != nil, stmt.GetDeallocateStmt() != nil, stmt.GetPrepareStmt() != nil,
		stmt.GetExecuteStmt() != nil, stmt.GetNotifyStmt() != nil, stmt.GetFetchStmt() != nil,
		stmt.GetClosePortalStmt() != nil, stmt.GetLoadStmt() != nil, stmt.GetConstraintsSetStmt() != nil:
		return &Plan{Kind: KindSession}
	case stmt.GetExplainStmt() != nil:
		return s.explainPlan(stmt, lits, version, a.views)
	case stmt.GetDeclareCursorStmt() != nil:
		return s.declarePlan(stmt.GetDeclareCursorStmt(), lits, version, a.views)
	case stmt.GetCopyStmt() != nil:
		return a.copyPlan(stmt.GetCopyStmt())
	case stmt.GetTruncateStmt() != nil:
		sc := &scope{}
		for _, r := range stmt.GetTruncateStmt().Relations {
			a.fromItem(r, sc)
		}
		if a.onlyLocal() {
			return &Plan{Kind: KindDefault}
		}
		return &Plan{Kind: KindAll}
	case stmt.GetMergeStmt() != nil:
		return a.mergeStmtPlan(stmt.GetMergeStmt())
	case stmt.GetDoStmt() != nil:
		return s.doPlan(stmt.GetDoStmt())
	case stmt.GetCallStmt() != nil:
		return a.callPlan(stmt.GetCallStmt())
	}
	// Everything else is DDL or maintenance: the schema is the same on
	// every shard.
	return &Plan{Kind: KindAll, DDL: true}
}

// mergeStmtPlan plans MERGE by its target's role. Into a sharded table it
// runs where its co-located source is (shardedMerge). Into a reference
// table it runs on every shard and answers once, provided its source is
// the same everywhere.
func (a *analyzer) mergeStmtPlan(m *pg.MergeStmt) *Plan {
	t := m.Relation
	role, table := a.schema.lookup(strings.ToLower(t.Schemaname), strings.ToLower(t.Relname))
	switch role {
	case roleSharded:
		return a.shardedMerge(m, table)
	case roleReference:
		a.mergeReads(m)
		if p := a.decide("MERGE"); p.Kind == KindRefuse || len(p.Tables) > 0 {
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: MERGE into reference table %s reads a table that differs between shards; a reference table's copies must stay identical", t.Relname),
				"Merge from constants or other reference tables only.")
		}
		return &Plan{Kind: KindAll, Command: "MERGE", Replicated: true, Exact: a.exact}
	}
	// An unsharded table lives on the default shard, which holds only its
	// own part of any sharded source.
	a.mergeReads(m)
	if p := a.decide("MERGE"); p.Kind != KindDefault && p.Kind != KindAny {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: MERGE into %s from a sharded table is not supported", t.Relname),
			"Merge from constants, reference tables or tables on the default shard.")
	}
	return &Plan{Kind: KindDefault, Command: "MERGE", Exact: a.exact}
}

// mergeReads records what a MERGE reads besides its target: its WITH
// queries, its source, and the subqueries of its join condition and WHEN
// clauses (WHEN MATCHED THEN UPDATE SET name = (SELECT max(name) FROM
// users) would set each shard's copy from that shard's users).
func (a *analyzer) mergeReads(m *pg.MergeStmt) {
	sc := &scope{}
	a.with(m.WithClause, sc)
	a.fromItem(m.SourceRelation, sc)
	a.expr(m.JoinCondition, sc)
	for _, w := range m.MergeWhenClauses {
		a.expr(w, sc)
	}
}

// dmlInSelect plans a SELECT with a data-modifying WITH, or returns nil
// when it has none or the ordinary plan serves. A write to a reference table
// must reach every copy: the statement runs on every shard, atomically, and
// answers once (Replicated), provided it reads nothing that differs
// between shards. A write to a sharded table must name its key: over every
// shard it would run outside the two-phase commit that guards such writes.
func (a *analyzer) dmlInSelect(p *Plan) *Plan {
	switch {
	case a.refWrite != "" && len(p.Tables) > 0:
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: a WITH clause writes reference table %s while the query reads table %s; a reference table's copies must stay identical", a.refWrite, p.Tables[0]),
			"Write the reference table in a statement of its own.")
	case a.refWrite != "":
		return &Plan{Kind: KindAll, Command: "SELECT", Replicated: true, Exact: a.exact}
	case a.nestedDML != "" && p.Kind == KindScatter:
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: a WITH clause writes sharded table %s without a condition on its shard key; it would run on every shard", a.nestedDML),
			"Add a shard key condition to the data-modifying WITH query.")
	}
	return nil
}

// decide turns the relations and pins found into a plan kind.
func (a *analyzer) decide(command string) *Plan {
	if a.unrouted != "" {
		return keyless(refuse(codeFeatureNotSupported, a.unrouted, a.unroutedHint))
	}
	p := &Plan{Command: command}
	var sharded, local []string
	for i := range a.rels {
		r := &a.rels[i]
		switch r.role {
		case roleSharded:
			if !r.derived {
				sharded = append(sharded, r.name)
				if !slices.Contains(p.keyed, r.table) {
					p.keyed = append(p.keyed, r.table)
				}
			}
		case roleLocal:
			local = append(local, r.name)
		}
	}
	p.Tables = append(sharded, local...)
	switch {
	case len(sharded) == 0 && len(local) > 0:
		p.Kind = KindDefault
		return p
	case len(sharded) == 0:
		p.Kind = KindAny
		return p
	case len(local) > 0:
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: %s combines sharded table %s with table %s, which lives only on the default shard", command, sharded[0], local[0]),
			fmt.Sprintf("Declare %s a reference table (copied to every shard) or shard it on the same key.", local[0]))
	}
	// One Pin per co-location class; a class with no pin scatters.
	var order []int
	members := map[int][]int{}
	for i := range a.rels {
		if a.rels[i].role != roleSharded {
			continue
		}
		root := a.find(i)
		if members[root] == nil {
			order = append(order, root)
		}
		members[root] = append(members[root], i)
	}
	roots := map[int]*Pin{}
	unpinned := map[int]bool{}
	for _, root := range order {
		for _, p := range a.classPins(members[root]) {
			if pin := roots[root]; pin == nil || len(p.vals) < len(pin.Values) {
				roots[root] = &Pin{Table: a.rels[p.rel].table, Values: p.vals}
			}
		}
		if roots[root] == nil {
			unpinned[root] = true
		}
	}
	classes := len(order)
	if len(unpinned) > 0 {
		if classes > 1 && a.nested != "" {
			return refuse(codeFeatureNotSupported, "pgshard: cannot merge "+a.nested+" over rows of sharded tables across shards", scatterHint(a))
		}
		if classes > 1 && !a.setop {
			var names []string
			for _, root := range order {
				names = append(names, a.rels[root].name)
			}
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: %s joins sharded tables %s without equating their shard keys, so matching rows may be on different shards", command, strings.Join(names, " and ")),
				"Join sharded tables on their shard key (e.g. a.user_id = b.user_id), or pin every one to the same key value.")
		}
		p.Kind = KindScatter
		return p
	}
	if a.nestedSpread != "" {
		// Pinned, but through a subquery that reads other shards' rows
		// before the pin applies to them.
		return refuseScatter(a.nestedSpread+" over rows of sharded tables", a)
	}
	p.Kind = KindShard
	for _, root := range order {
		p.Class = append(p.Class, *roots[root])
	}
	p.setop = a.setop
	return p
}

// mayFanOut says whether a pinned plan can still reach several shards.
func (a *analyzer) mayFanOut() bool { return true }

// unmergeable names a construct whose result on several shards cannot be
// combined into the one-server answer.
func (a *analyzer) unmergeable() string {
	switch {
	case a.window != "":
		return fmt.Sprintf("window function %s() over rows of sharded tables", a.window)
	case a.nested != "":
		return a.nested + " over rows of sharded tables"
	case a.foreignRows != "":
		return a.foreignRows
	}
	return ""
}

// keyless marks a refusal that only a shard key was missing for: a
// session's SET pgshard.shard_key routes such a statement.
func keyless(p *Plan) *Plan {
	p.keyless = true
	return p
}

func refuseScatter(why string, a *analyzer) *Plan {
	hint := scatterHint(a)
	if why == a.foreignRows && hint != "" {
		hint = "Read the sharded table in FROM (to test for rows: SELECT 1 FROM it WHERE ... LIMIT 1), or " +
			strings.ToLower(hint[:1]) + hint[1:]
	}
	return refuse(codeFeatureNotSupported, "pgshard: cannot merge "+why+" across shards", hint)
}

func scatterHint(a *analyzer) string {
	for _, r := range a.rels {
		if r.role == roleSharded {
			return fmt.Sprintf("Add a condition on %s.%s so the query runs on one shard.", r.name, r.table.Key)
		}
	}
	return ""
}

func (a *analyzer) onlyLocal() bool {
	for _, r := range a.rels {
		if r.role != roleLocal {
			return false
		}
	}
	return true
}

// dml walks an INSERT, UPDATE or DELETE for its relations and pins.
func (a *analyzer) dml(n *pg.Node, sc *scope) {
	switch {
	case n.GetInsertStmt() != nil:
		ins := n.GetInsertStmt()
		a.with(ins.WithClause, sc)
		if i := a.addRel(ins.Relation); i >= 0 {
			sc.rels = append(sc.rels, i)
		}
		a.query(ins.SelectStmt, &scope{parent: sc.parent})
		if oc := ins.OnConflictClause; oc != nil {
			for _, t := range oc.TargetList {
				a.expr(t, sc)
			}
			a.expr(oc.WhereClause, sc)
		}
		for _, t := range ins.ReturningList {
			a.expr(t, sc)
		}
	case n.GetUpdateStmt() != nil:
		up := n.GetUpdateStmt()
		a.with(up.WithClause, sc)
		if i := a.addRel(up.Relation); i >= 0 {
			sc.rels = append(sc.rels, i)
		}
		a.fromList(up.FromClause, sc)
		a.conjuncts(up.WhereClause, sc)
		a.markFilters(up.WhereClause)
		a.expr(up.WhereClause, sc)
		for _, t := range up.TargetList {
			a.expr(t, sc)
		}
		for _, t := range up.ReturningList {
			a.expr(t, sc)
		}
	case n.GetDeleteStmt() != nil:
		del := n.GetDeleteStmt()
		a.with(del.WithClause, sc)
		if i := a.addRel(del.Relation); i >= 0 {
			sc.rels = append(sc.rels, i)
		}
		a.fromList(del.UsingClause, sc)
		a.conjuncts(del.WhereClause, sc)
		a.markFilters(del.WhereClause)
		a.expr(del.WhereClause, sc)
		for _, t := range del.ReturningList {
			a.expr(t, sc)
		}
	}
}

// writePlan plans INSERT, UPDATE and DELETE.
func (a *analyzer) writePlan(stmt *pg.Node) *Plan {
	var target *pg.RangeVar
	var command string
	switch {
	case stmt.GetInsertStmt() != nil:
		target, command = stmt.GetInsertStmt().Relation, "INSERT"
	case stmt.GetUpdateStmt() != nil:
		target, command = stmt.GetUpdateStmt().Relation, "UPDATE"
	default:
		target, command = stmt.GetDeleteStmt().Relation, "DELETE"
	}
	role, table := a.schema.lookup(strings.ToLower(target.Schemaname), strings.ToLower(target.Relname))
	a.writes = true
	if ins := stmt.GetInsertStmt(); ins != nil && role == roleSharded {
		return a.insertPlan(ins, table)
	}
	// The write is the top level, as a SELECT is: a derived table in its
	// FROM or USING list is nested, and what it computes over several
	// shards must be merged.
	a.depth++
	a.dml(stmt, &scope{})
	a.depth--
	var newKeys []Source
	if up := stmt.GetUpdateStmt(); up != nil && role == roleSharded {
		// SET user_id = user_id or users.user_id (or the alias's) keeps it.
		self := strings.ToLower(visibleName(up.Relation))
		var e *Error
		isKey := func(n *pg.Node) bool { return sameColumn(n, table.Key, true, self) }
		newKeys, e = a.keyAssignments(up.TargetList, table, "UPDATE", func(n *pg.Node) bool {
			return isKey(n) || equatedBy(up.WhereClause, n, isKey)
		})
		if e != nil {
			return &Plan{Kind: KindRefuse, Err: e}
		}
	}
	p := a.decide(command)
	if len(newKeys) > 0 {
		p.newKeys = &keyWrite{Pin: Pin{Table: table, Values: newKeys}, command: "UPDATE", schema: a.schema}
		p.keyMove = a.schema.movable(stmt.GetUpdateStmt())
	}
	p.Exact = p.Exact || a.exact
	switch {
	case p.Kind == KindRefuse:
		return p
	case role == roleReference:
		if len(p.Tables) > 0 {
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: %s of reference table %s reads table %s; a reference table's copies must stay identical", command, target.Relname, p.Tables[0]),
				"Write reference tables from constants or other reference tables only.")
		}
		p.Kind = KindAll
		p.Replicated = true
	case a.refWrite != "":
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: %s of %s writes reference table %s in a WITH clause; a reference table is written on every shard", command, target.Relname, a.refWrite),
			"Write the reference table in a statement of its own.")
	case role == roleLocal && p.Kind == KindAny:
		p.Kind = KindDefault
	case p.Kind == KindScatter && !a.schema.KeylessWrites:
		kp := keyless(refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: %s of sharded table %s without a condition on its shard key %s would touch every shard", command, table, table.Key),
			fmt.Sprintf("Add WHERE %s = ... (or IN (...)), or set sharding.keyless_writes: all_shards to allow it.", table.Key)))
		kp.newKeys = p.newKeys // for a hint's shard
		return kp
	}
	return a.spreadWrite(p)
}

// spreadWrite finishes the plan of a write over sharded rows that may run
// on several shards: without a key on every shard (KindAll), provided
// nothing in it needs merging; with keys on several shards, the same,
// found when they are bound.
func (a *analyzer) spreadWrite(p *Plan) *Plan {
	switch p.Kind {
	case KindScatter:
		if why := a.unmergeable(); why != "" {
			// Each shard would compute it from its own rows: WHERE
			// user_id IN (SELECT user_id ... LIMIT 3) would take three
			// keys per shard. Staging may answer it (stage.go).
			return keyless(refuseScatter(why, a))
		}
		p.Kind = KindAll
	case KindShard:
		if why := a.unmergeable(); why != "" {
			p.mergeErr = "pgshard: cannot merge " + why + " across shards"
		}
	}
	return p
}

// doPlan plans a DO block: it runs on one server, the default shard.
// pgshard cannot route the statements inside it, so a block that names a
// sharded or reference table would read or write that table's copy on
// the default shard only (rows landing there whatever their key, one
// reference copy drifting from the others): refused, unless a shard hint
// says where to run it.
func (s *Schema) doPlan(d *pg.DoStmt) *Plan {
	if s.Shards < 2 {
		return &Plan{Kind: KindDefault}
	}
	// The block is a literal: its plan holds for its text only.
	for _, arg := range d.Args {
		de := arg.GetDefElem()
		if de == nil || de.Defname != "as" {
			continue
		}
		for _, word := range strings.FieldsFunc(strings.ToLower(de.Arg.GetString_().GetSval()), notIdentByte) {
			if len(s.sharded[word]) > 0 || len(s.reference[word]) > 0 {
				p := keyless(refuse(codeFeatureNotSupported,
					fmt.Sprintf("pgshard: a DO block runs on the default shard only, and names table %s, which lives on every shard", word),
					"Send its statements as statements (pgshard routes each), or add /* pgshard: shard=N */ to run the block on one shard."))
				p.Exact = true
				return p
			}
		}
	}
	return &Plan{Kind: KindDefault, Exact: true}
}

// notIdentByte reports whether r cannot be part of an unquoted identifier.
func notIdentByte(r rune) bool {
	return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '$' || r >= 0x80)
}

// importsSnapshot says whether stmt is SET TRANSACTION SNAPSHOT.
func importsSnapshot(stmt *pg.Node) bool {
	v := stmt.GetVariableSetStmt()
	return v != nil && v.Name == "TRANSACTION SNAPSHOT"
}

// sqlPrepared says whether stmt is a SQL-level PREPARE, EXECUTE or
// DEALLOCATE of one named statement (DEALLOCATE ALL touches nothing
// pgshard routes).
func sqlPrepared(stmt *pg.Node) bool {
	if d := stmt.GetDeallocateStmt(); d != nil {
		return d.Name != "" && !d.Isall
	}
	return stmt.GetPrepareStmt() != nil || stmt.GetExecuteStmt() != nil
}

// setValue is the constant a SET gives its parameter, or nil.
func setValue(vs *pg.VariableSetStmt) *pg.A_Const {
	if vs == nil || vs.Kind != pg.VariableSetKind_VAR_SET_VALUE || len(vs.Args) != 1 {
		return nil
	}
	return vs.Args[0].GetAConst()
}

// SettingRefusal is why parameter name may not be set to value in this
// database (see settingRefused), or nil: for a client's startup
// parameters.
func (s *Schema) SettingRefusal(name, value string) *Error {
	if p := s.settingRefused(name, value); p != nil {
		return p.Err
	}
	return nil
}

// settingRefused is the refusal of setting parameter name to value, when
// pgshard could no longer read the session's strings as the server does:
// standard_conforming_strings off (libpg_query reads them with it on), or
// a client_encoding other than UTF-8 where text keys are hashed.
func (s *Schema) settingRefused(name, value string) *Plan {
	switch strings.ToLower(name) {
	case "standard_conforming_strings":
		if v := strings.ToLower(strings.TrimSpace(value)); v == "off" || v == "0" || v != "" && (strings.HasPrefix("false", v) || strings.HasPrefix("no", v)) {
			return refuse(codeFeatureNotSupported,
				"pgshard: standard_conforming_strings must stay on: pgshard reads string literals as PostgreSQL does with it on, and with it off a backslash in a string would mean something else to the server",
				"Write strings with backslash escapes as E'...'.")
		}
	case "client_encoding":
		if s.TextKeys() && !IsUTF8Encoding(value) {
			return refuse(codeFeatureNotSupported,
				"pgshard: client_encoding must stay UTF8 in a database sharded by text keys: a key is hashed from its UTF-8 bytes, and the same string in another encoding would land on another shard",
				"Send UTF-8 and let the application convert; the servers may store any encoding.")
		}
	}
	return nil
}

// IsUTF8Encoding says whether name is one of PostgreSQL's names for UTF-8
// (compared as pg_char_to_encoding compares them: case and punctuation
// ignored), or SQL_ASCII, with which the server converts nothing: the
// bytes the client sends are the bytes stored, and hashed.
func IsUTF8Encoding(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		}
	}
	n := b.String()
	return n == "utf8" || n == "unicode" || n == "sqlascii"
}

// createFromShards refuses a statement that creates a table (or a
// materialized view) from a query reading sharded tables: run on every
// shard, it would give each shard a table of that shard's rows, which
// pgshard would then read as a default-shard table, one shard's part.
func (a *analyzer) createFromShards(query *pg.Node, what string) *Plan {
	if !a.nodeReadsSharded(query, map[string]bool{}) {
		return nil
	}
	return refuse(codeFeatureNotSupported,
		"pgshard: "+what+" over sharded tables would create, on each shard, a table of that shard's rows only",
		"Create the table with CREATE TABLE (list it in sharding.tables or reference_tables first if its rows should be spread or copied), then fill it with INSERT ... SELECT through pgshard; for a view of sharded tables, use CREATE VIEW.")
}
