package router

import (
	"bytes"
	"slices"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Subqueries whose LIMIT or OFFSET does nothing. A LIMIT or OFFSET in a
// subquery over several shards cannot be applied shard by shard, so such
// a statement is staged or refused — unless the clause is a no-op: LIMIT
// ALL or NULL, OFFSET 0 or NULL. ORMs write exactly that: Prisma's count()
// is SELECT COUNT(*) FROM (SELECT ... WHERE 1=1 OFFSET $1) AS sub with $1
// bound to 0, and OFFSET 0 is the classic optimisation fence. A constant
// is judged when planned (the plan is then exact: OFFSET 5 plans apart);
// an OFFSET parameter at each Bind, by a second plan made as if it were 0
// (Plan.zeroOffsets), used when every such parameter is 0 or NULL.

// zeroOffsets is the plan of a statement with its subqueries' OFFSET
// parameters taken as 0, and those parameters.
type zeroOffsets struct {
	params []int // 1-based
	plan   *Plan
}

// noLimit reports whether s's LIMIT and OFFSET (if any) keep every row.
func (a *analyzer) noLimit(s *pg.SelectStmt) bool {
	if s.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES || !isNull(s.LimitCount) {
		return false
	}
	off := s.LimitOffset
	for off.GetTypeCast() != nil {
		off = off.GetTypeCast().Arg
	}
	switch {
	case off == nil || isNull(off):
		return true
	case off.GetParamRef() != nil:
		n := int(off.GetParamRef().Number)
		if !a.zeroOffsets {
			a.offsetParam = true
			return false
		}
		if !slices.Contains(a.offsetParams, n) {
			a.offsetParams = append(a.offsetParams, n)
		}
		return true
	case off.GetAConst() != nil && off.GetAConst().GetIval() != nil:
		a.exact = true // the plan holds for this constant only
		return off.GetAConst().GetIval().Ival == 0
	}
	return false
}

// isNull reports whether n is absent or the constant NULL (LIMIT ALL
// parses as a NULL LIMIT).
func isNull(n *pg.Node) bool {
	return n == nil || n.GetAConst() != nil && n.GetAConst().Isnull
}

// zero reports whether every one of params is bound to 0 or NULL.
func (v *values) zero(params []int) bool {
	for _, n := range params {
		i := n - 1
		if i >= len(v.params) {
			return false
		}
		b := v.params[i]
		switch {
		case b == nil:
		case i < len(v.formats) && v.formats[i] == 1:
			if len(b) != 2 && len(b) != 4 && len(b) != 8 || slices.ContainsFunc(b, func(c byte) bool { return c != 0 }) {
				return false
			}
		default:
			if t := bytes.TrimSpace(b); len(bytes.TrimLeft(t, "+-0")) != 0 || len(t) == 0 {
				return false
			}
		}
	}
	return true
}

// withZeroOffsets attaches to p, a refusal made by a, the plan of the
// statement with its subqueries' OFFSET parameters taken as 0, when one
// of them made it a refusal and that plan is not.
func (s *Schema) withZeroOffsets(p *Plan, a *analyzer, stmt *pg.Node, lits []sqltext.Literal, version int32, views map[string]*pg.Node) {
	if p.Kind != KindRefuse || !a.offsetParam {
		return
	}
	z := newAnalyzer(s, lits, version, views)
	z.zeroOffsets = true
	zp := s.buildWith(z, stmt, lits, version)
	if zp == nil || zp.Kind == KindRefuse || len(z.offsetParams) == 0 {
		return
	}
	s.finish(zp, z, stmt)
	p.zeroOffsets = &zeroOffsets{params: z.offsetParams, plan: zp}
}
