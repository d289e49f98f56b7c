package merge

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// Calc is an expression over merged aggregates that pgshard computes
// after the merge, with PostgreSQL's types, rounding and errors for
// integers and numerics (floats are refused: their rounding would have
// to match the server's bit for bit).
type Calc interface{ String() string }

// CalcCol is a merged aggregate column.
type CalcCol struct{ Col int }

// CalcNum is a numeric constant as written: int4 if it fits, else int8,
// else numeric (an integer); numeric with its digits' scale (a decimal).
type CalcNum struct{ Text string }

// CalcCast is Arg::OID (one of CastOIDs), or Arg::numeric(Precision,
// Scale) when OID is numeric and Precision is above 0.
type CalcCast struct {
	Arg       Calc
	OID       uint32
	Precision int32
	Scale     int32
}

// CalcCoalesce is COALESCE(Args...).
type CalcCoalesce struct{ Args []Calc }

// CalcOp is L Op R for Op + - * /, or -R when L is nil.
type CalcOp struct {
	Op   byte
	L, R Calc
}

// CalcRound is round(Arg, Scale), or round(Arg) when !HasScale.
type CalcRound struct {
	Arg      Calc
	Scale    int32
	HasScale bool
}

// CalcVariance is var_samp (Sample) or var_pop, or with Sqrt stddev_samp
// or stddev_pop, from the merged count(x), sum(x::numeric) and
// sum(x::numeric * x::numeric) as PostgreSQL's numeric_stddev_internal
// computes it for integers and numerics.
type CalcVariance struct {
	N, SumX, SumX2 Calc
	Sample, Sqrt   bool
}

func (c CalcVariance) String() string {
	name := "var"
	if c.Sqrt {
		name = "stddev"
	}
	if c.Sample {
		name += "_samp"
	} else {
		name += "_pop"
	}
	return name + "(" + c.N.String() + ", " + c.SumX.String() + ", " + c.SumX2.String() + ")"
}

func (c CalcCol) String() string { return "$" + strconv.Itoa(c.Col) }
func (c CalcNum) String() string { return c.Text }
func (c CalcCast) String() string {
	s := "(" + c.Arg.String() + ")::" + strconv.Itoa(int(c.OID))
	if c.Precision > 0 {
		s += "(" + strconv.Itoa(int(c.Precision)) + "," + strconv.Itoa(int(c.Scale)) + ")"
	}
	return s
}
func (c CalcCoalesce) String() string {
	parts := make([]string, len(c.Args))
	for i, a := range c.Args {
		parts[i] = a.String()
	}
	return "coalesce(" + strings.Join(parts, ", ") + ")"
}
func (c CalcOp) String() string {
	if c.L == nil {
		return "-(" + c.R.String() + ")"
	}
	return "(" + c.L.String() + " " + string(c.Op) + " " + c.R.String() + ")"
}
func (c CalcRound) String() string {
	return "round(" + c.Arg.String() + ", " + strconv.Itoa(int(c.Scale)) + ")"
}

// MapCols returns c with every CalcCol's column passed through f.
func MapCols(c Calc, f func(int) int) Calc {
	switch c := c.(type) {
	case CalcCol:
		return CalcCol{Col: f(c.Col)}
	case CalcCast:
		return CalcCast{Arg: MapCols(c.Arg, f), OID: c.OID, Precision: c.Precision, Scale: c.Scale}
	case CalcCoalesce:
		args := make([]Calc, len(c.Args))
		for i, a := range c.Args {
			args[i] = MapCols(a, f)
		}
		return CalcCoalesce{Args: args}
	case CalcOp:
		out := CalcOp{Op: c.Op, R: MapCols(c.R, f)}
		if c.L != nil {
			out.L = MapCols(c.L, f)
		}
		return out
	case CalcRound:
		return CalcRound{Arg: MapCols(c.Arg, f), Scale: c.Scale, HasScale: c.HasScale}
	case CalcVariance:
		return CalcVariance{N: MapCols(c.N, f), SumX: MapCols(c.SumX, f), SumX2: MapCols(c.SumX2, f), Sample: c.Sample, Sqrt: c.Sqrt}
	}
	return c
}

type calcEval struct {
	m    *pgtype.Map
	cols []Column
	decs map[int]decoder
}

func isInt(oid uint32) bool { return oid == oidInt2 || oid == oidInt4 || oid == oidInt8 }

// intRank orders the integer types by width.
func intRank(oid uint32) int {
	switch oid {
	case oidInt2:
		return 1
	case oidInt4:
		return 2
	}
	return 3
}

func unsupportedCalc(what string) *Error {
	return errorf(CodeFeatureUnsupported, "pgshard: cannot compute "+what+" over aggregates merged across shards")
}

// typeOf is the PostgreSQL type of c, by the rules of operator and
// function resolution for the integer and numeric types.
func (ev *calcEval) typeOf(c Calc) (uint32, error) {
	switch c := c.(type) {
	case CalcCol:
		if c.Col < 0 || c.Col >= len(ev.cols) {
			return 0, errorf(CodeInternal, "derived column source out of range")
		}
		return ev.cols[c.Col].TypeOID, nil
	case CalcNum:
		if i, err := strconv.ParseInt(c.Text, 10, 64); err == nil {
			if int64(int32(i)) == i {
				return oidInt4, nil
			}
			return oidInt8, nil
		}
		return oidNumeric, nil
	case CalcCast:
		if _, err := ev.typeOf(c.Arg); err != nil {
			return 0, err
		}
		return c.OID, nil
	case CalcCoalesce:
		var common uint32
		for _, a := range c.Args {
			t, err := ev.typeOf(a)
			if err != nil {
				return 0, err
			}
			isFloat := func(o uint32) bool { return o == oidFloat4 || o == oidFloat8 }
			isNum := func(o uint32) bool { return isInt(o) || o == oidNumeric || isFloat(o) }
			// select_common_type in the numeric category: the type the
			// others implicitly cast to (int2 < int4 < int8 < numeric <
			// float4 < float8).
			switch {
			case common == 0 || common == t:
				common = t
			case isInt(common) && isInt(t):
				if intRank(t) > intRank(common) {
					common = t
				}
			case common == oidFloat8 || t == oidFloat8:
				if !isNum(common) || !isNum(t) {
					return 0, unsupportedCalc("COALESCE of type OIDs " + strconv.Itoa(int(common)) + " and " + strconv.Itoa(int(t)))
				}
				common = oidFloat8
			case isFloat(common) || isFloat(t):
				if !isNum(common) || !isNum(t) {
					return 0, unsupportedCalc("COALESCE of type OIDs " + strconv.Itoa(int(common)) + " and " + strconv.Itoa(int(t)))
				}
				common = oidFloat4
			case (isInt(common) || common == oidNumeric) && (isInt(t) || t == oidNumeric):
				common = oidNumeric
			default:
				return 0, unsupportedCalc("COALESCE of type OIDs " + strconv.Itoa(int(common)) + " and " + strconv.Itoa(int(t)))
			}
		}
		return common, nil
	case CalcOp:
		r, err := ev.typeOf(c.R)
		if err != nil {
			return 0, err
		}
		l := r
		if c.L != nil {
			if l, err = ev.typeOf(c.L); err != nil {
				return 0, err
			}
		}
		switch {
		case isInt(l) && isInt(r):
			if intRank(l) >= intRank(r) {
				return l, nil
			}
			return r, nil
		case (isInt(l) || l == oidNumeric) && (isInt(r) || r == oidNumeric):
			return oidNumeric, nil
		}
		return 0, unsupportedCalc("arithmetic on type OIDs " + strconv.Itoa(int(l)) + " and " + strconv.Itoa(int(r)))
	case CalcRound:
		t, err := ev.typeOf(c.Arg)
		if err != nil {
			return 0, err
		}
		// round(integer) without a scale is round(double precision).
		if t != oidNumeric && !(isInt(t) && c.HasScale) {
			return 0, unsupportedCalc("round() of type OID " + strconv.Itoa(int(t)))
		}
		return oidNumeric, nil
	case CalcVariance:
		for _, x := range []Calc{c.N, c.SumX, c.SumX2} {
			if _, err := ev.typeOf(x); err != nil {
				return 0, err
			}
		}
		return oidNumeric, nil
	}
	return 0, errorf(CodeInternal, "unknown derived expression")
}

// eval computes c for one merged row; a NULL operand makes NULL.
func (ev *calcEval) eval(c Calc, row Row) (value, error) {
	switch c := c.(type) {
	case CalcCol:
		dec, ok := ev.decs[c.Col]
		if !ok {
			var err error
			if dec, err = newDecoder(ev.m, ev.cols[c.Col].TypeOID, ev.cols[c.Col].Format, false); err != nil {
				return value{}, err
			}
			ev.decs[c.Col] = dec
		}
		return dec(row[c.Col])
	case CalcNum:
		if i, err := strconv.ParseInt(c.Text, 10, 64); err == nil {
			return value{k: vInt, i: i}, nil
		}
		d, err := parseNumericText([]byte(c.Text))
		if err != nil {
			return value{}, errorf(CodeInvalidText, "invalid numeric constant "+strconv.Quote(c.Text))
		}
		return value{k: vNumeric, n: d}, nil
	case CalcCast:
		from, err := ev.typeOf(c.Arg)
		if err != nil {
			return value{}, err
		}
		v, err := ev.eval(c.Arg, row)
		if err != nil {
			return value{}, err
		}
		if v, err = castValue(v, from, c.OID); err != nil || c.Precision <= 0 || v.k != vNumeric {
			return v, err
		}
		return numericTypmod(v, c.Precision, c.Scale)
	case CalcCoalesce:
		common, err := ev.typeOf(c)
		if err != nil {
			return value{}, err
		}
		for _, a := range c.Args {
			t, err := ev.typeOf(a)
			if err != nil {
				return value{}, err
			}
			v, err := ev.eval(a, row)
			if err != nil || v.k == vNull {
				if err != nil {
					return value{}, err
				}
				continue
			}
			return castValue(v, t, common)
		}
		return nullValue, nil
	case CalcOp:
		return ev.op(c, row)
	case CalcRound:
		t, err := ev.typeOf(c.Arg)
		if err != nil {
			return value{}, err
		}
		v, err := ev.eval(c.Arg, row)
		if err != nil || v.k == vNull {
			return v, err
		}
		if v, err = castValue(v, t, oidNumeric); err != nil {
			return value{}, err
		}
		if v.n.special != decFinite {
			return v, nil // round keeps NaN and ±Infinity
		}
		return value{k: vNumeric, n: roundDecimal(v.n, c.Scale)}, nil
	case CalcVariance:
		return ev.variance(c, row)
	}
	return value{}, errorf(CodeInternal, "unknown derived expression")
}

// variance follows numeric_stddev_internal: NULL without enough rows,
// NaN over NaN or infinities, 0 when rounding would make the numerator
// negative, else (N·ΣX² − (ΣX)²) / (N·(N−1)) (or N·N) at
// select_div_scale, and its square root at the same scale.
func (ev *calcEval) variance(c CalcVariance, row Row) (value, error) {
	var vals [3]value
	for i, x := range []Calc{c.N, c.SumX, c.SumX2} {
		t, err := ev.typeOf(x)
		if err != nil {
			return value{}, err
		}
		v, err := ev.eval(x, row)
		if err != nil {
			return value{}, err
		}
		if i > 0 && v.k != vNull {
			if v, err = castValue(v, t, oidNumeric); err != nil {
				return value{}, err
			}
		}
		vals[i] = v
	}
	n, sumX, sumX2 := vals[0], vals[1], vals[2]
	comp := int64(0)
	if c.Sample {
		comp = 1
	}
	if n.k == vNull || n.i <= comp || sumX.k == vNull || sumX2.k == vNull {
		return nullValue, nil
	}
	if sumX.n.special != decFinite || sumX2.n.special != decFinite {
		return value{k: vNumeric, n: decimal{special: decNaN}}, nil
	}
	sq := new(big.Int).Mul(sumX.n.coef, sumX.n.coef) // scale 2·dscale(ΣX)
	nSum2 := decimal{coef: new(big.Int).Mul(big.NewInt(n.i), sumX2.n.coef), scale: sumX2.n.scale}
	num := addDecimal(nSum2, decimal{coef: sq.Neg(sq), scale: 2 * sumX.n.scale})
	if num.coef.Sign() <= 0 {
		return value{k: vNumeric, n: decFromInt(0)}, nil
	}
	other := n.i // var_pop divides by N·N
	if c.Sample {
		other = n.i - 1 // var_samp by N·(N−1)
	}
	q := divDecimal(num, decimal{coef: new(big.Int).Mul(big.NewInt(n.i), big.NewInt(other))})
	if !c.Sqrt {
		return value{k: vNumeric, n: q}, nil
	}
	return value{k: vNumeric, n: sqrtDecimal(q)}, nil
}

// sqrtDecimal is sqrt_var of d ≥ 0 at d's own scale: the exact root
// rounded half away from zero.
func sqrtDecimal(d decimal) decimal {
	// √(coef·10^-s)·10^s = √(coef·10^s); one more digit decides the rounding.
	m := new(big.Int).Mul(d.coef, pow10(d.scale+2))
	r := new(big.Int).Sqrt(m)
	last := new(big.Int)
	r.QuoRem(r, big.NewInt(10), last)
	if last.Int64() >= 5 {
		r.Add(r, big.NewInt(1))
	}
	return decimal{coef: r, scale: d.scale}
}

// op computes an arithmetic CalcOp in its result type.
func (ev *calcEval) op(c CalcOp, row Row) (value, error) {
	typ, err := ev.typeOf(c)
	if err != nil {
		return value{}, err
	}
	operand := func(x Calc) (value, error) {
		t, err := ev.typeOf(x)
		if err != nil {
			return value{}, err
		}
		v, err := ev.eval(x, row)
		if err != nil || v.k == vNull {
			return v, err
		}
		return castValue(v, t, typ)
	}
	r, err := operand(c.R)
	if err != nil || r.k == vNull {
		return r, err
	}
	l := value{k: vInt}
	if typ == oidNumeric {
		l = value{k: vNumeric, n: decFromInt(0)}
	}
	if c.L != nil {
		if l, err = operand(c.L); err != nil || l.k == vNull {
			return l, err
		}
	}
	if isInt(typ) {
		x, y := big.NewInt(l.i), big.NewInt(r.i)
		switch c.Op {
		case '+':
			x.Add(x, y)
		case '-':
			x.Sub(x, y)
		case '*':
			x.Mul(x, y)
		case '/':
			if r.i == 0 {
				return value{}, errorf(CodeDivisionByZero, "division by zero")
			}
			x.Quo(x, y) // truncates toward zero, as C does
		}
		if !x.IsInt64() {
			return value{}, errorf(CodeNumericOutOfRange, intNames[typ]+" out of range")
		}
		return value{k: vInt, i: x.Int64()}, checkIntRange(x.Int64(), typ)
	}
	a, b := l.n, r.n
	if a.special != decFinite || b.special != decFinite {
		return value{}, unsupportedCalc("arithmetic on NaN or infinity")
	}
	switch c.Op {
	case '+':
		return value{k: vNumeric, n: addDecimal(a, b)}, nil
	case '-':
		return value{k: vNumeric, n: addDecimal(a, decimal{coef: new(big.Int).Neg(b.coef), scale: b.scale})}, nil
	case '*':
		return value{k: vNumeric, n: decimal{coef: new(big.Int).Mul(a.coef, b.coef), scale: a.scale + b.scale}}, nil
	}
	if b.coef.Sign() == 0 {
		return value{}, errorf(CodeDivisionByZero, "division by zero")
	}
	return value{k: vNumeric, n: divDecimal(a, b)}, nil
}

// divDecimal is numeric_div of finite a and non-zero b: the scale
// select_div_scale picks, rounded half away from zero.
func divDecimal(a, b decimal) decimal {
	rscale := divScale(a, b)
	num := new(big.Int).Abs(a.coef)
	num.Mul(num, pow10(rscale-a.scale+b.scale))
	den := new(big.Int).Abs(b.coef)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if a.coef.Sign()*b.coef.Sign() < 0 {
		q.Neg(q)
	}
	return decimal{coef: q, scale: rscale}
}

// numericTypmod is apply_typmod and apply_typmod_special of PostgreSQL
// 15: v rounded to scale (half away from zero), which must then be below
// 10^(precision-scale) in absolute value; NaN passes, infinities do not.
func numericTypmod(v value, precision, scale int32) (value, error) {
	overflow := func(detail string) (value, error) {
		return value{}, &Error{Code: CodeNumericOutOfRange, Message: "numeric field overflow", Detail: detail}
	}
	switch v.n.special {
	case decNaN:
		return v, nil
	case decPosInf, decNegInf:
		return overflow(fmt.Sprintf("A field with precision %d, scale %d cannot hold an infinite value.", precision, scale))
	}
	r := roundDecimal(v.n, scale)
	maxDigits := precision - scale
	// |r| < 10^maxDigits, r being coef × 10^-r.scale; maxDigits+r.scale
	// is precision or precision-scale, above 0 either way.
	if new(big.Int).Abs(r.coef).Cmp(pow10(maxDigits+r.scale)) >= 0 {
		if maxDigits != 0 {
			return overflow(fmt.Sprintf("A field with precision %d, scale %d must round to an absolute value less than 10^%d.", precision, scale, maxDigits))
		}
		return overflow(fmt.Sprintf("A field with precision %d, scale %d must round to an absolute value less than 1.", precision, scale))
	}
	return value{k: vNumeric, n: r}, nil
}

// roundDecimal is numeric_round: half away from zero at scale digits after
// the point (before it when negative); the display scale is max(scale, 0).
func roundDecimal(d decimal, scale int32) decimal {
	out := max(scale, 0)
	if scale >= d.scale {
		return decimal{coef: new(big.Int).Mul(d.coef, pow10(out-d.scale)), scale: out}
	}
	div := pow10(d.scale - scale)
	q, r := new(big.Int).QuoRem(new(big.Int).Abs(d.coef), div, new(big.Int))
	if r.Lsh(r, 1).Cmp(div) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if d.coef.Sign() < 0 {
		q.Neg(q)
	}
	if scale < 0 {
		q.Mul(q, pow10(-scale))
	}
	return decimal{coef: q, scale: out}
}
