package router

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Staged writes: an UPDATE, DELETE or INSERT whose subqueries span shards
// runs them first (stage.go) and then writes where the keys they gave
// live; an INSERT ... SELECT whose rows do not stay on their shards has
// its SELECT staged whole and its rows inserted as arrays (arrayinsert.go).

// write stages what it can of a write's subqueries: in its FROM or USING
// list (from), and in its expressions — an UPDATE's SET list and WHERE
// clause, an INSERT's VALUES rows and ON CONFLICT clause, a RETURNING
// list. WHERE user_id IN (SELECT user_id FROM users WHERE ...) then names
// the keys it writes, and the write goes to their shards only.
func (sb *stager) write(from []*pg.Node, exprs ...[]*pg.Node) {
	for _, f := range from {
		sb.fromItem(f)
	}
	for _, list := range exprs {
		for _, e := range list {
			sb.sublinks(e)
		}
	}
}

// routesFilled says whether a staged write routes once its stages are
// filled in, whatever their results: a write that still names no key
// (WHERE id IN (SELECT ...), id not the shard key) is refused as it was,
// without reading the stages' rows first on every run. Each stage's
// place gets a stand-in of its form: a parameter where a value or an
// array goes, as the filled statement has one.
func (r *Router) routesFilled(st *Staging) bool {
	probe := make([]StageResult, len(st.Stages))
	// The stand-in parameter follows the statement's own, as the
	// stages' parameters do when filled.
	param := "$" + strconv.Itoa(sqltext.Normalize(st.Outer).Params+1)
	for i, s := range st.Stages {
		switch s.Form {
		case StageValue, StageArray:
			probe[i] = StageResult{SQL: param, Column: "v"}
		case StageExists:
			probe[i] = StageResult{SQL: "true", Column: "exists"}
		case StageRows:
			if s.Inserted == 0 {
				probe[i] = StageResult{SQL: "(SELECT 1) AS " + StageMarker(i), Column: "v"}
				break
			}
			// An INSERT's rows, one array per column (arrayinsert.go).
			cols := make([]string, s.Inserted)
			names := make([]string, s.Inserted)
			for k := range cols {
				cols[k], names[k] = "pg_catalog.unnest("+param+")", "c"+strconv.Itoa(k)
			}
			probe[i] = StageResult{SQL: "ROWS FROM (" + strings.Join(cols, ", ") + ") AS " + StageMarker(i) + "(" + strings.Join(names, ", ") + ")", Column: "c0"}
		default:
			probe[i] = StageResult{SQL: "(SELECT 1) AS " + StageMarker(i), Column: "v"}
		}
	}
	text := st.Fill(probe)
	p := r.planStaged(text, sqltext.Normalize(text).Literals, false, false)
	return p.Kind != KindRefuse
}

// insertedFromMarker stands for the staged rows of sel, an INSERT's
// SELECT of n columns: SELECT * FROM <marker i>, or, when sel selects
// constants of unknown type ('2024-01-01', '{}', NULL) or parameters ($2)
// in columns other than the key's (key, or -1), those in their places and the
// staged columns (named c0, c1, ... by the filled statement) in the
// others. Such a constant then takes the type of the column it is
// inserted into, as in the client's INSERT; staged, it would arrive as
// text, which no date or jsonb column takes. (The key stays staged: its
// array splits the rows by shard.)
func insertedFromMarker(i int, sel *pg.SelectStmt, n, key int) *pg.Node {
	keep := func(k int, t *pg.Node) bool {
		v := t.GetResTarget().GetVal()
		c := v.GetAConst()
		return k != key && (c != nil && (c.Isnull || c.GetSval() != nil) || v.GetParamRef() != nil)
	}
	kept := false
	for k, t := range sel.TargetList {
		kept = kept || keep(k, t)
	}
	if !kept || sel.Op != pg.SetOperation_SETOP_NONE || len(sel.TargetList) != n || hasStar(sel.TargetList) {
		return selectFromMarker(i)
	}
	out := &pg.SelectStmt{FromClause: []*pg.Node{pg.MakeSimpleRangeVarNode(StageMarker(i), -1)}}
	for k, t := range sel.TargetList {
		v := t.GetResTarget().GetVal()
		if keep(k, t) {
			v = proto.Clone(v).(*pg.Node)
		} else {
			// Unqualified: Fill replaces every mention of the marker.
			v = pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode("c" + strconv.Itoa(k))}, -1)
		}
		out.TargetList = append(out.TargetList, pg.MakeResTargetNodeWithVal(v, -1))
	}
	return &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: out}}
}

// insertedKey is the index of the shard key among the columns ins names,
// or -1 (a table not sharded, or no key named).
func insertedKey(ins *pg.InsertStmt, s *Schema) int {
	role, t := s.lookup(strings.ToLower(ins.Relation.Schemaname), strings.ToLower(ins.Relation.Relname))
	if role != roleSharded {
		return -1
	}
	return slices.IndexFunc(ins.Cols, func(c *pg.Node) bool { return strings.EqualFold(c.GetResTarget().GetName(), t.Key) })
}
