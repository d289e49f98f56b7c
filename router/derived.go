package router

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/router/merge"
)

// Expressions over aggregates that the merge computes from the merged
// aggregates themselves (merge.Derived): casts, COALESCE, arithmetic,
// round, stddev and variance.

// derived plans a select-list item computed from aggregates — casts to a
// number or text type, COALESCE, + - * /, round(x[, n]) over aggregates
// and numeric constants: count(*)::int, COALESCE(sum(x), 0),
// sum(amount) / count(*), round(avg(x), 2) — whose value pgshard computes
// from the merged aggregates (merge.Derived). The shards compute each
// aggregate in a hidden column and, in the item's place, CASE WHEN false
// THEN item END under the item's name: a NULL of the item's type, so the
// RowDescription is PostgreSQL's own and nothing a shard computes from
// its partial aggregates can fail where the whole's would not.
func (m *mergeBuilder) derived(i int, rt *pg.ResTarget) error {
	col, ok := m.aggCol(i)
	if !ok {
		return fmt.Errorf("pgshard: cannot merge aggregates listed after * across shards; name the columns")
	}
	expr, err := m.calc(rt.GetVal())
	if err != nil {
		return fmt.Errorf("pgshard: cannot merge an expression over an aggregate (select list item %d) across shards: %w; "+
			"aggregates may be cast to a number or text type, combined with + - * / and numbers, passed to COALESCE or round", i+1, err)
	}
	if rt.Name == "" {
		rt.Name = derivedName(rt.Val)
	}
	rt.Val = caseWhenFalse(rt.Val)
	m.spec.Derived = append(m.spec.Derived, merge.Derived{Col: col, Expr: expr})
	m.rewritten = true
	return nil
}

// hiddenDerived adds a hidden column holding n, an expression over
// aggregates for ORDER BY or HAVING, computed by the merge as derived
// computes a select-list item.
func (m *mergeBuilder) hiddenDerived(n *pg.Node) (int, error) {
	expr, err := m.calc(n)
	if err != nil {
		return 0, err
	}
	col := m.addHidden(caseWhenFalse(proto.Clone(n).(*pg.Node)))
	m.spec.Derived = append(m.spec.Derived, merge.Derived{Col: col, Expr: expr})
	return col, nil
}

// caseWhenFalse is CASE WHEN false THEN n END: a NULL of n's type.
func caseWhenFalse(n *pg.Node) *pg.Node {
	return &pg.Node{Node: &pg.Node_CaseExpr{CaseExpr: &pg.CaseExpr{Args: []*pg.Node{{Node: &pg.Node_CaseWhen{CaseWhen: &pg.CaseWhen{
		Expr:   &pg.Node{Node: &pg.Node_AConst{AConst: &pg.A_Const{Val: &pg.A_Const_Boolval{Boolval: &pg.Boolean{Boolval: false}}}}},
		Result: n}}}}}}}
}

// calc turns an expression over aggregates into a merge.Calc, adding a
// hidden column for each aggregate in it. Its constants become part of
// the plan, so the plan is cached by the statement's exact text.
func (m *mergeBuilder) calc(n *pg.Node) (merge.Calc, error) {
	switch {
	case n.GetFuncCall() != nil && m.a.schema.isAggregate(n.GetFuncCall()) && varianceAggs[funcName(n.GetFuncCall())] != nil:
		return m.variance(n.GetFuncCall())
	case n.GetFuncCall() != nil && m.a.schema.isAggregate(n.GetFuncCall()):
		agg := proto.Clone(n).(*pg.Node)
		from := m.addHidden(agg)
		if err := m.aggregate(agg, from); err != nil {
			return nil, err
		}
		return merge.CalcCol{Col: from}, nil
	case n.GetFuncCall() != nil && funcName(n.GetFuncCall()) == "round" && n.GetFuncCall().Over == nil:
		f := n.GetFuncCall()
		if len(f.Args) < 1 || len(f.Args) > 2 || f.AggStar || f.AggDistinct || len(f.AggOrder) > 0 || f.AggFilter != nil {
			return nil, errors.New("round() takes a value and an optional integer scale")
		}
		arg, err := m.calc(f.Args[0])
		if err != nil {
			return nil, err
		}
		r := merge.CalcRound{Arg: arg}
		if len(f.Args) == 2 {
			c := f.Args[1].GetAConst()
			if c == nil || c.GetIval() == nil {
				return nil, errors.New("round()'s scale must be an integer constant")
			}
			r.Scale, r.HasScale = c.GetIval().Ival, true
			m.a.exact = true
		}
		return r, nil
	case n.GetAConst() != nil:
		c := n.GetAConst()
		m.a.exact = true
		switch {
		case c.GetIval() != nil:
			return merge.CalcNum{Text: strconv.Itoa(int(c.GetIval().Ival))}, nil
		case c.GetFval() != nil && !strings.ContainsAny(c.GetFval().Fval, "eE"):
			return merge.CalcNum{Text: c.GetFval().Fval}, nil
		}
		return nil, errors.New("its constants must be numbers")
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		cast, ok := castTarget(tc.TypeName)
		if !ok {
			return nil, errors.New("it casts to a type pgshard does not compute")
		}
		arg, err := m.calc(tc.Arg)
		if err != nil {
			return nil, err
		}
		cast.Arg = arg
		return cast, nil
	case n.GetCoalesceExpr() != nil:
		var args []merge.Calc
		for _, a := range n.GetCoalesceExpr().Args {
			c, err := m.calc(a)
			if err != nil {
				return nil, err
			}
			args = append(args, c)
		}
		return merge.CalcCoalesce{Args: args}, nil
	case n.GetAExpr() != nil && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_OP:
		e := n.GetAExpr()
		op := opName(e)
		if len(op) != 1 || !strings.Contains("+-*/", op) || e.Lexpr == nil && op != "-" && op != "+" {
			return nil, fmt.Errorf("operator %s is not computed", op)
		}
		r, err := m.calc(e.Rexpr)
		if err != nil {
			return nil, err
		}
		if e.Lexpr == nil {
			if op == "+" {
				return r, nil
			}
			return merge.CalcOp{Op: '-', R: r}, nil
		}
		l, err := m.calc(e.Lexpr)
		if err != nil {
			return nil, err
		}
		return merge.CalcOp{Op: op[0], L: l, R: r}, nil
	}
	return nil, errors.New("it uses something other than aggregates, numbers, casts, COALESCE, round and + - * /")
}

// varianceAggs maps the variance and standard deviation aggregates to
// what they compute: [sample, square root].
var varianceAggs = map[string]*[2]bool{
	"stddev": {true, true}, "stddev_samp": {true, true}, "stddev_pop": {false, true},
	"variance": {true, false}, "var_samp": {true, false}, "var_pop": {false, false},
}

// variance plans stddev or variance of x from three merged aggregates with
// f's FILTER: count(x), sum(x::numeric) and sum(x::numeric * x::numeric).
// Over floats PostgreSQL computes otherwise (float8 arithmetic); the
// result type (float8, not numeric) then makes the merge refuse.
func (m *mergeBuilder) variance(f *pg.FuncCall) (merge.Calc, error) {
	name := funcName(f)
	if len(f.Args) != 1 || f.AggStar || f.AggDistinct || len(f.AggOrder) > 0 {
		return nil, fmt.Errorf("%s() is merged over one argument, without DISTINCT or ORDER BY", name)
	}
	asNumeric := func() *pg.Node {
		return &pg.Node{Node: &pg.Node_TypeCast{TypeCast: &pg.TypeCast{Arg: proto.Clone(f.Args[0]).(*pg.Node),
			TypeName: &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("numeric")}, Typemod: -1}}}}
	}
	partial := func(fn string, arg *pg.Node) (merge.Calc, error) {
		call := proto.Clone(f).(*pg.FuncCall)
		call.Funcname = []*pg.Node{pg.MakeStrNode(fn)}
		call.Args = []*pg.Node{arg}
		n := &pg.Node{Node: &pg.Node_FuncCall{FuncCall: call}}
		col := m.addHidden(n)
		return merge.CalcCol{Col: col}, m.aggregate(n, col)
	}
	n, err := partial("count", proto.Clone(f.Args[0]).(*pg.Node))
	if err != nil {
		return nil, err
	}
	sumX, err := partial("sum", asNumeric())
	if err != nil {
		return nil, err
	}
	sumX2, err := partial("sum", &pg.Node{Node: &pg.Node_AExpr{AExpr: &pg.A_Expr{Kind: pg.A_Expr_Kind_AEXPR_OP,
		Name: []*pg.Node{pg.MakeStrNode("*")}, Lexpr: asNumeric(), Rexpr: asNumeric()}}})
	if err != nil {
		return nil, err
	}
	kind := varianceAggs[name]
	return merge.CalcVariance{N: n, SumX: sumX, SumX2: sumX2, Sample: kind[0], Sqrt: kind[1]}, nil
}

// castTarget is a cast pgshard can compute (without its argument): to a
// number or text type, without array bounds or a type modifier except
// numeric's precision and scale. A modifier PostgreSQL rejects
// (numeric(0)) fails on the shards first.
func castTarget(t *pg.TypeName) (merge.CalcCast, bool) {
	if t == nil || len(t.Names) == 0 || len(t.ArrayBounds) > 0 || t.Setof {
		return merge.CalcCast{}, false
	}
	oid, ok := merge.CastOIDs[strings.ToLower(t.Names[len(t.Names)-1].GetString_().GetSval())]
	c := merge.CalcCast{OID: oid}
	switch {
	case !ok:
		return c, false
	case len(t.Typmods) == 0:
		return c, true
	case oid != merge.OIDNumeric || len(t.Typmods) > 2:
		return c, false
	}
	var mods [2]int32
	for i, m := range t.Typmods {
		ival := m.GetAConst().GetIval()
		if ival == nil {
			return c, false
		}
		mods[i] = ival.Ival
	}
	c.Precision, c.Scale = mods[0], mods[1]
	return c, c.Precision > 0
}

// derivedName is the column name PostgreSQL gives a derived item without
// an alias (FigureColname): a cast is named after what it casts, COALESCE
// "coalesce", a function call after the function.
func derivedName(n *pg.Node) string {
	switch {
	case n.GetTypeCast() != nil:
		// A cast of something without a name of its own is named after
		// the type.
		if name := derivedName(n.GetTypeCast().Arg); name != "?column?" {
			return name
		}
		names := n.GetTypeCast().TypeName.Names
		return strings.ToLower(names[len(names)-1].GetString_().GetSval())
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetFuncCall() != nil:
		return funcName(n.GetFuncCall())
	}
	return "?column?"
}
