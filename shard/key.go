package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// KeyType is how a shard key column's values are canonicalized. It comes
// from configuration (the column's type), never from the shape of a value.
type KeyType uint8

const (
	// The zero KeyType is invalid so that a key type left unset in
	// configuration fails loudly instead of hashing as some default.
	_ KeyType = iota
	// KeyInt is smallint, integer and bigint: one type, because a value
	// must land on the same shard whatever width the client sent it in.
	KeyInt
	// KeyText is text and varchar.
	KeyText
	// KeyUUID is uuid.
	KeyUUID
)

func (t KeyType) String() string {
	switch t {
	case KeyInt:
		return "integer"
	case KeyText:
		return "text"
	case KeyUUID:
		return "uuid"
	}
	return "KeyType(" + strconv.Itoa(int(t)) + ")"
}

// keyTypeNames are the column types ParseKeyType accepts. char(n)/bpchar is
// absent on purpose: PostgreSQL ignores its trailing spaces when comparing,
// so 'a' and 'a ' are one key to the server but two byte strings to us.
// numeric and floats are absent because equal values have many encodings.
var keyTypeNames = []struct {
	name string
	t    KeyType
}{
	{"bigint", KeyInt}, {"int8", KeyInt},
	{"integer", KeyInt}, {"int4", KeyInt}, {"int", KeyInt},
	{"smallint", KeyInt}, {"int2", KeyInt},
	{"text", KeyText}, {"varchar", KeyText}, {"character varying", KeyText},
	{"uuid", KeyUUID},
}

// ParseKeyType maps a configured column type name (case-insensitive, as
// PostgreSQL treats unquoted type names) to its KeyType.
func ParseKeyType(s string) (KeyType, error) {
	for _, n := range keyTypeNames {
		if strings.EqualFold(s, n.name) {
			return n.t, nil
		}
	}
	names := make([]string, len(keyTypeNames))
	for i, n := range keyTypeNames {
		names[i] = n.name
	}
	return 0, fmt.Errorf("shard key type %q is not supported: use one of %s", s, strings.Join(names, ", "))
}

var (
	// ErrNullKey: a NULL shard key has no point. See the package
	// documentation for what a router should do with it.
	ErrNullKey = errors.New("shard key is NULL")
	// ErrInvalidKey: the value is not valid input for the key type
	// (PostgreSQL would say 22P02 invalid_text_representation).
	ErrInvalidKey = errors.New("invalid shard key")
	// ErrKeyOutOfRange: an integer key that does not fit in int64
	// (PostgreSQL would say 22003 numeric_value_out_of_range).
	ErrKeyOutOfRange = errors.New("shard key out of range")
)

// PointFromText is the point of a key given as text: an SQL literal with
// any cast stripped, or a text-format Bind parameter.
//
// KeyInt accepts what PostgreSQL 16's int8 input accepts: surrounding
// whitespace, an optional sign, decimal digits or a 0x/0o/0b prefix, and
// single underscores between digits. That is a superset of PostgreSQL 15
// (decimal only), where the server rejects the rest itself. KeyUUID accepts
// what uuid_in accepts: 32 hex digits in either case, optionally in braces,
// with an optional hyphen after any group of four. KeyText takes s as is.
func PointFromText(t KeyType, s string) (Point, error) {
	switch t {
	case KeyInt:
		v, err := ParseInt(s)
		if err != nil {
			return 0, err
		}
		return HashInt(v), nil
	case KeyText:
		return HashText(s), nil
	case KeyUUID:
		u, err := parseUUID(s)
		if err != nil {
			return 0, err
		}
		return HashUUID(u), nil
	}
	return 0, fmt.Errorf("shard: key type %v is not valid", t)
}

// PointFromTextBytes is PointFromText for a text-format Bind parameter,
// without copying it into a string. A nil b is a NULL parameter and gives
// ErrNullKey.
func PointFromTextBytes(t KeyType, b []byte) (Point, error) {
	if b == nil {
		return 0, ErrNullKey
	}
	// The parsers only read s, and errors copy what they quote, so the
	// string never outlives this call and b's bytes are never aliased.
	return PointFromText(t, unsafe.String(unsafe.SliceData(b), len(b)))
}

// PointFromBinary is the point of a binary-format Bind parameter. KeyInt
// takes 2, 4 or 8 bytes (int2send, int4send, int8send: big-endian signed),
// all giving the point of the same int64; KeyUUID takes 16 bytes; KeyText
// takes the raw bytes (textsend). A nil b is a NULL parameter and gives
// ErrNullKey.
func PointFromBinary(t KeyType, b []byte) (Point, error) {
	if b == nil {
		return 0, ErrNullKey
	}
	switch t {
	case KeyInt:
		v, err := IntFromBinary(b)
		if err != nil {
			return 0, err
		}
		return HashInt(v), nil
	case KeyText:
		return HashTextBytes(b), nil
	case KeyUUID:
		if len(b) != 16 {
			return 0, fmt.Errorf("%w: binary uuid is %d bytes, want 16", ErrInvalidKey, len(b))
		}
		return HashUUID([16]byte(b)), nil
	}
	return 0, fmt.Errorf("shard: key type %v is not valid", t)
}

// IntFromBinary reads a binary-format smallint, integer or bigint (2, 4
// or 8 bytes, big-endian signed: int2send, int4send, int8send).
func IntFromBinary(b []byte) (int64, error) {
	switch len(b) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 8:
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("%w: binary integer is %d bytes, want 2, 4 or 8", ErrInvalidKey, len(b))
}

// isSpace is C isspace in the C locale, which is what PostgreSQL's integer
// input skips around the digits.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// digit is c's value as a digit in any base up to 16, or 16 if it is none.
func digit(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 16
}

// ParseInt follows pg_strtoint64_safe (PostgreSQL 16 numutils.c) so that
// every spelling the server takes for an integer key has the same point.
func ParseInt(s string) (int64, error) {
	i, n := 0, len(s)
	for i < n && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < n && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i+1 < n && s[i] == '0' {
		switch s[i+1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			i += 2
		}
	}
	first := i
	// The magnitude is accumulated unsigned so that -9223372036854775808,
	// whose magnitude does not fit in int64, parses without overflow.
	const limit = 1 << 63
	// One division per call, not per digit: mag <= cutoff keeps mag*base+d
	// below 2^64, so a single comparison afterwards catches overflow.
	cutoff := uint64(limit) / base
	var mag uint64
	for i < n {
		if s[i] == '_' {
			// PostgreSQL allows 0x_FF but not _1: after a prefix the
			// underscore separates the prefix from the digits.
			if base == 10 && i == first {
				return 0, intSyntax(s, fmt.Sprintf("underscore at byte %d must follow a digit", i))
			}
			i++
			if i == n || digit(s[i]) >= base {
				return 0, intSyntax(s, fmt.Sprintf("underscore at byte %d must be followed by a digit", i-1))
			}
			continue
		}
		d := digit(s[i])
		if d >= base {
			break
		}
		if mag > cutoff {
			return 0, intRange(s)
		}
		if mag = mag*base + d; mag > limit {
			return 0, intRange(s)
		}
		i++
	}
	if i == first {
		if i < n {
			return 0, intSyntax(s, fmt.Sprintf("expected a digit at byte %d, found %s", i, byteAt(s, i)))
		}
		return 0, intSyntax(s, "no digits")
	}
	for i < n && isSpace(s[i]) {
		i++
	}
	if i < n {
		return 0, intSyntax(s, fmt.Sprintf("unexpected %s at byte %d", byteAt(s, i), i))
	}
	if neg {
		// -int64(1<<63) wraps to itself: MinInt64, which is right.
		return -int64(mag), nil
	}
	if mag == limit {
		return 0, intRange(s)
	}
	return int64(mag), nil
}

func intRange(s string) error {
	return fmt.Errorf("%w: integer %s does not fit in 64 bits", ErrKeyOutOfRange, quote(s))
}

func intSyntax(s, why string) error {
	return fmt.Errorf("%w: integer %s: %s", ErrInvalidKey, quote(s), why)
}

// parseUUID follows string_to_uuid (PostgreSQL uuid.c).
func parseUUID(s string) (u [16]byte, err error) {
	i, n := 0, len(s)
	braces := n > 0 && s[0] == '{'
	if braces {
		i++
	}
	for k := range u {
		if i+1 >= n {
			return u, uuidSyntax(s, "ends before 32 hex digits")
		}
		hi, lo := digit(s[i]), digit(s[i+1])
		if hi > 15 || lo > 15 {
			j := i
			if hi <= 15 {
				j++
			}
			return u, uuidSyntax(s, fmt.Sprintf("expected a hex digit at byte %d, found %s", j, byteAt(s, j)))
		}
		u[k] = byte(hi<<4 | lo)
		i += 2
		if i < n && s[i] == '-' && k%2 == 1 && k < len(u)-1 {
			i++
		}
	}
	if braces {
		if i == n || s[i] != '}' {
			return u, uuidSyntax(s, "missing closing brace")
		}
		i++
	}
	if i < n {
		return u, uuidSyntax(s, fmt.Sprintf("unexpected %s at byte %d after 32 hex digits", byteAt(s, i), i))
	}
	return u, nil
}

func uuidSyntax(s, why string) error {
	return fmt.Errorf("%w: uuid %s: %s", ErrInvalidKey, quote(s), why)
}

// quote shortens what an error repeats back: a Bind parameter can be
// megabytes, and the message only needs enough to recognise it.
func quote(s string) string {
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:limit]) + fmt.Sprintf("... (%d bytes)", len(s))
}

// byteAt quotes one byte of the input; a byte, not a rune, because the
// input need not be valid UTF-8.
func byteAt(s string, i int) string { return strconv.Quote(s[i : i+1]) }
