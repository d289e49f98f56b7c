package router

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"unsafe"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/shard"
)

// Key values of another type. PostgreSQL compares a shard key with a value
// of another type in a common one: user_id = 42.0 in numeric, user_id =
// $1 with a float8 parameter (pgjdbc's setDouble) in float8, user_id::text
// = '42' in text. A route is right only if equality in that type picks out
// the one key pgshard hashes, so each key value carries the domain its
// comparison runs in, and a value whose domain does not identify one key
// either matches no row (42.5 against an integer key) or is routed to
// every shard — never hashed as if it were a key of the key's own type.

// domain is the type, as routing sees it, that a key comparison or a key
// assignment runs in. Higher values are coarser: a comparison of two
// domains runs in the coarser one.
type domain uint8

const (
	// domKey: the key's own type (smallint, integer and bigint for an
	// integer key; text or varchar; uuid). Input that is not valid for it
	// is an error, as on the server.
	domKey domain = iota
	// domText: text. A value that is not valid key input equals no key.
	domText
	// domNumeric: numeric. Equals an integer key only when integral.
	domNumeric
	// domFloat8: double precision. Integers are exact below 2^53; past
	// that one float8 equals several keys.
	domFloat8
	// domOpaque: a type whose equality does not identify one key: real
	// (float4), boolean, money, varchar(n), char(n), a user's domain, …
	domOpaque
)

// A key value's point may instead be one of these (KeyPlacement.Err says
// which, for explanations).
var (
	// ErrNoKey: the value equals no key value, so it matches no row on
	// any shard (42.5 against an integer key).
	ErrNoKey = errors.New("the value equals no shard key value")
	// ErrAnyKey: the value may equal several key values, or pgshard cannot
	// tell which: only every shard answers exactly.
	ErrAnyKey = errors.New("the value's type does not tell which shard key value it equals")
)

// castDomain is the domain of a cast to tn for a key of type kt.
func castDomain(tn *pg.TypeName, kt shard.KeyType) domain {
	name, typmod, ok := builtinType(tn)
	if !ok {
		return domOpaque
	}
	return nameDomain(name, typmod, kt)
}

// builtinType is the name of a scalar type as the parser spells built-in
// ones (int8, float8, varchar), unqualified or in pg_catalog, and whether
// it has a modifier; false for arrays, SETOF, %TYPE and other schemas.
func builtinType(tn *pg.TypeName) (name string, typmod, ok bool) {
	if tn == nil || len(tn.ArrayBounds) > 0 || tn.Setof || tn.PctType {
		return "", false, false
	}
	names := tn.Names
	if len(names) == 2 && names[0].GetString_().GetSval() == "pg_catalog" {
		names = names[1:]
	}
	if len(names) != 1 {
		return "", false, false
	}
	return names[0].GetString_().GetSval(), len(tn.Typmods) > 0, true
}

// arrayCastDomain is the domain of the elements of a cast to an array
// type (key = ANY($1::bigint[])).
func arrayCastDomain(tn *pg.TypeName, kt shard.KeyType) domain {
	if tn == nil || len(tn.ArrayBounds) != 1 {
		return domOpaque
	}
	return castDomain(&pg.TypeName{Names: tn.Names, Typmods: tn.Typmods}, kt)
}

// nameDomain maps a type's name, as the parser spells built-in types
// (int8, float8, varchar), to a domain. A length or precision modifier
// truncates or rounds, so equality no longer identifies one key.
func nameDomain(name string, typmod bool, kt shard.KeyType) domain {
	switch kt {
	case shard.KeyInt:
		switch name {
		case "int2", "int4", "int8":
			return domKey
		case "numeric":
			if !typmod {
				return domNumeric
			}
		case "float8":
			return domFloat8
		case "text", "varchar":
			if !typmod {
				return domText
			}
		}
	case shard.KeyText:
		if (name == "text" || name == "varchar") && !typmod {
			return domKey
		}
	case shard.KeyUUID:
		switch name {
		case "uuid":
			return domKey
		case "text", "varchar":
			if !typmod {
				return domText
			}
		}
	}
	return domOpaque
}

// Type OIDs of the parameter types a client may declare in Parse.
const (
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidText    = 25
	oidFloat8  = 701
	oidUntyped = 705 // unknown: a quoted literal's type
	oidVarchar = 1043
	oidNumeric = 1700
	oidVoid    = 2278
	oidUUID    = 2950
)

// oidDomain is the domain of a parameter whose type is oid; ok is false
// for 0 and unknown, which leave the type to the server.
func oidDomain(oid uint32, kt shard.KeyType) (d domain, ok bool) {
	switch oid {
	case 0, oidUntyped:
		return domKey, false
	case oidInt2, oidInt4, oidInt8:
		return nameDomain("int8", false, kt), true
	case oidText, oidVarchar:
		return nameDomain("text", false, kt), true
	case oidNumeric:
		return nameDomain("numeric", false, kt), true
	case oidFloat8:
		return nameDomain("float8", false, kt), true
	case oidUUID:
		return nameDomain("uuid", false, kt), true
	}
	return domOpaque, true
}

// arrayOIDDomain is oidDomain for an array type's elements.
func arrayOIDDomain(oid uint32, kt shard.KeyType) (domain, bool) {
	switch oid {
	case 0, oidUntyped:
		return domKey, false
	case 1005, 1007, 1016: // int2[], int4[], int8[]
		return oidDomain(oidInt8, kt)
	case 1009, 1015: // text[], varchar[]
		return oidDomain(oidText, kt)
	case 1231: // numeric[]
		return oidDomain(oidNumeric, kt)
	case 1022: // float8[]
		return oidDomain(oidFloat8, kt)
	case 2951: // uuid[]
		return oidDomain(oidUUID, kt)
	}
	return domOpaque, true
}

// valueDomain reads the casts around a key value (outermost first):
// the domain the value ends in, and the domain of the innermost cast (the
// type a parameter the client left untyped is given). A cast that
// converts a number into a finer domain rounds it ('42.5'::numeric::bigint
// is 43), so the value no longer says which key it is: domOpaque.
func valueDomain(n *pg.Node, kt shard.KeyType) (inner *pg.Node, d, first domain, cast bool) {
	var chain []*pg.TypeName
	for n.GetTypeCast() != nil {
		chain = append(chain, n.GetTypeCast().TypeName)
		n = n.GetTypeCast().Arg
	}
	if c := n.GetAConst(); c != nil && (c.GetBoolval() != nil || c.GetBsval() != nil) {
		return n, domOpaque, domOpaque, len(chain) > 0
	}
	if len(chain) == 0 {
		return n, domKey, domKey, false
	}
	first = castDomain(chain[len(chain)-1], kt)
	d = first
	for i := len(chain) - 2; i >= 0; i-- {
		next := castDomain(chain[i], kt)
		if next < d && d != domText {
			return n, domOpaque, first, true
		}
		d = next
	}
	return n, d, first, true
}

// columnDomain reads the casts around a key column (outermost first): the
// coarsest domain among them. Each cast of an integer key to a type it
// converts into exactly (numeric, text) keeps keys apart; float8 keeps
// them apart below 2^53.
func columnDomain(casts []*pg.TypeName, kt shard.KeyType) domain {
	d := domKey
	for _, tn := range casts {
		d = max(d, castDomain(tn, kt))
	}
	return d
}

// pointIn is the point of key value s (text) compared in domain d.
func pointIn(t shard.KeyType, d domain, s string) (shard.Point, error) {
	switch d {
	case domKey:
		return shard.PointFromText(t, s)
	case domText:
		p, err := shard.PointFromText(t, s)
		if err != nil {
			return 0, ErrNoKey
		}
		return p, nil
	case domNumeric:
		v, err := decimalInteger(s)
		if err != nil {
			return 0, err
		}
		return intPoint(v, d)
	case domFloat8:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, errors.Join(shard.ErrInvalidKey, err)
		}
		return floatPoint(f)
	}
	return 0, ErrAnyKey
}

// pointInBinary is the point of a binary-format parameter of domain as
// (the type it was sent as) compared in domain d.
func pointInBinary(t shard.KeyType, d, as domain, b []byte) (shard.Point, error) {
	switch as {
	case domKey:
		if t != shard.KeyInt {
			return shard.PointFromBinary(t, b)
		}
		v, err := shard.IntFromBinary(b)
		if err != nil {
			return 0, err
		}
		return intPoint(v, d)
	case domText:
		return pointIn(t, d, unsafe.String(unsafe.SliceData(b), len(b)))
	case domNumeric:
		v, err := numericBinaryInteger(b)
		if err != nil {
			return 0, err
		}
		return intPoint(v, d)
	case domFloat8:
		if len(b) != 8 {
			return 0, errors.Join(shard.ErrInvalidKey, errors.New("binary float8 is not 8 bytes"))
		}
		return floatPoint(math.Float64frombits(binary.BigEndian.Uint64(b)))
	}
	return 0, ErrAnyKey
}

// exactFloat: every integer of smaller magnitude is exactly one float8.
const exactFloat = 1 << 53

// intPoint is the point of integer key v compared in domain d.
func intPoint(v int64, d domain) (shard.Point, error) {
	if d == domFloat8 && (v >= exactFloat || v <= -exactFloat) {
		return 0, ErrAnyKey
	}
	return shard.HashInt(v), nil
}

func floatPoint(f float64) (shard.Point, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f):
		return 0, ErrNoKey
	case f >= exactFloat || f <= -exactFloat:
		return 0, ErrAnyKey
	}
	return shard.HashInt(int64(f)), nil
}

// decimalInteger reads numeric input (digits with an optional point and
// exponent, NaN, Infinity) as the integer it equals: ErrNoKey when it is
// not an integer or does not fit in bigint, so no integer key equals it.
// Integers in other notations (0x2A) go to the integer parser.
func decimalInteger(s string) (int64, error) {
	t := strings.TrimSpace(s)
	neg := false
	body := t
	if body != "" && (body[0] == '+' || body[0] == '-') {
		neg = body[0] == '-'
		body = body[1:]
	}
	switch strings.ToLower(body) {
	case "nan", "infinity", "inf":
		return 0, ErrNoKey
	}
	if !strings.ContainsAny(body, ".eE") || strings.HasPrefix(body, "0x") || strings.HasPrefix(body, "0X") {
		p, err := shard.ParseInt(t)
		if errors.Is(err, shard.ErrKeyOutOfRange) {
			return 0, ErrNoKey
		}
		return p, err
	}
	mant, exp := body, 0
	if i := strings.IndexAny(body, "eE"); i >= 0 {
		e, err := strconv.Atoi(body[i+1:])
		if err != nil {
			return 0, errors.Join(shard.ErrInvalidKey, errors.New("invalid exponent in "+strconv.Quote(s)))
		}
		mant, exp = body[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || strings.Trim(intPart+frac, "0123456789") != "" {
		return 0, errors.Join(shard.ErrInvalidKey, errors.New("invalid numeric "+strconv.Quote(s)))
	}
	// The value is digits × 10^(exp - len(frac)).
	digits := strings.TrimLeft(intPart+frac, "0")
	scale := exp - len(frac)
	if digits == "" {
		return 0, nil
	}
	if scale < 0 {
		if -scale > len(digits) || strings.Trim(digits[len(digits)+scale:], "0") != "" {
			return 0, ErrNoKey // a fraction remains
		}
		digits, scale = digits[:len(digits)+scale], 0
	}
	if len(digits)+scale > 19 {
		return 0, ErrNoKey // beyond bigint
	}
	digits += strings.Repeat("0", scale)
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || !neg && u > math.MaxInt64 || neg && u > 1<<63 {
		return 0, ErrNoKey
	}
	if neg {
		return int64(-u), nil
	}
	return int64(u), nil
}

// numericBinaryInteger reads numeric_send's format — ndigits, weight,
// sign, dscale, then base-10000 digits — as the integer it equals, like
// decimalInteger.
func numericBinaryInteger(b []byte) (int64, error) {
	bad := errors.Join(shard.ErrInvalidKey, errors.New("malformed binary numeric"))
	if len(b) < 8 {
		return 0, bad
	}
	ndigits := int(int16(binary.BigEndian.Uint16(b)))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	if ndigits < 0 || len(b) != 8+2*ndigits {
		return 0, bad
	}
	switch sign {
	case 0x0000, 0x4000:
	case 0xC000, 0xD000, 0xF000: // NaN, +Infinity, -Infinity
		return 0, ErrNoKey
	default:
		return 0, bad
	}
	var u uint64
	for i := range ndigits {
		dig := uint64(binary.BigEndian.Uint16(b[8+2*i:]))
		if dig > 9999 {
			return 0, bad
		}
		if i > weight {
			if dig != 0 {
				return 0, ErrNoKey // a fraction
			}
			continue
		}
		if u > (math.MaxUint64-dig)/10000 {
			return 0, ErrNoKey
		}
		u = u*10000 + dig
	}
	for i := max(ndigits, 0); i <= weight; i++ { // trailing zero groups
		if u > math.MaxUint64/10000 {
			return 0, ErrNoKey
		}
		u *= 10000
	}
	switch {
	case sign == 0x4000 && u <= 1<<63:
		return int64(-u), nil
	case sign == 0 && u <= math.MaxInt64:
		return int64(u), nil
	}
	return 0, ErrNoKey
}
