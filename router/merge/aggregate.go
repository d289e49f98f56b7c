package merge

import (
	"math"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// aggPlan is one Agg with its decoders and types resolved up front.
type aggPlan struct {
	Agg
	in     decoder
	cnt    decoder // AggAvg only
	inOID  uint32  // the shard column's type
	outOID uint32  // the merged column's type (differs only for avg)
	format int16
}

// aggState accumulates one aggregate of one group.
type aggState struct {
	seen  bool             // a non-NULL partial was seen
	acc   value            // running sum, current min/max, running bool
	raw   []byte           // min/max: the winning field exactly as a shard sent it
	count int64            // AggCount total, or AggAvg's total count
	set   map[string]value // distinct aggregates: the values seen, by key
	parts [][]byte         // concatenating aggregates: the non-NULL partials
}

// avgOutOID resolves Agg.OutOID for an avg over a sum column of type sum.
func avgOutOID(a Agg, sum uint32) uint32 {
	if a.OutOID != 0 {
		return a.OutOID
	}
	switch sum {
	case oidFloat4, oidFloat8:
		return oidFloat8
	}
	return oidNumeric
}

func planAggs(m *pgtype.Map, cols []Column, spec *Spec) ([]aggPlan, error) {
	plans := make([]aggPlan, len(spec.Aggs))
	for i, a := range spec.Aggs {
		if a.Col < 0 || a.Col >= len(cols) {
			return nil, errorf(CodeInternal, "aggregate column "+strconv.Itoa(a.Col)+" out of range")
		}
		c := cols[a.Col]
		p := aggPlan{Agg: a, inOID: c.TypeOID, outOID: c.TypeOID, format: c.Format}
		switch a.Kind {
		case AggStringAgg:
			if c.TypeOID != oidText && c.TypeOID != oidVarchar {
				return nil, errorf(CodeFeatureUnsupported, "cannot merge string_agg over type OID "+strconv.Itoa(int(c.TypeOID)))
			}
			plans[i] = p
			continue
		case AggJSONAgg:
			if c.TypeOID != oidJSON && c.TypeOID != oidJSONB {
				return nil, errorf(CodeInternal, "json_agg column is not json")
			}
			plans[i] = p
			continue
		case AggArrayAgg:
			plans[i] = p // checked as it is joined
			continue
		}
		if (a.Kind == AggMin || a.Kind == AggMax) && !orderable(c.TypeOID) {
			return nil, unorderable("min or max", c)
		}
		needOrder := a.Kind == AggMin || a.Kind == AggMax || a.Kind >= AggCountDistinct
		dec, err := newDecoder(m, c.TypeOID, c.Format, needOrder)
		if err != nil {
			return nil, err
		}
		p.in = dec
		switch a.Kind {
		case AggCount, AggMin, AggMax:
		case AggCountDistinct:
			p.outOID = oidInt8
		case AggSumDistinct, AggAvgDistinct:
			out, ok := distinctOutOID(a.Kind, c.TypeOID)
			if !ok {
				return nil, errorf(CodeFeatureUnsupported, "cannot merge sum/avg(DISTINCT) over type OID "+strconv.Itoa(int(c.TypeOID)))
			}
			p.outOID = out
		case AggSum:
			switch c.TypeOID {
			case oidInt2, oidInt4, oidInt8, oidNumeric, oidFloat4, oidFloat8, oidInterval:
			default:
				return nil, errorf(CodeFeatureUnsupported, "cannot merge sum over type OID "+strconv.Itoa(int(c.TypeOID)))
			}
		case AggAvg:
			if a.CountCol < 0 || a.CountCol >= len(cols) {
				return nil, errorf(CodeInternal, "avg count column "+strconv.Itoa(a.CountCol)+" out of range")
			}
			cc := cols[a.CountCol]
			if p.cnt, err = newDecoder(m, cc.TypeOID, cc.Format, false); err != nil {
				return nil, err
			}
			p.outOID = avgOutOID(a, c.TypeOID)
			switch {
			case p.outOID == oidNumeric && (c.TypeOID == oidInt2 || c.TypeOID == oidInt4 || c.TypeOID == oidInt8 || c.TypeOID == oidNumeric):
			case p.outOID == oidFloat8 && (c.TypeOID == oidFloat4 || c.TypeOID == oidFloat8):
			default:
				return nil, errorf(CodeFeatureUnsupported, "cannot merge avg of type OID "+strconv.Itoa(int(p.outOID))+" from sums of type OID "+strconv.Itoa(int(c.TypeOID)))
			}
		case AggBoolAnd, AggBoolOr:
			if c.TypeOID != oidBool {
				return nil, errorf(CodeInternal, "bool_and/bool_or column is not boolean")
			}
		default:
			return nil, errorf(CodeInternal, "unknown aggregate kind "+strconv.Itoa(int(a.Kind)))
		}
		plans[i] = p
	}
	return plans, nil
}

var (
	errBigintRange   = errorf(CodeNumericOutOfRange, "bigint out of range")
	errFloatOverflow = errorf(CodeNumericOutOfRange, "value out of range: overflow")
	errIntervalRange = errorf(CodeDatetimeOverflow, "interval out of range")
)

func addInt64(a, b int64) (int64, error) {
	s := a + b
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, errBigintRange
	}
	return s, nil
}

func addInt32(a, b int32) (int32, error) {
	s := int64(a) + int64(b)
	if s < math.MinInt32 || s > math.MaxInt32 {
		return 0, errIntervalRange
	}
	return int32(s), nil
}

// addValues is the shard-combining "+" for sums: the overflow checks are
// the ones PostgreSQL's own +, so errors match what one server reports.
// float4 sums add in float4 precision because PostgreSQL's sum(float4)
// accumulates in float4.
func addValues(a, b value, oid uint32) (value, error) {
	switch a.k {
	case vInt:
		s, err := addInt64(a.i, b.i)
		return value{k: vInt, i: s}, err
	case vFloat:
		s := a.f + b.f
		if oid == oidFloat4 {
			s = float64(float32(a.f) + float32(b.f))
		}
		if math.IsInf(s, 0) && !math.IsInf(a.f, 0) && !math.IsInf(b.f, 0) {
			return value{}, errFloatOverflow
		}
		return value{k: vFloat, f: s}, nil
	case vNumeric:
		return value{k: vNumeric, n: addDecimal(a.n, b.n)}, nil
	case vInterval:
		mon, err := addInt32(a.mon, b.mon)
		if err != nil {
			return value{}, err
		}
		day, err := addInt32(a.day, b.day)
		if err != nil {
			return value{}, err
		}
		us, err := addInt64(a.i, b.i)
		if err != nil {
			return value{}, errIntervalRange
		}
		return value{k: vInterval, mon: mon, day: day, i: us}, nil
	}
	return value{}, errorf(CodeFeatureUnsupported, "cannot add values of this type")
}

func (p *aggPlan) step(st *aggState, row Row) error {
	if p.Kind >= AggStringAgg {
		if b := row[p.Col]; b != nil {
			st.parts = append(st.parts, b)
		}
		return nil
	}
	v, err := p.in(row[p.Col])
	if err != nil {
		return err
	}
	switch p.Kind {
	case AggCount:
		if v.k != vNull {
			st.count, err = addInt64(st.count, v.i)
		}
		return err
	case AggSum, AggAvg:
		if p.Kind == AggAvg {
			c, err := p.cnt(row[p.CountCol])
			if err != nil {
				return err
			}
			if c.k != vNull {
				if st.count, err = addInt64(st.count, c.i); err != nil {
					return err
				}
			}
			// Integer sums are widened to numeric, as int8_avg and
			// numeric_poly_avg do before dividing; that cannot overflow.
			if v.k == vInt {
				v = value{k: vNumeric, n: decFromInt(v.i)}
			}
		}
		if v.k == vNull {
			return nil
		}
		if !st.seen {
			st.acc, st.seen = v, true
			return nil
		}
		addOID := p.inOID
		if p.Kind == AggAvg {
			addOID = oidFloat8 // avg(float4) accumulates in float8
		}
		st.acc, err = addValues(st.acc, v, addOID)
		return err
	case AggMin, AggMax:
		if v.k == vNull {
			return nil
		}
		if st.seen {
			c, _ := compareValues(v, st.acc)
			if (p.Kind == AggMin && c >= 0) || (p.Kind == AggMax && c <= 0) {
				return nil
			}
		}
		st.acc, st.raw, st.seen = v, row[p.Col], true
	case AggCountDistinct, AggSumDistinct, AggAvgDistinct:
		if v.k == vNull {
			return nil
		}
		if st.set == nil {
			st.set = map[string]value{}
		}
		st.set[string(appendKey(nil, v))] = v
	case AggBoolAnd, AggBoolOr:
		if v.k == vNull {
			return nil
		}
		if !st.seen {
			st.acc, st.seen = v, true
		} else if p.Kind == AggBoolAnd {
			st.acc.i &= v.i
		} else {
			st.acc.i |= v.i
		}
	}
	return nil
}

func (p *aggPlan) final(st *aggState) ([]byte, error) {
	switch p.Kind {
	case AggStringAgg, AggArrayAgg, AggJSONAgg:
		return p.concatParts(st.parts)
	case AggCount:
		return encodeValue(value{k: vInt, i: st.count}, p.inOID, p.format)
	case AggCountDistinct:
		return encodeValue(value{k: vInt, i: int64(len(st.set))}, oidInt8, p.format)
	case AggSumDistinct, AggAvgDistinct:
		return p.finalDistinct(st)
	case AggMin, AggMax:
		return st.raw, nil
	case AggAvg:
		if st.count == 0 || !st.seen {
			return nil, nil
		}
		if p.outOID == oidFloat8 {
			return encodeValue(value{k: vFloat, f: st.acc.f / float64(st.count)}, oidFloat8, p.format)
		}
		return encodeValue(value{k: vNumeric, n: avgDecimal(st.acc.n, st.count)}, oidNumeric, p.format)
	}
	if !st.seen {
		return nil, nil
	}
	return encodeValue(st.acc, p.inOID, p.format)
}

type group struct {
	first  Row
	states []aggState
}

// aggregate groups all shard rows by the GroupBy columns (type equality,
// NULLs together) and combines the partial aggregates. Groups come out in
// order of first appearance, which keeps the result deterministic.
func aggregate(m *pgtype.Map, cols []Column, parts [][]Row, spec *Spec) ([]Row, error) {
	plans, err := planAggs(m, cols, spec)
	if err != nil {
		return nil, err
	}
	keyDec := make([]decoder, len(spec.GroupBy))
	for i, c := range spec.GroupBy {
		if c < 0 || c >= len(cols) {
			return nil, errorf(CodeInternal, "GROUP BY column "+strconv.Itoa(c)+" out of range")
		}
		if keyDec[i], err = newDecoder(m, cols[c].TypeOID, cols[c].Format, true); err != nil {
			return nil, err
		}
	}
	var groups []*group
	index := map[string]*group{}
	var key []byte
	for _, part := range parts {
		for _, row := range part {
			key = key[:0]
			for i, c := range spec.GroupBy {
				v, err := keyDec[i](row[c])
				if err != nil {
					return nil, err
				}
				key = appendKey(key, v)
			}
			g := index[string(key)]
			if g == nil {
				g = &group{first: row, states: make([]aggState, len(plans))}
				index[string(key)] = g
				groups = append(groups, g)
			}
			for i := range plans {
				if err := plans[i].step(&g.states[i], row); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(groups) == 0 && len(spec.GroupBy) == 0 {
		// A global aggregate yields one row even over no input; columns we
		// cannot compute without a shard row (non-aggregates) are NULL.
		groups = append(groups, &group{first: make(Row, len(cols)), states: make([]aggState, len(plans))})
	}
	out := make([]Row, len(groups))
	for gi, g := range groups {
		row := make(Row, len(cols))
		copy(row, g.first)
		for i := range plans {
			if row[plans[i].Col], err = plans[i].final(&g.states[i]); err != nil {
				return nil, err
			}
		}
		out[gi] = row
	}
	return out, nil
}

// distinctOutOID is the result type of sum or avg over a column of type in.
func distinctOutOID(kind AggKind, in uint32) (uint32, bool) {
	switch in {
	case oidInt2, oidInt4:
		if kind == AggSumDistinct {
			return oidInt8, true
		}
		return oidNumeric, true
	case oidInt8, oidNumeric:
		return oidNumeric, true
	case oidFloat4:
		if kind == AggSumDistinct {
			return oidFloat4, true
		}
		return oidFloat8, true
	case oidFloat8:
		return oidFloat8, true
	}
	return 0, false
}

// finalDistinct sums (and for avg divides) the distinct values of a group.
func (p *aggPlan) finalDistinct(st *aggState) ([]byte, error) {
	if len(st.set) == 0 {
		return nil, nil
	}
	vals := make([]value, 0, len(st.set))
	for _, v := range st.set {
		vals = append(vals, v)
	}
	slices.SortFunc(vals, func(a, b value) int { c, _ := compareValues(a, b); return c })
	var acc value
	switch {
	case p.outOID == oidInt8:
		acc = value{k: vInt}
		for _, v := range vals {
			var err error
			if acc.i, err = addInt64(acc.i, v.i); err != nil {
				return nil, err
			}
		}
	case p.outOID == oidNumeric:
		acc = value{k: vNumeric, n: decFromInt(0)}
		for _, v := range vals {
			if v.k == vInt {
				v = value{k: vNumeric, n: decFromInt(v.i)}
			}
			acc.n = addDecimal(acc.n, v.n)
		}
	default: // float4 or float8, added in ascending order
		acc = value{k: vFloat}
		addOID := p.outOID
		if p.Kind == AggAvgDistinct {
			addOID = oidFloat8
		}
		for i, v := range vals {
			if i == 0 {
				acc = v
				continue
			}
			var err error
			if acc, err = addValues(acc, v, addOID); err != nil {
				return nil, err
			}
		}
	}
	if p.Kind == AggAvgDistinct {
		n := int64(len(vals))
		if acc.k == vFloat {
			return encodeValue(value{k: vFloat, f: acc.f / float64(n)}, oidFloat8, p.format)
		}
		return encodeValue(value{k: vNumeric, n: avgDecimal(acc.n, n)}, oidNumeric, p.format)
	}
	return encodeValue(acc, p.outOID, p.format)
}
