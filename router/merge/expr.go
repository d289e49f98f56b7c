package merge

import (
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// Expr is a HAVING predicate over merged rows. The router translates the
// query's HAVING clause into these nodes; they evaluate with SQL
// three-valued logic and a row passes only when the result is TRUE.
type Expr interface{ isExpr() }

// ColRef is the value of column Col of the merged row.
type ColRef struct{ Col int }

// Const is a literal in PostgreSQL text form, or in binary form when
// Format is 1 (a Bind parameter's bytes). TypeOID 0 or 705 (unknown)
// means "the type of the other operand of the comparison", like an untyped
// SQL literal or a parameter PostgreSQL infers from the other operand.
// Param > 0 marks a plan's $n, which the router replaces with the Bind
// value before merging.
type Const struct {
	Text    string
	TypeOID uint32
	Null    bool
	Format  int16
	Param   int
}

// Cmp compares L and R with Op: = <> != < <= > >=. NULL if either is NULL.
type Cmp struct {
	Op   string
	L, R Expr
}

// And is TRUE if all Args are TRUE, FALSE if any is FALSE, else NULL.
type And struct{ Args []Expr }

// Or is TRUE if any Arg is TRUE, FALSE if all are FALSE, else NULL.
type Or struct{ Args []Expr }

// Not negates Arg; NOT NULL is NULL.
type Not struct{ Arg Expr }

// IsNull is Arg IS NULL (or IS NOT NULL when Not); never NULL itself.
type IsNull struct {
	Arg Expr
	Not bool
}

func (ColRef) isExpr() {}
func (Const) isExpr()  {}
func (Cmp) isExpr()    {}
func (And) isExpr()    {}
func (Or) isExpr()     {}
func (Not) isExpr()    {}
func (IsNull) isExpr() {}

// evalFn evaluates a compiled expression on a merged row's decoded values.
// Predicates return vBool or vNull values.
type evalFn func(row []value) (value, error)

var (
	trueValue  = value{k: vBool, i: 1}
	falseValue = value{k: vBool}
)

func boolValue(b bool) value {
	if b {
		return trueValue
	}
	return falseValue
}

// compileExpr resolves column types and parses constants once, so
// evaluation per row does no parsing. types[i] is the merged column's OID.
func compileExpr(m *pgtype.Map, e Expr, types []uint32) (evalFn, error) {
	switch e := e.(type) {
	case ColRef:
		if e.Col < 0 || e.Col >= len(types) {
			return nil, errorf(CodeInternal, "HAVING references column "+strconv.Itoa(e.Col)+" out of range")
		}
		return func(row []value) (value, error) { return row[e.Col], nil }, nil
	case *ColRef:
		return compileExpr(m, *e, types)
	case Const:
		return compileConst(m, e, e.TypeOID)
	case *Const:
		return compileExpr(m, *e, types)
	case Cmp:
		return compileCmp(m, e, types)
	case *Cmp:
		return compileExpr(m, *e, types)
	case And:
		return compileBool(m, e.Args, types, false)
	case *And:
		return compileBool(m, e.Args, types, false)
	case Or:
		return compileBool(m, e.Args, types, true)
	case *Or:
		return compileBool(m, e.Args, types, true)
	case Not:
		arg, err := compileExpr(m, e.Arg, types)
		if err != nil {
			return nil, err
		}
		return func(row []value) (value, error) {
			v, err := arg(row)
			if err != nil || v.k == vNull {
				return v, err
			}
			if v.k != vBool {
				return value{}, errorf(CodeInternal, "NOT argument is not boolean")
			}
			return boolValue(v.i == 0), nil
		}, nil
	case *Not:
		return compileExpr(m, *e, types)
	case IsNull:
		arg, err := compileExpr(m, e.Arg, types)
		if err != nil {
			return nil, err
		}
		return func(row []value) (value, error) {
			v, err := arg(row)
			if err != nil {
				return v, err
			}
			return boolValue((v.k == vNull) != e.Not), nil
		}, nil
	case *IsNull:
		return compileExpr(m, *e, types)
	}
	return nil, errorf(CodeInternal, "unsupported HAVING expression node")
}

func compileConst(m *pgtype.Map, c Const, oid uint32) (evalFn, error) {
	if c.Null {
		return func([]value) (value, error) { return nullValue, nil }, nil
	}
	if c.Param > 0 {
		return nil, errorf(CodeInternal, "HAVING parameter $"+strconv.Itoa(c.Param)+" was not bound")
	}
	if oid == 0 {
		oid = oidUnknown
	}
	if c.Format == 1 && oid == oidUnknown {
		return nil, errorf(CodeFeatureUnsupported, "pgshard: cannot compare a binary parameter of unknown type in HAVING across shards; send it in text format or cast it")
	}
	dec, err := newDecoder(m, oid, c.Format, true)
	if err != nil {
		return nil, err
	}
	v, err := dec([]byte(c.Text))
	if err != nil {
		if c.Format == 0 {
			return nil, invalidText(oid, []byte(c.Text)) // the query's own constant
		}
		return nil, err
	}
	return func([]value) (value, error) { return v, nil }, nil
}

// exprType is the static type of an operand, 0 when unknown.
func exprType(e Expr, types []uint32) uint32 {
	switch e := e.(type) {
	case ColRef:
		if e.Col >= 0 && e.Col < len(types) {
			return types[e.Col]
		}
	case *ColRef:
		return exprType(*e, types)
	case Const:
		if e.TypeOID != oidUnknown {
			return e.TypeOID
		}
	case *Const:
		return exprType(*e, types)
	case Cmp, *Cmp, And, *And, Or, *Or, Not, *Not, IsNull, *IsNull:
		return oidBool
	}
	return 0
}

// compileOperand compiles one side of a comparison; an untyped constant
// takes the other side's type, as PostgreSQL resolves 'literal' operands.
func compileOperand(m *pgtype.Map, e Expr, other uint32, types []uint32) (evalFn, error) {
	c, ok := e.(Const)
	if p, isPtr := e.(*Const); isPtr {
		c, ok = *p, true
	}
	if ok && (c.TypeOID == 0 || c.TypeOID == oidUnknown) && other != 0 {
		return compileConst(m, c, other)
	}
	return compileExpr(m, e, types)
}

func compileCmp(m *pgtype.Map, e Cmp, types []uint32) (evalFn, error) {
	l, err := compileOperand(m, e.L, exprType(e.R, types), types)
	if err != nil {
		return nil, err
	}
	r, err := compileOperand(m, e.R, exprType(e.L, types), types)
	if err != nil {
		return nil, err
	}
	var test func(int) bool
	switch e.Op {
	case "=":
		test = func(c int) bool { return c == 0 }
	case "<>", "!=":
		test = func(c int) bool { return c != 0 }
	case "<":
		test = func(c int) bool { return c < 0 }
	case "<=":
		test = func(c int) bool { return c <= 0 }
	case ">":
		test = func(c int) bool { return c > 0 }
	case ">=":
		test = func(c int) bool { return c >= 0 }
	default:
		return nil, errorf(CodeInternal, "unsupported HAVING operator "+strconv.Quote(e.Op))
	}
	return func(row []value) (value, error) {
		a, err := l(row)
		if err != nil {
			return a, err
		}
		b, err := r(row)
		if err != nil {
			return b, err
		}
		if a.k == vNull || b.k == vNull {
			return nullValue, nil
		}
		c, ok := compareValues(a, b)
		if !ok {
			return value{}, errorf(CodeInternal, "HAVING compares values of incompatible types")
		}
		return boolValue(test(c)), nil
	}, nil
}

// compileBool builds AND (or=false) / OR (or=true) with SQL NULL semantics.
func compileBool(m *pgtype.Map, args []Expr, types []uint32, or bool) (evalFn, error) {
	fns := make([]evalFn, len(args))
	for i, a := range args {
		f, err := compileExpr(m, a, types)
		if err != nil {
			return nil, err
		}
		fns[i] = f
	}
	return func(row []value) (value, error) {
		sawNull := false
		for _, f := range fns {
			v, err := f(row)
			if err != nil {
				return v, err
			}
			switch {
			case v.k == vNull:
				sawNull = true
			case v.k != vBool:
				return value{}, errorf(CodeInternal, "AND/OR argument is not boolean")
			case (v.i != 0) == or:
				return v, nil // short circuit: TRUE for OR, FALSE for AND
			}
		}
		if sawNull {
			return nullValue, nil
		}
		return boolValue(!or), nil
	}, nil
}

// exprCols appends the distinct columns e reads to dst.
func exprCols(e Expr, dst []int) []int {
	add := func(c int) []int {
		if slices.Contains(dst, c) {
			return dst
		}
		return append(dst, c)
	}
	switch e := e.(type) {
	case ColRef:
		return add(e.Col)
	case *ColRef:
		return add(e.Col)
	case Cmp:
		return exprCols(e.R, exprCols(e.L, dst))
	case *Cmp:
		return exprCols(e.R, exprCols(e.L, dst))
	case And:
		for _, a := range e.Args {
			dst = exprCols(a, dst)
		}
	case *And:
		for _, a := range e.Args {
			dst = exprCols(a, dst)
		}
	case Or:
		for _, a := range e.Args {
			dst = exprCols(a, dst)
		}
	case *Or:
		for _, a := range e.Args {
			dst = exprCols(a, dst)
		}
	case Not:
		return exprCols(e.Arg, dst)
	case *Not:
		return exprCols(e.Arg, dst)
	case IsNull:
		return exprCols(e.Arg, dst)
	case *IsNull:
		return exprCols(e.Arg, dst)
	}
	return dst
}
