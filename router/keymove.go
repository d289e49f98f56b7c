package router

import (
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/shard"
)

// Moving rows to the shard their new key belongs to. An UPDATE that sets
// the shard key to a constant or parameter owned by another shard than
// the one holding the rows it matches (UPDATE orders SET user_id = 10
// WHERE user_id = 9 AND order_id = 3, keys 9 and 10 on different shards)
// cannot run as sent: the rows would stay where their key does not lead.
// Unless sharding.key_updates is refuse, such an execution becomes a key
// move, run by the wire layer in one transaction over both shards
// (committed with two-phase commit):
//
//  1. on the rows' shard, the client's UPDATE with the key left as it is
//     (SET user_id = orders.user_id in place of the new value), returning
//     each updated row whole with its tableoid and ctid and the new key:
//     the server evaluates the WHERE clause and every other SET
//     expression, fires the UPDATE triggers and checks constraints, and
//     the foreign keys the row holds still find their parents (the old
//     key's, on that shard);
//  2. there, DELETE of exactly those row versions (by tableoid and ctid);
//  3. on the new key's shard, INSERT of the rows with the new key (every
//     column but the generated ones, OVERRIDING SYSTEM VALUE for
//     identities), returning what the client's RETURNING asked for; the
//     foreign keys the rows hold are checked there, against the new key's
//     parents.
//
// PostgreSQL runs an UPDATE that moves a row to another partition the same
// way: an UPDATE, a DELETE and an INSERT. Planned here, when the UPDATE is
// parsed, is whether the UPDATE can move its rows; when an execution does,
// the text of each step that does not depend on the rows (MoveForm) is
// made from that execution's own text (a plan is shared by statements
// that differ in their literals). The wire layer reads the table's columns
// on the rows' shard at run time.

// KeyMove is a route's move: the UPDATE's rows on the From shards get a
// key that To owns. Stay: To holds rows the UPDATE matches too, which it
// updates in place.
type KeyMove struct {
	From []shard.ShardID
	To   shard.ShardID
	Stay bool
	*MoveForm
}

// MoveForm is what a key move sends, made when its UPDATE is planned.
type MoveForm struct {
	Table *Table
	// Relation is the UPDATE's target as written, quoted: schema.name or
	// name.
	Relation string
	// Alias is the target's alias ("" for none): the SET and RETURNING
	// lists may read the table by it.
	Alias string
	// Update is the client's UPDATE with the key left as it is, its
	// RETURNING list replaced by the target's tableoid, ctid, the new key
	// (as int8, text or uuid) and every column, in that order.
	Update string
	// Returning is the client's RETURNING list as text, "" for none.
	Returning string
}

// movable says whether an UPDATE of sharded table t can move its rows:
// not when its RETURNING list reads other tables (a FROM item, a WITH
// query, a subquery), which the INSERT on the other shard that evaluates
// it could not see as the UPDATE did, nor with a WITH clause, nor when
// moves are off. A FROM list is read by the UPDATE on the rows' shard, as
// for any co-located UPDATE.
func (s *Schema) movable(up *pg.UpdateStmt) bool {
	if !s.KeyMoves || up.WithClause != nil || hasSubLink(up.ReturningList) {
		return false
	}
	if len(up.FromClause) > 0 && !readsOnly(up.ReturningList, visibleName(up.Relation)) {
		return false
	}
	// WHERE CURRENT OF names a cursor of one connection.
	return up.WhereClause == nil || up.WhereClause.GetCurrentOfExpr() == nil
}

// readsOnly reports whether every column list names is qualified by
// self (self.col, self.*): with other tables in scope, an unqualified one
// may be theirs.
func readsOnly(list []*pg.Node, self string) bool {
	ok := true
	for _, n := range list {
		visit(n, func(c *pg.Node) bool {
			if cr := c.GetColumnRef(); cr != nil {
				q := cr.Fields[0].GetString_()
				ok = ok && len(cr.Fields) == 2 && q != nil && q.Sval == self
			}
			return ok
		})
	}
	return ok
}

// moveFormOf makes the move form of text, one UPDATE of sharded table t
// that movable accepted; nil if it cannot be made.
func moveFormOf(text string, t *Table) *MoveForm {
	tree, err := pg.Parse(text)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetUpdateStmt() == nil {
		return nil
	}
	return moveForm(tree.Stmts[0].Stmt.GetUpdateStmt(), t, tree.Version)
}

// moveForm makes the statements that move the rows of up.
func moveForm(up *pg.UpdateStmt, t *Table, version int32) *MoveForm {
	rv := up.Relation
	f := &MoveForm{Table: t, Relation: quoteName(rv.Relname)}
	if rv.Schemaname != "" {
		f.Relation = quoteName(rv.Schemaname) + "." + f.Relation
	}
	if rv.Alias != nil {
		f.Alias = rv.Alias.Aliasname
	}
	self := visibleName(rv)
	colRef := func(fields ...*pg.Node) *pg.Node {
		return &pg.Node{Node: &pg.Node_ColumnRef{ColumnRef: &pg.ColumnRef{Fields: append([]*pg.Node{pg.MakeStrNode(self)}, fields...)}}}
	}
	target := func(n *pg.Node) *pg.Node { return &pg.Node{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n}}} }
	moved := proto.Clone(up).(*pg.UpdateStmt)
	// The key keeps its value in the UPDATE; its new value is returned.
	var newKey *pg.Node
	for i, n := range moved.TargetList {
		rt := n.GetResTarget()
		if rt == nil || !strings.EqualFold(rt.Name, t.Key) {
			continue
		}
		if len(rt.Indirection) > 0 {
			return nil
		}
		m := rt.Val.GetMultiAssignRef()
		if m == nil {
			newKey, rt.Val = rt.Val, colRef(pg.MakeStrNode(t.Key))
			continue
		}
		// SET (name, key) = (...): each target of the list holds its own
		// copy of the row, and the deparser prints the first's.
		c := int(m.Colno)
		first := i - (c - 1)
		if first < 0 || first+int(m.Ncolumns) > len(moved.TargetList) {
			return nil
		}
		for _, g := range moved.TargetList[first : first+int(m.Ncolumns)] {
			row := g.GetResTarget().GetVal().GetMultiAssignRef().GetSource().GetRowExpr()
			if row == nil || c > len(row.Args) {
				return nil
			}
			newKey, row.Args[c-1] = row.Args[c-1], colRef(pg.MakeStrNode(t.Key))
		}
	}
	if newKey == nil || slices.ContainsFunc(up.ReturningList, hasParam) {
		// RETURNING runs in the INSERT on the other shard, whose
		// parameters are the rows' values.
		return nil
	}
	// COALESCE(new, key) types a parameter as the key column, as the SET
	// did: a client may have encoded it in binary as that type.
	typed := &pg.Node{Node: &pg.Node_CoalesceExpr{CoalesceExpr: &pg.CoalesceExpr{Args: []*pg.Node{newKey, colRef(pg.MakeStrNode(t.Key))}}}}
	cast := &pg.Node{Node: &pg.Node_TypeCast{TypeCast: &pg.TypeCast{Arg: typed, TypeName: &pg.TypeName{
		Names: []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode(keyTypeName[t.KeyType])}, Typemod: -1}}}}
	moved.ReturningList = []*pg.Node{target(colRef(pg.MakeStrNode("tableoid"))), target(colRef(pg.MakeStrNode("ctid"))), target(cast),
		target(colRef(&pg.Node{Node: &pg.Node_AStar{AStar: &pg.A_Star{}}}))}
	update, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_UpdateStmt{UpdateStmt: moved}}}}})
	if err != nil {
		return nil
	}
	f.Update = update
	if len(up.ReturningList) > 0 {
		sel := &pg.SelectStmt{TargetList: up.ReturningList, LimitOption: pg.LimitOption_LIMIT_OPTION_DEFAULT, Op: pg.SetOperation_SETOP_NONE}
		ret, err := pg.Deparse(&pg.ParseResult{Version: version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}})
		if err != nil || !strings.HasPrefix(ret, "SELECT ") {
			return nil
		}
		f.Returning = strings.TrimPrefix(ret, "SELECT ")
	}
	return f
}

// keyTypeName is the type a move returns a new key as: one the key
// column's type takes by assignment.
var keyTypeName = map[shard.KeyType]string{shard.KeyInt: "int8", shard.KeyText: "text", shard.KeyUUID: "uuid"}

// quoteName quotes an identifier the parser has already folded.
func quoteName(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// moveRoute turns rt, a route of an UPDATE whose new keys all belong to
// shard to, into a key move from the other shards of the route.
func (p *Plan) moveRoute(rt *Route, to shard.ShardID, v values) *Route {
	form := moveFormOf(v.text, p.newKeys.Table)
	if form == nil {
		return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: UPDATE sets shard key %s.%s to a value another shard owns, and pgshard could not plan moving the rows", p.newKeys.Table, p.newKeys.Table.Key),
			Hint:    "Delete the row and insert it with the new key, in one transaction."})
	}
	mv := &KeyMove{To: to, MoveForm: form}
	for _, id := range rt.Shards {
		if id == to {
			mv.Stay = true
		} else {
			mv.From = append(mv.From, id)
		}
	}
	rt.Shards = append(slices.Clone(mv.From), to)
	slices.Sort(rt.Shards)
	rt.SQL, rt.Params, rt.Extra, rt.Rows = nil, nil, nil, nil
	rt.KeyMove = mv
	return rt
}
