package merge

import (
	"bytes"
	"encoding/binary"
	"math"
)

const usecsPerDay = 86400 * 1000000

// intervalSpan is interval_cmp_value: months count as 30 days and days as
// 24 hours, so '1 day' = '24 hours' and '1 mon' = '30 days'. It is returned
// as (whole days, microseconds within the day) to avoid 128-bit arithmetic.
func intervalSpan(v value) (days, usec int64) {
	days = int64(v.mon)*30 + int64(v.day) + floorDiv(v.i, usecsPerDay)
	usec = v.i - floorDiv(v.i, usecsPerDay)*usecsPerDay
	return days, usec
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpFloat orders like float8_cmp: NaN equals NaN and sorts above every
// number; -0 equals 0.
func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareValues orders two non-NULL values. Values of different numeric
// kinds (only possible in HAVING, e.g. count vs an int4 constant) compare
// the way PostgreSQL's implicit casts would: int→numeric, anything→float8.
// ok is false for kinds that cannot be compared.
func compareValues(a, b value) (c int, ok bool) {
	if a.k != b.k {
		switch {
		case a.k == vFloat && isNumberKind(b.k):
			return cmpFloat(a.f, toFloat(b)), true
		case b.k == vFloat && isNumberKind(a.k):
			return cmpFloat(toFloat(a), b.f), true
		case a.k == vInt && b.k == vNumeric:
			return cmpDecimal(decFromInt(a.i), b.n), true
		case a.k == vNumeric && b.k == vInt:
			return cmpDecimal(a.n, decFromInt(b.i)), true
		}
		return 0, false
	}
	switch a.k {
	case vInt, vBool, vTime:
		return cmpInt(a.i, b.i), true
	case vFloat:
		return cmpFloat(a.f, b.f), true
	case vNumeric:
		return cmpDecimal(a.n, b.n), true
	case vBytes:
		return bytes.Compare(a.b, b.b), true
	case vInterval:
		ad, au := intervalSpan(a)
		bd, bu := intervalSpan(b)
		if c := cmpInt(ad, bd); c != 0 {
			return c, true
		}
		return cmpInt(au, bu), true
	}
	return 0, true
}

func isNumberKind(k vkind) bool { return k == vInt || k == vFloat || k == vNumeric }

func toFloat(v value) float64 {
	switch v.k {
	case vInt:
		return float64(v.i)
	case vNumeric:
		return v.n.float64()
	}
	return v.f
}

// compareSortKey orders two possibly-NULL values under one ORDER BY item.
func compareSortKey(a, b value, k SortKey) int {
	an, bn := a.k == vNull, b.k == vNull
	switch {
	case an && bn:
		return 0
	case an:
		if k.NullsFirst {
			return -1
		}
		return 1
	case bn:
		if k.NullsFirst {
			return 1
		}
		return -1
	}
	c, _ := compareValues(a, b)
	if k.Desc {
		c = -c
	}
	return c
}

// appendKey appends a byte string that is equal for two values exactly when
// PostgreSQL's equality says they are equal (NULLs equal each other, as in
// GROUP BY and DISTINCT), so composite keys can index a Go map.
func appendKey(buf []byte, v value) []byte {
	buf = append(buf, byte(v.k))
	switch v.k {
	case vInt, vBool, vTime:
		buf = binary.BigEndian.AppendUint64(buf, uint64(v.i))
	case vFloat:
		f := v.f
		switch {
		case math.IsNaN(f):
			f = math.NaN()
		case f == 0:
			f = 0 // fold -0 into 0
		}
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(f))
	case vNumeric:
		s := v.n.canonical()
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	case vBytes:
		buf = binary.AppendUvarint(buf, uint64(len(v.b)))
		buf = append(buf, v.b...)
	case vInterval:
		d, u := intervalSpan(v)
		buf = binary.BigEndian.AppendUint64(buf, uint64(d))
		buf = binary.BigEndian.AppendUint64(buf, uint64(u))
	}
	return buf
}
