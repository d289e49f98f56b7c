package merge

import (
	"math"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgtype"
)

// Type OIDs this package understands.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
)

var (
	nan    = math.NaN()
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
)

// vkind is the comparison domain of a decoded value.
type vkind uint8

const (
	vNull     vkind = iota
	vInt            // i
	vFloat          // f
	vNumeric        // n
	vBool           // i: 0 false, 1 true
	vBytes          // b, compared bytewise
	vTime           // i: days (date) or microseconds; ±infinity as MinInt64/MaxInt64
	vInterval       // mon, day, i (microseconds), kept unnormalized for sums
)

// value is a decoded field. Only the fields of its kind are meaningful.
type value struct {
	k        vkind
	i        int64
	f        float64
	n        decimal
	b        []byte
	mon, day int32
}

var nullValue = value{}

// decoder turns one field of a fixed column (type and format) into a value.
type decoder func(src []byte) (value, error)

// mapPool recycles pgtype.Maps: a Map memoizes plans and is not safe for
// concurrent use, and Merge runs concurrently for different sessions.
var mapPool = sync.Pool{New: func() any { return pgtype.NewMap() }}

// newDecoder builds a decoder for a column. needOrder says the caller will
// compare the values; an unknown type in binary format then fails early,
// because its bytes have no ordering we could trust.
func newDecoder(m *pgtype.Map, oid uint32, format int16, needOrder bool) (decoder, error) {
	switch oid {
	case oidInt2, oidInt4, oidInt8:
		return scanning(m, oid, format, func(x *int64) value { return value{k: vInt, i: *x} }), nil
	case oidOID:
		return scanning(m, oid, format, func(x *uint32) value { return value{k: vInt, i: int64(*x)} }), nil
	case oidFloat4, oidFloat8:
		return scanning(m, oid, format, func(x *float64) value { return value{k: vFloat, f: *x} }), nil
	case oidBool:
		return scanning(m, oid, format, func(x *bool) value {
			if *x {
				return value{k: vBool, i: 1}
			}
			return value{k: vBool}
		}), nil
	case oidNumeric:
		return func(src []byte) (value, error) {
			if src == nil {
				return nullValue, nil
			}
			var d decimal
			var err error
			if format == 1 {
				d, err = parseNumericBinary(src)
			} else {
				d, err = parseNumericText(src)
			}
			if err != nil {
				return value{}, err
			}
			return value{k: vNumeric, n: d}, nil
		}, nil
	case oidText, oidVarchar, oidName, oidChar, oidUnknown:
		// Text and binary forms are the same bytes; C collation makes the
		// byte order the sort order.
		return bytesDecoder, nil
	case oidBPChar:
		// bpchar compares ignoring trailing blanks ('a ' = 'a').
		return func(src []byte) (value, error) {
			if src == nil {
				return nullValue, nil
			}
			n := len(src)
			for n > 0 && src[n-1] == ' ' {
				n--
			}
			return value{k: vBytes, b: src[:n]}, nil
		}, nil
	case oidBytea:
		if format == 1 {
			return bytesDecoder, nil
		}
		return scanning(m, oid, format, func(x *[]byte) value { return value{k: vBytes, b: *x} }), nil
	case oidUUID:
		return scanning(m, oid, format, func(x *pgtype.UUID) value {
			b := x.Bytes
			return value{k: vBytes, b: b[:]}
		}), nil
	case oidDate:
		return scanning(m, oid, format, func(x *pgtype.Date) value {
			return value{k: vTime, i: infOr(x.InfinityModifier, func() int64 {
				return floorDiv(x.Time.Unix(), 86400)
			})}
		}), nil
	case oidTimestamp:
		return scanning(m, oid, format, func(x *pgtype.Timestamp) value {
			return value{k: vTime, i: infOr(x.InfinityModifier, x.Time.UnixMicro)}
		}), nil
	case oidTimestamptz:
		return scanning(m, oid, format, func(x *pgtype.Timestamptz) value {
			return value{k: vTime, i: infOr(x.InfinityModifier, x.Time.UnixMicro)}
		}), nil
	case oidTime:
		return scanning(m, oid, format, func(x *pgtype.Time) value { return value{k: vTime, i: x.Microseconds} }), nil
	case oidInterval:
		return scanning(m, oid, format, func(x *pgtype.Interval) value {
			return value{k: vInterval, i: x.Microseconds, day: x.Days, mon: x.Months}
		}), nil
	}
	if format != 0 && needOrder {
		return nil, errorf(CodeFeatureUnsupported, "cannot compare binary values of type OID "+strconv.Itoa(int(oid))+"; request text format")
	}
	return bytesDecoder, nil
}

// typeName is the SQL name of a type the merge decodes, as PostgreSQL's
// messages name it.
func typeName(oid uint32) string {
	switch oid {
	case oidBool:
		return "boolean"
	case oidInt2:
		return "smallint"
	case oidInt4:
		return "integer"
	case oidInt8:
		return "bigint"
	case oidOID:
		return "oid"
	case oidFloat4:
		return "real"
	case oidFloat8:
		return "double precision"
	case oidNumeric:
		return "numeric"
	case oidUUID:
		return "uuid"
	case oidDate:
		return "date"
	case oidTime:
		return "time without time zone"
	case oidTimestamp:
		return "timestamp without time zone"
	case oidTimestamptz:
		return "timestamp with time zone"
	case oidInterval:
		return "interval"
	case oidBytea:
		return "bytea"
	}
	return "OID " + strconv.Itoa(int(oid))
}

// orderable says whether pgshard orders values of type oid as PostgreSQL
// does. Other types (enums, arrays, inet, money, jsonb, ranges, …) have an
// order their text form does not follow, so merges that sort or take min
// and max of them refuse instead of comparing bytes.
func orderable(oid uint32) bool {
	switch oid {
	case oidInt2, oidInt4, oidInt8, oidOID, oidFloat4, oidFloat8, oidNumeric, oidBool,
		oidText, oidVarchar, oidName, oidChar, oidUnknown, oidBPChar, oidBytea, oidUUID,
		oidDate, oidTime, oidTimestamp, oidTimestamptz, oidInterval:
		return true
	}
	return false
}

func unorderable(what string, c Column) *Error {
	return errorf(CodeFeatureUnsupported, "pgshard: cannot merge "+what+" of column "+strconv.Quote(c.Name)+
		" (type OID "+strconv.Itoa(int(c.TypeOID))+") across shards: pgshard orders numbers, text, booleans, bytea, uuid, dates and times only; "+
		"pin the query to one shard key, or order by a cast of the column to one of those")
}

// scanning is a decoder that scans a field with pgtype's plan for the
// column into a T and converts it with conv. The plan is made once per
// column; the T is reused, so conv must copy what it keeps.
func scanning[T any](m *pgtype.Map, oid uint32, format int16, conv func(*T) value) decoder {
	var x T
	plan := m.PlanScan(oid, format, &x)
	return func(src []byte) (value, error) {
		if src == nil {
			return nullValue, nil
		}
		if err := plan.Scan(src, &x); err != nil {
			if setting := styleSetting(oid); format == 0 && setting != "" {
				// A server wrote it, so it is in a style the session chose.
				return value{}, errorf(CodeFeatureUnsupported, "pgshard: cannot read the "+typeName(oid)+" value "+strconv.Quote(string(src))+
					" a shard returned, to merge it with other shards' values: pgshard reads text results written with "+setting+
					" (the default, and what drivers use); SET it back, request binary results, or pin the query to one shard key")
			}
			if format == 0 {
				// A constant of the query (HAVING count(*) > 'x') that
				// does not read as the column's type: as PostgreSQL says.
				return value{}, invalidText(oid, src)
			}
			return value{}, errorf(CodeInvalidText, "cannot decode binary value of type "+typeName(oid)+": "+err.Error())
		}
		return conv(&x), nil
	}
}

// styleSetting is the session setting under which a server writes values
// of type oid in text as pgshard reads them, "" for types whose text does
// not depend on one (TimeZone only moves a timestamptz's offset).
func styleSetting(oid uint32) string {
	switch oid {
	case oidDate, oidTime, oidTimestamp, oidTimestamptz:
		return "DateStyle = ISO"
	case oidInterval:
		return "IntervalStyle = postgres"
	case oidBytea:
		return "bytea_output = hex"
	}
	return ""
}

// invalidText is PostgreSQL's error for a constant that does not read as
// type oid.
func invalidText(oid uint32, src []byte) *Error {
	return errorf(CodeInvalidText, "invalid input syntax for type "+typeName(oid)+": "+strconv.Quote(string(src)))
}

func bytesDecoder(src []byte) (value, error) {
	if src == nil {
		return nullValue, nil
	}
	return value{k: vBytes, b: src}, nil
}

func infOr(m pgtype.InfinityModifier, finite func() int64) int64 {
	switch m {
	case pgtype.Infinity:
		return math.MaxInt64
	case pgtype.NegativeInfinity:
		return math.MinInt64
	}
	return finite()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
