package merge

import (
	"math"
	"math/big"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// Derived is a select-list column computed from merged aggregates, as in
// count(*)::int, COALESCE(sum(amount), 0), sum(amount) / count(*) or
// round(avg(x), 2). The shards send the column only for its
// RowDescription (its name and type); the merge computes its value from
// Expr, whose CalcCol leaves are merged aggregate columns.
type Derived struct {
	Col  int
	Expr Calc
}

// CastOIDs are the types a Derived column may be cast to: the integer,
// numeric, floating-point and text types, whose casts from integers,
// numerics and floats pgshard computes as PostgreSQL does.
var CastOIDs = map[string]uint32{
	"int2": oidInt2, "smallint": oidInt2, "int4": oidInt4, "int": oidInt4, "integer": oidInt4,
	"int8": oidInt8, "bigint": oidInt8, "numeric": oidNumeric, "decimal": oidNumeric,
	"float8": oidFloat8, "float4": oidFloat4, "real": oidFloat4, "text": oidText, "varchar": oidVarchar,
}

// OIDNumeric is numeric's type OID, the one cast that may carry a type
// modifier (CalcCast.Precision).
const OIDNumeric = oidNumeric

// derive computes the Derived columns of the merged rows. The type the
// expression works out to must be the one the shards reported for the
// column: if pgshard's reading of PostgreSQL's type rules were wrong for
// some expression, it fails instead of answering in another type.
func derive(m *pgtype.Map, cols []Column, rows []Row, ds []Derived) error {
	for _, d := range ds {
		if d.Col < 0 || d.Col >= len(cols) {
			return errorf(CodeInternal, "derived column out of range")
		}
		ev := &calcEval{m: m, cols: cols, decs: map[int]decoder{}}
		oid, err := ev.typeOf(d.Expr)
		if err != nil {
			return err
		}
		if want := cols[d.Col].TypeOID; oid != want {
			return errorf(CodeFeatureUnsupported, "pgshard: cannot compute column "+strconv.Quote(cols[d.Col].Name)+
				" across shards: its type (OID "+strconv.Itoa(int(want))+") is not the one pgshard works out (OID "+strconv.Itoa(int(oid))+")")
		}
		for _, r := range rows {
			v, err := ev.eval(d.Expr, r)
			if err != nil {
				return err
			}
			b, err := encodeDerived(v, oid, cols[d.Col].Format)
			if err != nil {
				return err
			}
			r[d.Col] = b
		}
	}
	return nil
}

// castValue converts v, of type from, to type to, with the rounding and
// the errors of PostgreSQL's cast functions (int4_numeric, numeric_int4,
// dtoi4, numeric_float8, …).
func castValue(v value, from, to uint32) (value, error) {
	if v.k == vNull {
		return v, nil
	}
	switch to {
	case oidInt2, oidInt4, oidInt8:
		i, err := toInt(v, to)
		if err != nil {
			return value{}, err
		}
		return value{k: vInt, i: i}, checkIntRange(i, to)
	case oidNumeric:
		switch v.k {
		case vInt:
			return value{k: vNumeric, n: decFromInt(v.i)}, nil
		case vNumeric:
			return v, nil
		}
	case oidFloat8, oidFloat4:
		var f float64
		switch v.k {
		case vInt:
			f = float64(v.i)
		case vNumeric:
			f = v.n.float64()
		case vFloat:
			f = v.f
		default:
			return value{}, castError(from, to)
		}
		if to == oidFloat4 {
			return toFloat4(v, f)
		}
		return value{k: vFloat, f: f}, nil
	case oidText, oidVarchar:
		switch v.k {
		case vInt:
			return value{k: vBytes, b: strconv.AppendInt(nil, v.i, 10)}, nil
		case vNumeric:
			return value{k: vBytes, b: v.n.appendText(nil)}, nil
		case vFloat:
			bits := 64
			if from == oidFloat4 {
				bits = 32
			}
			return value{k: vBytes, b: appendFloatText(nil, v.f, bits)}, nil
		case vBytes:
			return v, nil
		}
	}
	return value{}, castError(from, to)
}

// toFloat4 is float8_float4 for integers and floats (f is v as a float8)
// and float4in of numeric_out's text for numerics, with their errors.
func toFloat4(v value, f float64) (value, error) {
	var r float64
	if v.k == vNumeric {
		text := string(v.n.appendText(nil))
		r, _ = strconv.ParseFloat(text, 32)
		if (math.IsInf(r, 0) && !math.IsInf(f, 0)) || (r == 0 && f != 0) {
			return value{}, errorf(CodeNumericOutOfRange, `"`+text+`" is out of range for type real`)
		}
		return value{k: vFloat, f: r}, nil
	}
	r = float64(float32(f))
	switch {
	case math.IsInf(r, 0) && !math.IsInf(f, 0):
		return value{}, errorf(CodeNumericOutOfRange, "value out of range: overflow")
	case r == 0 && f != 0:
		return value{}, errorf(CodeNumericOutOfRange, "value out of range: underflow")
	}
	return value{k: vFloat, f: r}, nil
}

func castError(from, to uint32) *Error {
	return errorf(CodeFeatureUnsupported, "pgshard: cannot compute a cast from type OID "+
		strconv.Itoa(int(from))+" to type OID "+strconv.Itoa(int(to))+" over an aggregate merged across shards")
}

var intNames = map[uint32]string{oidInt2: "smallint", oidInt4: "integer", oidInt8: "bigint"}

// toInt is numeric_int8 (round half away from zero) and dtoi8 (round half
// to even) without the range check of the target type.
func toInt(v value, to uint32) (int64, error) {
	outOfRange := errorf(CodeNumericOutOfRange, intNames[to]+" out of range")
	switch v.k {
	case vInt:
		return v.i, nil
	case vFloat:
		r := math.RoundToEven(v.f)
		if math.IsNaN(r) || r < -9.223372036854775808e18 || r >= 9.223372036854775808e18 {
			return 0, outOfRange
		}
		return int64(r), nil
	case vNumeric:
		switch v.n.special {
		case decNaN:
			return 0, errorf(CodeFeatureUnsupported, "cannot convert NaN to "+intNames[to])
		case decPosInf, decNegInf:
			return 0, errorf(CodeFeatureUnsupported, "cannot convert infinity to "+intNames[to])
		}
		q := new(big.Int).Set(v.n.coef)
		if v.n.scale > 0 {
			div := pow10(v.n.scale)
			var rem big.Int
			q.QuoRem(q, div, &rem)
			// Half away from zero: |rem| * 2 >= div.
			if rem.Abs(&rem).Lsh(&rem, 1).Cmp(div) >= 0 {
				if v.n.coef.Sign() < 0 {
					q.Sub(q, big.NewInt(1))
				} else {
					q.Add(q, big.NewInt(1))
				}
			}
		}
		if !q.IsInt64() {
			return 0, outOfRange
		}
		return q.Int64(), nil
	}
	return 0, castError(0, to)
}

// encodeDerived renders a derived value in the column's type and format.
func encodeDerived(v value, oid uint32, format int16) ([]byte, error) {
	if v.k == vBytes {
		return v.b, nil // text and varchar: the same bytes in both formats
	}
	return encodeValue(v, oid, format)
}
