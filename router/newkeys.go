package router

import (
	"errors"
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// Writes that set a row's shard key. pgshard does not move rows between
// shards inside a statement, so a row must keep a key its shard owns. An
// assignment is accepted when it cannot move the row:
//
//   - the key set to itself (ORMs that write every column: UPDATE orders
//     SET user_id = orders.user_id, ...);
//   - in INSERT ... ON CONFLICT DO UPDATE, the proposed row's key
//     (SET user_id = excluded.user_id, as upsert helpers write for every
//     column): the INSERT went to the shard owning that key;
//   - in MERGE ... WHEN MATCHED THEN UPDATE, the source's key that the
//     join condition equates with the target's: a matched row has it;
//   - a constant or parameter that belongs to the one shard the statement
//     runs on, checked per execution (keepRows); a key that belongs to
//     another shard is refused then, naming both.
//
// Anything else (an expression, a subquery, DEFAULT, another column) is
// refused when planned.

// keyWrite is the key values a write stores, with what to name in a
// refusal.
type keyWrite struct {
	Pin
	command string // UPDATE, ON CONFLICT DO UPDATE, MERGE
	schema  *Schema
}

// keyAssignments reads the assignments of targets (a SET list) to t's
// key: the constants and parameters among them, with nil error; or a
// refusal message when one may move the row. same tells whether an
// assigned expression is one that keeps the key (the list above).
func (a *analyzer) keyAssignments(targets []*pg.Node, t *Table, command string, same func(*pg.Node) bool) ([]Source, *Error) {
	var keys []Source
	for _, n := range targets {
		rt := n.GetResTarget()
		if rt == nil || !strings.EqualFold(rt.Name, t.Key) {
			continue
		}
		v := rt.Val
		if m := v.GetMultiAssignRef(); m != nil {
			// SET (user_id, name) = (5, 'x'): the key's item of the row.
			v = nil
			if row := m.Source.GetRowExpr(); row != nil && int(m.Colno) <= len(row.Args) {
				v = row.Args[m.Colno-1]
			}
		}
		if v != nil && same(v) {
			continue
		}
		if c := v.GetAConst(); c != nil && c.Isnull {
			return nil, &Error{Code: codeNullKey, Hint: "Every row of a sharded table needs a shard key.",
				Message: fmt.Sprintf("pgshard: %s sets shard key %s.%s to NULL", command, t, t.Key)}
		}
		s, ok := a.keySource(v, t.KeyType, domKey)
		if !ok {
			return nil, &Error{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: %s of shard key %s.%s to something other than a constant or parameter could move the row to another shard", command, t, t.Key),
				Hint:    "Set the key to a value (checked to stay on the row's shard), or delete the row and insert it with the new key."}
		}
		s.assign = true
		keys = append(keys, s)
	}
	return keys, nil
}

// sameColumn reports whether n is column key of a relation named one of
// names (lower case), unqualified when unqualified is true.
func sameColumn(n *pg.Node, key string, unqualified bool, names ...string) bool {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().Arg
	}
	cr := n.GetColumnRef()
	if cr == nil {
		return false
	}
	f := cr.Fields
	if !strings.EqualFold(f[len(f)-1].GetString_().GetSval(), key) {
		return false
	}
	switch len(f) {
	case 1:
		return unqualified
	case 2, 3: // users.user_id, public.users.user_id (as Prisma writes)
		q := f[len(f)-2].GetString_().GetSval()
		for _, name := range names {
			if name != "" && q == name {
				return true
			}
		}
	}
	return false
}

// visibleName is the name a statement's target relation goes by: its
// alias, else its own name.
func visibleName(rv *pg.RangeVar) string {
	if rv.Alias != nil {
		return rv.Alias.Aliasname
	}
	return rv.Relname
}

// keepRows refuses a route whose statement would give the rows it writes
// a key that another shard owns (see above): each new key must belong to
// the route's only shard.
func (p *Plan) keepRows(rt *Route, m *shard.Map, v values) *Route {
	nk := p.newKeys
	t := nk.Table
	to := shard.ShardID(-1) // the shard the new keys belong to
	for _, s := range nk.Values {
		pt, err := v.point(s, t.KeyType)
		switch {
		case errors.Is(err, shard.ErrNullKey):
			return refuseRoute(rt, &Error{Code: codeNullKey, Hint: "Every row of a sharded table needs a shard key.",
				Message: fmt.Sprintf("pgshard: %s sets shard key %s.%s to NULL", nk.command, t, t.Key)})
		case err != nil:
			return refuseRoute(rt, keyError(t, err))
		}
		id := m.Lookup(pt)
		if to >= 0 && id != to {
			return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
				Message: fmt.Sprintf("pgshard: %s sets shard key %s.%s to values that belong to different shards", nk.command, t, t.Key),
				Hint:    "Give the key one value."})
		}
		to = id
	}
	switch {
	case rt.nothing:
		// No row can match, so none moves: run where the new key is.
		rt.Shards = rt.only(to)
	case len(rt.Shards) == 1 && rt.Shards[0] == to:
	case p.keyMove && !rt.hinted:
		return p.moveRoute(rt, to, v)
	default:
		where := "on several shards"
		if len(rt.Shards) == 1 {
			where = "on shard " + nk.schema.shardName(rt.Shards[0])
		}
		return refuseRoute(rt, &Error{Code: codeFeatureNotSupported,
			Message: fmt.Sprintf("pgshard: %s sets shard key %s.%s to a value that belongs to shard %s, but the rows it writes are %s: they would be stored on a shard that does not own their key", nk.command, t, t.Key, nk.schema.shardName(to), where),
			Hint:    keyMoveHint(p)})
	}
	return rt
}

// keyMoveHint is the hint of a refused key change: what to do instead.
func keyMoveHint(p *Plan) string {
	if p.newKeys.command == "UPDATE" && !p.keyMove && p.newKeys.schema.KeyMoves {
		return "pgshard moves rows to their new key's shard only for an UPDATE without WITH whose RETURNING reads only the updated table (qualified by its name when there is a FROM list) and takes no parameter; delete the row and insert it with the new key, in one transaction."
	}
	return "Delete the row and insert it with the new key, in one transaction."
}

// equatedBy reports whether where, a WHERE clause, has among its ANDed
// terms col = v or v = col, v a column named as written: UPDATE orders o
// SET user_id = u.user_id FROM users u WHERE o.user_id = u.user_id sets
// the key every row it updates already has.
func equatedBy(where, v *pg.Node, col func(*pg.Node) bool) bool {
	name := columnName(v)
	if name == "" {
		return false
	}
	for _, term := range andTerms(nil, where) {
		e := term.GetAExpr()
		if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || opName(e) != "=" {
			continue
		}
		if col(e.Lexpr) && columnName(e.Rexpr) == name || col(e.Rexpr) && columnName(e.Lexpr) == name {
			return true
		}
	}
	return false
}

// columnName is a column reference as written (lower case, dotted), ""
// for anything else; casts are not looked through, since a cast could
// change the value.
func columnName(n *pg.Node) string {
	cr := n.GetColumnRef()
	if cr == nil {
		return ""
	}
	parts := make([]string, len(cr.Fields))
	for i, f := range cr.Fields {
		if f.GetString_() == nil {
			return "" // a.*
		}
		parts[i] = strings.ToLower(f.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}
