package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// insertSplit is a multi-row INSERT ... VALUES into a sharded table: each
// row's key, so each shard can be sent only its own rows.
type insertSplit struct {
	Table *Table
	Rows  []Source
}

func (a *analyzer) insertPlan(ins *pg.InsertStmt, t *Table) *Plan {
	p := &Plan{Command: "INSERT", Tables: []string{t.Name}}
	if ins.WithClause != nil {
		return refuse(codeFeatureNotSupported, "pgshard: WITH ... INSERT into a sharded table is not supported", "Move the WITH query into the VALUES or send it separately.")
	}
	keyCol := -1
	for i, c := range ins.Cols {
		if strings.EqualFold(c.GetResTarget().GetName(), t.Key) {
			keyCol = i
		}
	}
	if len(ins.Cols) == 0 {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT into sharded table %s must list its columns, so pgshard can find shard key %s", t, t.Key),
			fmt.Sprintf("Write INSERT INTO %s (%s, ...) VALUES (...).", t.Name, t.Key))
	}
	if keyCol < 0 {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT into sharded table %s does not set its shard key %s", t, t.Key),
			fmt.Sprintf("Include %s in the column list: a row's key decides its shard.", t.Key))
	}
	if oc := ins.OnConflictClause; oc != nil {
		for _, tgt := range oc.TargetList {
			if strings.EqualFold(tgt.GetResTarget().GetName(), t.Key) {
				return refuse(codeFeatureNotSupported,
					fmt.Sprintf("pgshard: ON CONFLICT DO UPDATE of shard key %s.%s would move the row to another shard", t, t.Key), "")
			}
		}
	}
	sel := ins.SelectStmt.GetSelectStmt()
	if sel == nil || len(sel.ValuesLists) == 0 {
		return refuse(codeFeatureNotSupported,
			fmt.Sprintf("pgshard: INSERT ... SELECT into sharded table %s is not supported", t),
			"Insert the rows with VALUES (several rows per statement are fine) or COPY.")
	}
	split := &insertSplit{Table: t}
	for n, row := range sel.ValuesLists {
		items := row.GetList().GetItems()
		if keyCol >= len(items) {
			return refuse(codeSyntax, "INSERT has more target columns than expressions", "")
		}
		if c := items[keyCol].GetAConst(); c != nil && c.Isnull {
			return refuse(codeNullKey,
				fmt.Sprintf("pgshard: null value in shard key column %s of row %d of INSERT into %s", t.Key, n+1, t),
				"Every row of a sharded table needs a shard key.")
		}
		src, ok := a.source(items[keyCol])
		if !ok {
			return refuse(codeFeatureNotSupported,
				fmt.Sprintf("pgshard: row %d of INSERT into %s gives shard key %s as an expression; pgshard needs a constant or a parameter", n+1, t, t.Key),
				"Compute the key in the application and pass it as a value.")
		}
		split.Rows = append(split.Rows, src)
	}
	// Anything else in the statement (RETURNING, ON CONFLICT) reads only
	// the row's own shard.
	sc := &scope{}
	for _, r := range ins.ReturningList {
		a.expr(r, sc)
	}
	if len(split.Rows) == 1 {
		p.Kind = KindShard
		p.Class = []Pin{{Table: t, Values: split.Rows}}
	} else {
		p.Kind = KindShard
		p.Insert = split
	}
	p.Exact = a.exact
	return p
}

// copyPlan routes COPY: into or out of a table by the table's role, and
// COPY (query) TO by where the query runs.
func (a *analyzer) copyPlan(c *pg.CopyStmt) *Plan {
	if c.Query != nil {
		inner := a.schema.build(c.Query, a.lits, a.version)
		switch {
		case inner.Kind == KindRefuse:
			return inner
		case inner.Kind == KindScatter && inner.Read && !needsMerge(inner):
			// Every shard's rows, one shard after the other, as one COPY:
			// exactly the rows one server would give, in some order.
			ci := &CopyIn{KeyCol: -1, Delim: '\t', Null: `\N`}
			applyCopyOptions(ci, c.Options)
			return &Plan{Kind: KindCopyOut, Command: "COPY", Read: true, Tables: inner.Tables, Exact: inner.Exact, Copy: ci}
		case inner.Kind == KindScatter || inner.Kind == KindShard && inner.Insert != nil:
			return refuse(codeFeatureNotSupported,
				"pgshard: COPY (query) TO over every shard is supported only for queries whose rows need no merging (no ORDER BY, aggregates, DISTINCT or LIMIT)",
				"Run the query as a SELECT through pgshard, which merges it, or pin it to one shard.")
		}
		return &Plan{Kind: inner.Kind, Class: inner.Class, Exact: inner.Exact, mergeErr: "COPY across shards"}
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
