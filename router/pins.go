package router

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// Key pins: the conditions that tie a sharded relation's key to values
// (key = 42, key IN ($1, $2), key = ANY($1), (key, id) = (5, 7), ORs of
// those) or to another relation's key (a.k = b.k), which decide the
// shards a statement needs. The analyzer applies them per relation
// (conjuncts); eval.go turns the values into shards at each execution.

// keySource reads a value compared with, or stored as, the key of type kt
// whose side of the comparison is in domain col: the constant or
// parameter, and the domain the comparison runs in. False when that
// domain does not identify one key (the value is then no pin).
func (a *analyzer) keySource(n *pg.Node, kt shard.KeyType, col domain) (Source, bool) {
	if n == nil {
		return Source{}, false
	}
	if operand, minus := signOf(n); operand != nil {
		// -42::bigint is -(42::bigint): the parser folds a minus into a
		// bare number only.
		s, ok := a.keySource(operand, kt, col)
		if !ok || kt != shard.KeyInt || s.Param > 0 || s.dom == domText {
			return Source{}, false
		}
		if minus {
			if s.Lit >= 0 {
				s.Negate = !s.Negate
			} else if c, neg := strings.CutPrefix(s.Const, "-"); neg {
				s.Const = c
			} else {
				s.Const = "-" + c
			}
		}
		return s, true
	}
	inner, d, first, cast := valueDomain(n, kt)
	d = max(d, col)
	if d == domOpaque {
		return Source{}, false
	}
	s, ok := a.source(inner)
	if !ok {
		return Source{}, false
	}
	s.dom, s.bin, s.cast = d, col, cast
	if cast {
		s.bin = first
	}
	if c := inner.GetAConst(); c != nil && s.Lit < 0 {
		s.num = c.GetIval() != nil || c.GetFval() != nil
	}
	return s, true
}

// signOf returns the operand of a unary minus or plus, and whether it is a
// minus; nil for anything else.
func signOf(n *pg.Node) (operand *pg.Node, minus bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || e.Lexpr != nil || e.Rexpr == nil {
		return nil, false
	}
	switch opName(e) {
	case "-":
		return e.Rexpr, true
	case "+":
		return e.Rexpr, false
	}
	return nil, false
}

// source reads a constant or parameter, through casts.
func (a *analyzer) source(n *pg.Node) (Source, bool) {
	switch {
	case n == nil:
		return Source{}, false
	case n.GetTypeCast() != nil:
		return a.source(n.GetTypeCast().Arg)
	case n.GetParamRef() != nil:
		return Source{Param: int(n.GetParamRef().Number)}, true
	case n.GetAConst() != nil:
		c := n.GetAConst()
		if c.Isnull {
			return Source{}, false
		}
		loc := int(c.Location)
		for i, l := range a.lits {
			if loc < 0 {
				// A constant the grammar made up (FETCH FIRST ROW ONLY's
				// 1): no literal of the text is it, and a literal
				// without a minus sign has Minus -1.
				break
			}
			if sv := c.GetSval(); l.Pos == loc && sv != nil && sv.Sval != l.Value {
				// 'ab' and 'c' on the next line are one string, 'abc':
				// the statement's own constant is the value.
				break
			}
			if l.Pos == loc {
				return Source{Lit: i}, true
			}
			if l.Minus == loc {
				return Source{Lit: i, Negate: true}, true
			}
		}
		a.exact = true
		return Source{Lit: -1, Const: constText(c)}, true
	}
	return Source{}, false
}

func constText(c *pg.A_Const) string {
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return fmt.Sprint(v.Ival.Ival)
	case *pg.A_Const_Fval:
		return v.Fval.Fval
	case *pg.A_Const_Sval:
		return v.Sval.Sval
	case *pg.A_Const_Boolval:
		return fmt.Sprint(v.Boolval.Boolval)
	}
	return ""
}

// andTerms appends to out the terms of n's top-level AND, each row
// equality among them as its columns' equalities: (u.user_id, u.x) =
// (o.user_id, o.y) is u.user_id = o.user_id AND u.x = o.y.
func andTerms(out []*pg.Node, n *pg.Node) []*pg.Node {
	if n == nil {
		return out
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		for _, arg := range b.Args {
			out = andTerms(out, arg)
		}
		return out
	}
	if l, r, ok := rowEquality(n); ok {
		for k := range l {
			out = andTerms(out, &pg.Node{Node: &pg.Node_AExpr{AExpr: &pg.A_Expr{Kind: pg.A_Expr_Kind_AEXPR_OP,
				Name: n.GetAExpr().Name, Lexpr: l[k], Rexpr: r[k], Location: -1}}})
		}
		return out
	}
	return append(out, n)
}

// keyEquality applies n when it equates two relations' keys, and says
// whether it is an equality.
func (a *analyzer) keyEquality(n *pg.Node, sc *scope) bool {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || opName(e) != "=" {
		return false
	}
	i, ki := a.keyColumn(e.Lexpr, sc)
	j, kj := a.keyColumn(e.Rexpr, sc)
	if ki && kj {
		a.union(i, j)
	}
	return true
}

// conjuncts applies the top-level AND terms of a WHERE or ON clause.
func (a *analyzer) conjuncts(n *pg.Node, sc *scope) {
	for _, t := range andTerms(nil, n) {
		a.conjunct(t, sc)
	}
}

// conjunct applies one AND term: a pin, a key equality, or a key IN a
// co-located subquery.
func (a *analyzer) conjunct(n *pg.Node, sc *scope) {
	if i, vals, ok := a.pin(n, sc); ok {
		a.addPin(i, vals)
		return
	}
	if a.keyEquality(n, sc) {
		return
	}
	// key IN (SELECT key FROM co-located table ...)
	if sl := n.GetSubLink(); sl != nil && sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK {
		i, ki := a.keyColumn(sl.Testexpr, sc)
		sub := sl.Subselect.GetSelectStmt()
		if !ki || sub == nil || len(sub.TargetList) != 1 {
			return
		}
		inner := &scope{parent: sc}
		a.walked[sl] = true
		a.depth++
		a.selectStmt(sub, inner)
		a.depth--
		if j, kj := a.keyColumn(sub.TargetList[0].GetResTarget().GetVal(), inner); kj {
			a.union(i, j)
		}
	}
}

// paramOf returns n for "$n" (through casts such as $1::bigint[]), else 0.
func paramOf(n *pg.Node) int {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
	}
	if pr := n.GetParamRef(); pr != nil {
		return int(pr.Number)
	}
	return 0
}

func opName(e *pg.A_Expr) string {
	if len(e.Name) == 0 {
		return ""
	}
	return e.Name[len(e.Name)-1].GetString_().GetSval()
}

// pin recognizes "key = v", "key IN (v, ...)", "key = ANY(ARRAY[...])" and
// ORs of pins of one relation.
func (a *analyzer) pin(n *pg.Node, sc *scope) (int, []Source, bool) {
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_OR_EXPR {
		rel := -1
		var all []Source
		for _, arg := range b.Args {
			i, vals, ok := a.pin(arg, sc)
			if !ok || rel >= 0 && i != rel {
				return -1, nil, false
			}
			rel = i
			all = append(all, vals...)
		}
		return rel, all, rel >= 0
	}
	e := n.GetAExpr()
	if e == nil || opName(e) != "=" {
		return -1, nil, false
	}
	if e.Lexpr.GetRowExpr() != nil || e.Rexpr.GetRowExpr() != nil {
		return a.rowPin(e, sc)
	}
	l, r := e.Lexpr, e.Rexpr
	i, col, key := a.keyColumnIn(l, sc)
	if !key && e.Kind == pg.A_Expr_Kind_AEXPR_OP {
		l, r = r, l
		i, col, key = a.keyColumnIn(l, sc)
	}
	if !key || col == domOpaque {
		return -1, nil, false
	}
	kt := a.rels[i].table.KeyType
	var items []*pg.Node
	switch e.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		items = []*pg.Node{r}
	case pg.A_Expr_Kind_AEXPR_IN:
		items = r.GetList().GetItems()
	case pg.A_Expr_Kind_AEXPR_OP_ANY:
		if pr := paramOf(r); pr > 0 {
			s := Source{Param: pr, Array: true, dom: col, bin: col}
			if tc := r.GetTypeCast(); tc != nil {
				d := arrayCastDomain(tc.TypeName, kt)
				s.dom, s.bin, s.cast = max(d, col), d, true
			}
			if s.dom == domOpaque {
				return -1, nil, false
			}
			return i, []Source{s}, true
		}
		if s, ok := a.arrayLiteral(r, kt, col); ok {
			return i, []Source{s}, true
		}
		if arr := r.GetAArrayExpr(); arr != nil {
			items = arr.Elements
		} else if tc := r.GetTypeCast(); tc != nil && tc.Arg.GetAArrayExpr() != nil {
			items = tc.Arg.GetAArrayExpr().Elements
		}
	}
	if len(items) == 0 {
		return -1, nil, false
	}
	vals := make([]Source, 0, len(items))
	list := col // a list's items are compared in their common type
	for _, it := range items {
		v, ok := a.keySource(it, kt, col)
		if !ok {
			return -1, nil, false
		}
		list = max(list, v.dom)
		if c := it.GetAConst(); c != nil && c.GetFval() != nil && strings.ContainsAny(c.GetFval().Fval, ".eE") && kt == shard.KeyInt {
			list = max(list, domNumeric)
		}
		vals = append(vals, v)
	}
	for k := range vals {
		if vals[k].Param > 0 && !vals[k].cast {
			// An untyped parameter takes the list's type: in
			// ARRAY[$1::numeric, $2] or key IN ($1, 2.5), $2 and $1 are
			// numeric.
			vals[k].dom, vals[k].bin = list, list
		}
	}
	return i, vals, true
}

// rowPin is pin for a row comparison, as ORMs write composite keys:
// (user_id, order_id) = (5, 7) holds only where user_id = 5, and
// (user_id, order_id) IN ((5, 7), (6, 8)) is an OR of such equalities.
func (a *analyzer) rowPin(e *pg.A_Expr, sc *scope) (int, []Source, bool) {
	var cols, rows []*pg.Node
	switch e.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		l, r, ok := rowEquality(&pg.Node{Node: &pg.Node_AExpr{AExpr: e}})
		if !ok {
			return -1, nil, false
		}
		cols, rows = l, []*pg.Node{{Node: &pg.Node_RowExpr{RowExpr: &pg.RowExpr{Args: r}}}}
		if !a.anyKeyColumn(cols, sc) {
			cols, rows = r, []*pg.Node{{Node: &pg.Node_RowExpr{RowExpr: &pg.RowExpr{Args: l}}}}
		}
	case pg.A_Expr_Kind_AEXPR_IN:
		cols, rows = e.Lexpr.GetRowExpr().GetArgs(), e.Rexpr.GetList().GetItems()
	}
	if len(cols) == 0 || len(rows) == 0 {
		return -1, nil, false
	}
	for k, col := range cols {
		if _, _, key := a.keyColumnIn(col, sc); !key {
			continue
		}
		eq := &pg.A_Expr{Kind: pg.A_Expr_Kind_AEXPR_OP, Name: e.Name, Lexpr: col, Location: -1}
		rel, all, ok := -1, []Source(nil), true
		for _, row := range rows {
			vals := row.GetRowExpr().GetArgs()
			if len(vals) != len(cols) {
				return -1, nil, false
			}
			eq.Rexpr = vals[k]
			i, got, pinned := a.pin(&pg.Node{Node: &pg.Node_AExpr{AExpr: eq}}, sc)
			if !pinned || rel >= 0 && i != rel {
				ok = false
				break
			}
			rel, all = i, append(all, got...)
		}
		if ok {
			return rel, all, true
		}
	}
	return -1, nil, false
}

// rowEquality returns the two sides of (a, b, ...) = (x, y, ...), rows of
// the same length.
func rowEquality(n *pg.Node) (l, r []*pg.Node, ok bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || opName(e) != "=" {
		return nil, nil, false
	}
	l, r = e.Lexpr.GetRowExpr().GetArgs(), e.Rexpr.GetRowExpr().GetArgs()
	return l, r, len(l) > 0 && len(l) == len(r)
}

// anyKeyColumn says whether one of exprs is a shard key column.
func (a *analyzer) anyKeyColumn(exprs []*pg.Node, sc *scope) bool {
	for _, x := range exprs {
		if _, _, key := a.keyColumnIn(x, sc); key {
			return true
		}
	}
	return false
}

// arrayLiteral reads the array of key = ANY('{1,2,3}'::bigint[]), a
// string constant written as an array's text, cast to an array type or
// left to take the key's (col) as PostgreSQL resolves it.
func (a *analyzer) arrayLiteral(n *pg.Node, kt shard.KeyType, col domain) (Source, bool) {
	d, c := col, n.GetAConst()
	if tc := n.GetTypeCast(); tc != nil {
		d, c = max(arrayCastDomain(tc.TypeName, kt), col), tc.Arg.GetAConst()
	}
	if c == nil || c.GetSval() == nil || d == domOpaque {
		return Source{}, false
	}
	s, ok := a.source(&pg.Node{Node: &pg.Node_AConst{AConst: c}})
	if !ok || s.Negate {
		return Source{}, false
	}
	s.Array, s.dom, s.bin, s.cast = true, d, d, n.GetTypeCast() != nil
	return s, true
}
