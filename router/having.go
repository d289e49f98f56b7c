package router

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"

	"github.com/pgshard/pgshard/router/merge"
)

// having moves HAVING from the shards to the merge.
func (m *mergeBuilder) having() error {
	h := m.sel.HavingClause
	if h == nil || m.local {
		return nil // with local groups the shards apply HAVING themselves
	}
	e, err := m.havingExpr(h)
	if err != nil {
		return err
	}
	m.spec.Having = e
	m.sel.HavingClause = nil
	if havingParams(e) {
		// The shards must still see the $n it uses, for PostgreSQL to
		// infer their types as it would for the whole statement; "true
		// OR ..." keeps every group and never evaluates the rest.
		m.sel.HavingClause = &pg.Node{Node: &pg.Node_BoolExpr{BoolExpr: &pg.BoolExpr{Boolop: pg.BoolExprType_OR_EXPR,
			Args: []*pg.Node{{Node: &pg.Node_AConst{AConst: &pg.A_Const{Val: &pg.A_Const_Boolval{Boolval: &pg.Boolean{Boolval: true}}}}}, h}}}}
	}
	m.rewritten = true
	if !m.aggs {
		m.spec.Aggs = append(m.spec.Aggs, merge.Agg{Col: m.addHidden(countStar()), Kind: merge.AggCount})
		m.aggs = true
	}
	return nil
}

func (m *mergeBuilder) havingExpr(n *pg.Node) (merge.Expr, error) {
	switch {
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		var args []merge.Expr
		for _, x := range b.Args {
			e, err := m.havingExpr(x)
			if err != nil {
				return nil, err
			}
			args = append(args, e)
		}
		switch b.Boolop {
		case pg.BoolExprType_AND_EXPR:
			return merge.And{Args: args}, nil
		case pg.BoolExprType_OR_EXPR:
			return merge.Or{Args: args}, nil
		default:
			return merge.Not{Arg: args[0]}, nil
		}
	case n.GetAExpr() != nil && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_OP:
		e := n.GetAExpr()
		op := opName(e)
		switch op {
		case "=", "<>", "!=", "<", "<=", ">", ">=":
		case "+", "-", "*", "/":
			col, err := m.hiddenDerived(n)
			if err != nil {
				return nil, fmt.Errorf("pgshard: cannot merge this HAVING condition across shards: %w", err)
			}
			return merge.ColRef{Col: col}, nil
		default:
			return nil, fmt.Errorf("pgshard: cannot merge HAVING with operator %s across shards", op)
		}
		l, err := m.havingExpr(e.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := m.havingExpr(e.Rexpr)
		if err != nil {
			return nil, err
		}
		return merge.Cmp{Op: op, L: l, R: r}, nil
	case n.GetNullTest() != nil:
		t := n.GetNullTest()
		arg, err := m.havingExpr(t.Arg)
		if err != nil {
			return nil, err
		}
		return merge.IsNull{Arg: arg, Not: t.Nulltesttype == pg.NullTestType_IS_NOT_NULL}, nil
	case n.GetAConst() != nil:
		c := n.GetAConst()
		return merge.Const{Text: constText(c), Null: c.Isnull}, nil
	case n.GetTypeCast() != nil && n.GetTypeCast().Arg.GetAConst() != nil:
		return m.havingExpr(n.GetTypeCast().Arg)
	case n.GetParamRef() != nil:
		// Bound at execution (values.bindHaving); PostgreSQL infers its
		// type from the other operand, and so does the merge.
		return merge.Const{Param: int(n.GetParamRef().Number)}, nil
	case n.GetTypeCast() != nil && n.GetTypeCast().Arg.GetParamRef() != nil:
		cast, ok := castTarget(n.GetTypeCast().TypeName)
		if !ok || cast.Precision > 0 {
			return nil, fmt.Errorf("pgshard: cannot merge HAVING with a parameter cast to that type across shards")
		}
		return merge.Const{Param: int(n.GetTypeCast().Arg.GetParamRef().Number), TypeOID: cast.OID}, nil
	}
	if col, ok := m.find(n, false); ok {
		return merge.ColRef{Col: col}, nil
	}
	if f := n.GetFuncCall(); f != nil && m.a.schema.isAggregate(f) && varianceAggs[funcName(f)] == nil {
		clone := &pg.Node{Node: &pg.Node_FuncCall{FuncCall: proto.Clone(f).(*pg.FuncCall)}}
		col := m.addHidden(clone)
		if err := m.aggregate(clone, col); err != nil {
			return nil, err
		}
		return merge.ColRef{Col: col}, nil
	}
	if m.a.schema.hasAggregate([]*pg.Node{n}) {
		col, err := m.hiddenDerived(n)
		if err != nil {
			return nil, fmt.Errorf("pgshard: cannot merge this HAVING condition across shards: %w", err)
		}
		return merge.ColRef{Col: col}, nil
	}
	return nil, fmt.Errorf("pgshard: cannot merge this HAVING condition across shards; compare aggregates or grouped columns with constants")
}

// fixExpr maps the column indexes of a merged HAVING.
func fixExpr(e merge.Expr, fix func(int) int) merge.Expr {
	switch e := e.(type) {
	case merge.ColRef:
		return merge.ColRef{Col: fix(e.Col)}
	case merge.Cmp:
		return merge.Cmp{Op: e.Op, L: fixExpr(e.L, fix), R: fixExpr(e.R, fix)}
	case merge.And:
		args := make([]merge.Expr, len(e.Args))
		for i, x := range e.Args {
			args[i] = fixExpr(x, fix)
		}
		return merge.And{Args: args}
	case merge.Or:
		args := make([]merge.Expr, len(e.Args))
		for i, x := range e.Args {
			args[i] = fixExpr(x, fix)
		}
		return merge.Or{Args: args}
	case merge.Not:
		return merge.Not{Arg: fixExpr(e.Arg, fix)}
	case merge.IsNull:
		return merge.IsNull{Arg: fixExpr(e.Arg, fix), Not: e.Not}
	}
	return e
}
