package merge

import (
	"encoding/binary"
	"math/big"
	"strconv"
	"strings"
)

// decimal is a PostgreSQL numeric: coef × 10^-scale, where scale is the
// display scale (dscale). We keep our own representation instead of
// pgtype.Numeric because the display scale is part of the observable result
// (sum(1.50) prints "1.50", avg's scale depends on it) and must survive
// decode → arithmetic → encode exactly.
type decimal struct {
	special uint8    // decFinite, decNaN, decPosInf, decNegInf
	coef    *big.Int // finite only; never mutated once built
	scale   int32
}

const (
	decFinite uint8 = iota
	decNaN
	decPosInf
	decNegInf
)

// PostgreSQL numeric constants (numeric.c): base-10000 digits, division
// results carry at least 16 significant digits, display scale is capped.
const (
	numericMinSigDigits   = 16
	numericMaxDisplayScle = 1000
	numericDSCALEMask     = 0x3FFF
)

// Binary sign words of the numeric send format.
const (
	numPos    = 0x0000
	numNeg    = 0x4000
	numNaN    = 0xC000
	numPInf   = 0xD000
	numNInf   = 0xF000
	numDigits = 4
	// infDscale is what numeric_send puts in the dscale word of ±Infinity
	// (header bits leaking through NUMERIC_DSCALE); clients ignore it, but
	// matching it keeps our bytes identical to a real server's.
	infDscale = 32
)

var bigTen = big.NewInt(10)

func pow10(n int32) *big.Int {
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

func decFromInt(i int64) decimal { return decimal{coef: big.NewInt(i)} }

func parseNumericText(src []byte) (decimal, error) {
	s := string(src)
	switch strings.ToLower(s) {
	case "nan":
		return decimal{special: decNaN}, nil
	case "infinity", "+infinity", "inf", "+inf":
		return decimal{special: decPosInf}, nil
	case "-infinity", "-inf":
		return decimal{special: decNegInf}, nil
	}
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil {
			return decimal{}, errorf(CodeInvalidText, "invalid numeric "+strconv.Quote(s))
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || digits == "-" || digits == "+" {
		return decimal{}, errorf(CodeInvalidText, "invalid numeric "+strconv.Quote(s))
	}
	coef, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return decimal{}, errorf(CodeInvalidText, "invalid numeric "+strconv.Quote(s))
	}
	scale := int64(len(frac)) - exp
	if scale < 0 {
		coef.Mul(coef, pow10(int32(-scale)))
		scale = 0
	}
	return decimal{coef: coef, scale: int32(scale)}, nil
}

func parseNumericBinary(src []byte) (decimal, error) {
	if len(src) < 8 {
		return decimal{}, errorf(CodeInvalidText, "invalid binary numeric")
	}
	ndigits := int(binary.BigEndian.Uint16(src))
	weight := int32(int16(binary.BigEndian.Uint16(src[2:])))
	sign := binary.BigEndian.Uint16(src[4:])
	dscale := int32(binary.BigEndian.Uint16(src[6:]) & numericDSCALEMask)
	switch sign {
	case numNaN:
		return decimal{special: decNaN}, nil
	case numPInf:
		return decimal{special: decPosInf}, nil
	case numNInf:
		return decimal{special: decNegInf}, nil
	case numPos, numNeg:
	default:
		return decimal{}, errorf(CodeInvalidText, "invalid binary numeric sign")
	}
	if len(src) != 8+2*ndigits {
		return decimal{}, errorf(CodeInvalidText, "invalid binary numeric length")
	}
	n := new(big.Int)
	tenK := big.NewInt(10000)
	for i := range ndigits {
		d := binary.BigEndian.Uint16(src[8+2*i:])
		n.Mul(n, tenK)
		n.Add(n, big.NewInt(int64(d)))
	}
	// n × 10^exp10 is the value; scale it to dscale fractional digits.
	exp10 := int32(numDigits) * (weight - int32(ndigits) + 1)
	shift := exp10 + dscale
	if shift >= 0 {
		n.Mul(n, pow10(shift))
	} else {
		// PostgreSQL never sends digits beyond dscale, so this is exact.
		n.Quo(n, pow10(-shift))
	}
	if sign == numNeg {
		n.Neg(n)
	}
	return decimal{coef: n, scale: dscale}, nil
}

// digitString splits |d| into integer and fractional decimal digit strings.
func (d decimal) digitString() (neg bool, intPart, frac string) {
	s := d.coef.String()
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	if int(d.scale) >= len(s) {
		s = strings.Repeat("0", int(d.scale)-len(s)+1) + s
	}
	cut := len(s) - int(d.scale)
	return neg, s[:cut], s[cut:]
}

func (d decimal) appendText(buf []byte) []byte {
	switch d.special {
	case decNaN:
		return append(buf, "NaN"...)
	case decPosInf:
		return append(buf, "Infinity"...)
	case decNegInf:
		return append(buf, "-Infinity"...)
	}
	neg, ip, frac := d.digitString()
	if neg {
		buf = append(buf, '-')
	}
	buf = append(buf, ip...)
	if frac != "" {
		buf = append(buf, '.')
		buf = append(buf, frac...)
	}
	return buf
}

// groups returns the value's base-10000 digits with leading and trailing
// zero digits stripped, and the weight of the first one, as PostgreSQL
// stores it.
func (d decimal) groups() (neg bool, digits []uint16, weight int) {
	neg, ip, frac := d.digitString()
	if pad := (numDigits - len(ip)%numDigits) % numDigits; pad > 0 {
		ip = strings.Repeat("0", pad) + ip
	}
	if pad := (numDigits - len(frac)%numDigits) % numDigits; pad > 0 {
		frac += strings.Repeat("0", pad)
	}
	all := ip + frac
	weight = len(ip)/numDigits - 1
	for i := 0; i < len(all); i += numDigits {
		v, _ := strconv.Atoi(all[i : i+numDigits])
		digits = append(digits, uint16(v))
	}
	for len(digits) > 0 && digits[0] == 0 {
		digits = digits[1:]
		weight--
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		weight = 0
	}
	return neg, digits, weight
}

func (d decimal) appendBinary(buf []byte) []byte {
	var sign uint16
	var digits []uint16
	weight, dscale := 0, 0
	switch d.special {
	case decNaN:
		sign = numNaN
	case decPosInf:
		sign, dscale = numPInf, infDscale
	case decNegInf:
		sign, dscale = numNInf, infDscale
	default:
		var neg bool
		neg, digits, weight = d.groups()
		if neg && len(digits) > 0 {
			sign = numNeg
		}
		dscale = int(d.scale)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(digits)))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, uint16(dscale))
	for _, g := range digits {
		buf = binary.BigEndian.AppendUint16(buf, g)
	}
	return buf
}

func decRank(d decimal) int {
	switch d.special {
	case decNaN:
		return 3
	case decPosInf:
		return 2
	case decNegInf:
		return 0
	}
	return 1
}

// cmpDecimal orders like PostgreSQL: -Infinity < finite < Infinity < NaN,
// NaN = NaN, and equal values with different scales are equal.
func cmpDecimal(a, b decimal) int {
	ra, rb := decRank(a), decRank(b)
	if ra != rb || ra != 1 {
		return ra - rb
	}
	x, y := a.coef, b.coef
	if a.scale < b.scale {
		x = new(big.Int).Mul(x, pow10(b.scale-a.scale))
	} else if b.scale < a.scale {
		y = new(big.Int).Mul(y, pow10(a.scale-b.scale))
	}
	return x.Cmp(y)
}

// canonical is a string equal for exactly the numerics PostgreSQL treats as
// equal, so it can key a hash table (1.0 and 1.00 group together).
func (d decimal) canonical() string {
	if d.special != decFinite {
		return strconv.Itoa(int(d.special))
	}
	if d.coef.Sign() == 0 {
		return "0"
	}
	neg, ip, frac := d.digitString()
	frac = strings.TrimRight(frac, "0")
	ip = strings.TrimLeft(ip, "0")
	s := ip + "." + frac
	if neg {
		s = "-" + s
	}
	return s
}

// addDecimal follows numeric_add: NaN absorbs, +Inf + -Inf is NaN, and the
// result scale is the larger input scale.
func addDecimal(a, b decimal) decimal {
	if a.special != decFinite || b.special != decFinite {
		switch {
		case a.special == decNaN || b.special == decNaN:
			return decimal{special: decNaN}
		case a.special == decFinite:
			return b
		case b.special == decFinite || a.special == b.special:
			return a
		default:
			return decimal{special: decNaN}
		}
	}
	x, y, scale := a.coef, b.coef, a.scale
	if a.scale < b.scale {
		x, scale = new(big.Int).Mul(x, pow10(b.scale-a.scale)), b.scale
	} else if b.scale < a.scale {
		y = new(big.Int).Mul(y, pow10(a.scale-b.scale))
	}
	return decimal{coef: new(big.Int).Add(x, y), scale: scale}
}

// weightAndFirst returns the normalized base-10000 weight and first digit
// select_div_scale looks at (0, 0 for zero).
func (d decimal) weightAndFirst() (weight, first int) {
	_, digits, w := d.groups()
	if len(digits) == 0 {
		return 0, 0
	}
	return w, int(digits[0])
}

// divScale reimplements PostgreSQL's select_div_scale: enough fractional
// digits for at least 16 significant digits in the quotient, never fewer
// than either input's display scale.
func divScale(a, b decimal) int32 {
	w1, f1 := a.weightAndFirst()
	w2, f2 := b.weightAndFirst()
	qweight := w1 - w2
	if f1 <= f2 {
		qweight--
	}
	rscale := int32(numericMinSigDigits - qweight*numDigits)
	rscale = max(rscale, a.scale, b.scale, 0)
	return min(rscale, numericMaxDisplayScle)
}

// avgDecimal is numeric_div(sum, count) with count > 0: result scale from
// divScale, rounded half away from zero like div_var(..., round=true).
func avgDecimal(sum decimal, count int64) decimal {
	if sum.special != decFinite {
		return sum // NaN/N = NaN, ±Inf/N = ±Inf for N > 0
	}
	cnt := decFromInt(count)
	rscale := divScale(sum, cnt)
	num := new(big.Int).Abs(sum.coef)
	num.Mul(num, pow10(rscale-sum.scale))
	den := big.NewInt(count)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if sum.coef.Sign() < 0 {
		q.Neg(q)
	}
	return decimal{coef: q, scale: rscale}
}

func (d decimal) float64() float64 {
	switch d.special {
	case decNaN:
		return nan
	case decPosInf:
		return posInf
	case decNegInf:
		return negInf
	}
	f, _ := strconv.ParseFloat(string(d.appendText(nil)), 64)
	return f
}
