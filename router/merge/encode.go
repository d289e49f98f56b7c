package merge

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
)

// encodeValue renders an aggregate result in the column's type and format,
// as a PostgreSQL backend with default settings (extra_float_digits = 1,
// IntervalStyle = postgres) would send it.
func encodeValue(v value, oid uint32, format int16) ([]byte, error) {
	if v.k == vNull {
		return nil, nil
	}
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		if err := checkIntRange(v.i, oid); err != nil {
			return nil, err
		}
		if format == 0 {
			return strconv.AppendInt(nil, v.i, 10), nil
		}
		switch oid {
		case oidInt2:
			return binary.BigEndian.AppendUint16(nil, uint16(v.i)), nil
		case oidInt4:
			return binary.BigEndian.AppendUint32(nil, uint32(v.i)), nil
		}
		return binary.BigEndian.AppendUint64(nil, uint64(v.i)), nil
	case oidFloat4:
		if format == 0 {
			return appendFloatText(nil, v.f, 32), nil
		}
		return binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(v.f))), nil
	case oidFloat8:
		if format == 0 {
			return appendFloatText(nil, v.f, 64), nil
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(v.f)), nil
	case oidNumeric:
		if format == 0 {
			return v.n.appendText(nil), nil
		}
		return v.n.appendBinary(nil), nil
	case oidBool:
		b := v.i != 0
		if format == 0 {
			if b {
				return []byte("t"), nil
			}
			return []byte("f"), nil
		}
		if b {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case oidInterval:
		if format == 0 {
			return appendIntervalText(nil, v), nil
		}
		buf := binary.BigEndian.AppendUint64(nil, uint64(v.i))
		buf = binary.BigEndian.AppendUint32(buf, uint32(v.day))
		return binary.BigEndian.AppendUint32(buf, uint32(v.mon)), nil
	}
	return nil, errorf(CodeFeatureUnsupported, "cannot encode aggregate result of type OID "+strconv.Itoa(int(oid)))
}

func checkIntRange(i int64, oid uint32) error {
	switch oid {
	case oidInt2:
		if i < math.MinInt16 || i > math.MaxInt16 {
			return errorf(CodeNumericOutOfRange, "smallint out of range")
		}
	case oidInt4:
		if i < math.MinInt32 || i > math.MaxInt32 {
			return errorf(CodeNumericOutOfRange, "integer out of range")
		}
	}
	return nil
}

// appendFloatText prints a float the way float4out/float8out do with
// extra_float_digits > 0: the shortest digits that round-trip (Go and
// PostgreSQL's Ryū agree on those), but switching to exponent notation only
// below 1e-4 or from 1e15 (float8) / 1e6 (float4) up, with a sign and at
// least two exponent digits ("1e+20", "1e-05").
func appendFloatText(buf []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "Infinity"...)
	case math.IsInf(f, -1):
		return append(buf, "-Infinity"...)
	}
	s := strconv.FormatFloat(f, 'e', -1, bits) // d.ddde±XX
	if s[0] == '-' {
		buf = append(buf, '-')
		s = s[1:]
	}
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	cutoff := 15
	if bits == 32 {
		cutoff = 6
	}
	if exp < -4 || exp >= cutoff {
		buf = append(buf, digits[0])
		if len(digits) > 1 {
			buf = append(buf, '.')
			buf = append(buf, digits[1:]...)
		}
		buf = append(buf, 'e')
		if exp < 0 {
			buf = append(buf, '-')
			exp = -exp
		} else {
			buf = append(buf, '+')
		}
		if exp < 10 {
			buf = append(buf, '0')
		}
		return strconv.AppendInt(buf, int64(exp), 10)
	}
	switch {
	case exp < 0:
		buf = append(buf, "0."...)
		buf = append(buf, strings.Repeat("0", -exp-1)...)
		buf = append(buf, digits...)
	case len(digits) <= exp+1:
		buf = append(buf, digits...)
		buf = append(buf, strings.Repeat("0", exp+1-len(digits))...)
	default:
		buf = append(buf, digits[:exp+1]...)
		buf = append(buf, '.')
		buf = append(buf, digits[exp+1:]...)
	}
	return buf
}

// appendIntervalText is interval_out with IntervalStyle = postgres, e.g.
// "1 year 2 mons -3 days +04:05:06.5".
func appendIntervalText(buf []byte, v value) []byte {
	isZero, isBefore := true, false
	part := func(n int64, unit string) {
		if n == 0 {
			return
		}
		if !isZero {
			buf = append(buf, ' ')
		}
		if isBefore && n > 0 {
			buf = append(buf, '+')
		}
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		buf = append(buf, unit...)
		if n != 1 {
			buf = append(buf, 's')
		}
		// Each nonzero field decides the sign marker of the next one only.
		isBefore = n < 0
		isZero = false
	}
	part(int64(v.mon/12), "year")
	part(int64(v.mon%12), "mon")
	part(int64(v.day), "day")
	t := v.i
	hour := t / 3600000000
	t -= hour * 3600000000
	minute := t / 60000000
	t -= minute * 60000000
	sec := t / 1000000
	fsec := t - sec*1000000
	if isZero || hour != 0 || minute != 0 || sec != 0 || fsec != 0 {
		if !isZero {
			buf = append(buf, ' ')
		}
		switch {
		case hour < 0 || minute < 0 || sec < 0 || fsec < 0:
			buf = append(buf, '-')
		case isBefore:
			buf = append(buf, '+')
		}
		buf = appendPad2(buf, absInt(hour))
		buf = append(buf, ':')
		buf = appendPad2(buf, absInt(minute))
		buf = append(buf, ':')
		buf = appendPad2(buf, absInt(sec))
		if fsec != 0 {
			f := strconv.FormatInt(1000000+absInt(fsec), 10)[1:]
			buf = append(buf, '.')
			buf = append(buf, strings.TrimRight(f, "0")...)
		}
	}
	return buf
}

func appendPad2(buf []byte, n int64) []byte {
	if n < 10 {
		buf = append(buf, '0')
	}
	return strconv.AppendInt(buf, n, 10)
}

func absInt(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
