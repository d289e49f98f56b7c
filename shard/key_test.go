package shard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"testing/quick"
)

func int2(v int16) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
func int4(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func int8(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func mustText(t *testing.T, kt KeyType, s string) Point {
	t.Helper()
	p, err := PointFromText(kt, s)
	if err != nil {
		t.Fatalf("PointFromText(%v, %q): %v", kt, s, err)
	}
	return p
}

func mustBinary(t *testing.T, kt KeyType, b []byte) Point {
	t.Helper()
	p, err := PointFromBinary(kt, b)
	if err != nil {
		t.Fatalf("PointFromBinary(%v, %x): %v", kt, b, err)
	}
	return p
}

func TestParseKeyType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want KeyType
	}{
		{"bigint", KeyInt}, {"int8", KeyInt}, {"integer", KeyInt}, {"int4", KeyInt},
		{"int", KeyInt}, {"smallint", KeyInt}, {"int2", KeyInt}, {"BIGINT", KeyInt},
		{"text", KeyText}, {"varchar", KeyText}, {"character varying", KeyText},
		{"uuid", KeyUUID}, {"UUID", KeyUUID},
	} {
		got, err := ParseKeyType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseKeyType(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "numeric", "char", "bpchar", "float8", " bigint", "int16"} {
		_, err := ParseKeyType(in)
		if err == nil {
			t.Errorf("ParseKeyType(%q) accepted", in)
			continue
		}
		// The message must tell the user what would have worked.
		if !strings.Contains(err.Error(), "bigint") || !strings.Contains(err.Error(), "uuid") {
			t.Errorf("ParseKeyType(%q) error %q does not list accepted names", in, err)
		}
	}
}

func TestKeyTypeString(t *testing.T) {
	for kt, want := range map[KeyType]string{KeyInt: "integer", KeyText: "text", KeyUUID: "uuid", 0: "KeyType(0)", 9: "KeyType(9)"} {
		if got := kt.String(); got != want {
			t.Errorf("KeyType(%d).String() = %q, want %q", kt, got, want)
		}
	}
}

func TestIntSpellings(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		texts []string
	}{
		{42, []string{"42", "  +42 ", "\t42\n", "042", "0x2A", "0x2a", "0X_2a", "0o52", "0b101010", "4_2", "0_42", "+0x2A", " \r\v\f42"}},
		{-42, []string{"-42", " -42 ", "-0x2A", "-4_2"}},
		{0, []string{"0", "-0", "+0", "000", "0x0", "0b0"}},
		{1_000_000, []string{"1000000", "1_000_000", "1_0_0_0_0_0_0"}},
		{math.MaxInt64, []string{"9223372036854775807", "0x7FFFFFFFFFFFFFFF", "0o777777777777777777777"}},
		{math.MinInt64, []string{"-9223372036854775808", "-0x8000000000000000", "-0b1" + strings.Repeat("0", 63)}},
	} {
		want := HashInt(tc.v)
		for _, s := range tc.texts {
			if got := mustText(t, KeyInt, s); got != want {
				t.Errorf("PointFromText(KeyInt, %q) = %v, want HashInt(%d) = %v", s, got, tc.v, want)
			}
			if got, err := PointFromTextBytes(KeyInt, []byte(s)); err != nil || got != want {
				t.Errorf("PointFromTextBytes(KeyInt, %q) = %v, %v; want %v", s, got, err, want)
			}
		}
		if got := mustBinary(t, KeyInt, int8(tc.v)); got != want {
			t.Errorf("int8 binary %d: %v, want %v", tc.v, got, want)
		}
		if tc.v == int64(int32(tc.v)) {
			if got := mustBinary(t, KeyInt, int4(int32(tc.v))); got != want {
				t.Errorf("int4 binary %d: %v, want %v", tc.v, got, want)
			}
		}
		if tc.v == int64(int16(tc.v)) {
			if got := mustBinary(t, KeyInt, int2(int16(tc.v))); got != want {
				t.Errorf("int2 binary %d: %v, want %v", tc.v, got, want)
			}
		}
	}
	// Negative narrow encodings sign-extend, not zero-extend.
	if mustBinary(t, KeyInt, []byte{0xff, 0xff}) != HashInt(-1) {
		t.Error("int2 0xffff is not -1")
	}
	if mustBinary(t, KeyInt, []byte{0x80, 0, 0, 0}) != HashInt(math.MinInt32) {
		t.Error("int4 0x80000000 is not MinInt32")
	}
}

func TestIntRejected(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr error
		msg     string // part of the message saying what was wrong
	}{
		{"", ErrInvalidKey, "no digits"},
		{"   ", ErrInvalidKey, "no digits"},
		{"-", ErrInvalidKey, "no digits"},
		{"+-1", ErrInvalidKey, `found "-"`},
		{"4x2", ErrInvalidKey, `unexpected "x" at byte 1`},
		{"42 43", ErrInvalidKey, `unexpected "4" at byte 3`},
		{"42.0", ErrInvalidKey, `unexpected "."`},
		{"1e3", ErrInvalidKey, `unexpected "e"`},
		{"abc", ErrInvalidKey, `found "a"`},
		{"0x", ErrInvalidKey, "no digits"},
		{"0xg", ErrInvalidKey, `found "g"`},
		{"0b2", ErrInvalidKey, `found "2"`},
		{"0o8", ErrInvalidKey, `found "8"`},
		{"_1", ErrInvalidKey, "underscore at byte 0"},
		{"1_", ErrInvalidKey, "underscore at byte 1"},
		{"1__2", ErrInvalidKey, "underscore at byte 1"},
		{"1_ ", ErrInvalidKey, "underscore"},
		{"0x_", ErrInvalidKey, "underscore"},
		{"'42'", ErrInvalidKey, `found "'"`},
		{"42\x00", ErrInvalidKey, `unexpected "\x00"`},
		{"\u00a042", ErrInvalidKey, `found "\xc2"`}, // no-break space is not C isspace
		{"9223372036854775808", ErrKeyOutOfRange, "does not fit in 64 bits"},
		{"-9223372036854775809", ErrKeyOutOfRange, "does not fit in 64 bits"},
		{"99999999999999999999999", ErrKeyOutOfRange, "does not fit"},
		{"0x8000000000000000", ErrKeyOutOfRange, "does not fit"},
		{"0x10000000000000000", ErrKeyOutOfRange, "does not fit"},
	} {
		_, err := PointFromText(KeyInt, tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("PointFromText(KeyInt, %q) error = %v, want %v", tc.in, err, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("PointFromText(KeyInt, %q) error %q does not say %q", tc.in, err, tc.msg)
		}
	}
	for _, b := range [][]byte{{}, {1}, {1, 2, 3}, make([]byte, 5), make([]byte, 16)} {
		if _, err := PointFromBinary(KeyInt, b); !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes", len(b))) {
			t.Errorf("PointFromBinary(KeyInt, %d bytes) error = %v", len(b), err)
		}
	}
}

func TestLongInputQuotedShort(t *testing.T) {
	in := strings.Repeat("7", 10_000) + "x"
	_, err := PointFromText(KeyInt, in)
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "10001 bytes") {
		t.Errorf("error for 10001-byte input is %d bytes: %.300v", len(err.Error()), err)
	}
}

func TestTextKeys(t *testing.T) {
	// A text key is its bytes: the tag keeps it apart from the integer.
	if mustText(t, KeyText, "42") == HashInt(42) {
		t.Error("text '42' hashes like integer 42")
	}
	for _, s := range []string{"", "42", " 42 ", "héllo", strings.Repeat("long key ", 20), strings.Repeat("x", shortText), strings.Repeat("x", shortText+1)} {
		want := HashText(s)
		if got := mustText(t, KeyText, s); got != want {
			t.Errorf("PointFromText(KeyText, %q) = %v, want %v", s, got, want)
		}
		if got := mustBinary(t, KeyText, []byte(s)); got != want {
			t.Errorf("PointFromBinary(KeyText, %q) = %v, want %v", s, got, want)
		}
		if got := HashTextBytes([]byte(s)); got != want {
			t.Errorf("HashTextBytes(%q) = %v, want %v", s, got, want)
		}
	}
	// Whitespace is significant for text, unlike for integers.
	if mustText(t, KeyText, "42") == mustText(t, KeyText, " 42") {
		t.Error("text keys '42' and ' 42' collide")
	}
}

var testUUID = [16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}

func TestUUIDSpellings(t *testing.T) {
	want := HashUUID(testUUID)
	// The spellings PostgreSQL's uuid type documentation lists as accepted.
	for _, s := range []string{
		"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
		"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
		"a0eebc999c0b4ef8bb6d6bb9bd380a11",
		"a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
		"{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
		"{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
		"a0eEbC99-9c0B-4eF8-bB6D-6bB9bD380a11",
	} {
		if got := mustText(t, KeyUUID, s); got != want {
			t.Errorf("PointFromText(KeyUUID, %q) = %v, want %v", s, got, want)
		}
	}
	if got := mustBinary(t, KeyUUID, testUUID[:]); got != want {
		t.Errorf("binary uuid = %v, want %v", got, want)
	}
}

func TestUUIDRejected(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"", "ends before 32 hex digits"},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "ends before 32 hex digits"},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111", `unexpected "1" at byte 36`},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-", `unexpected "-"`},
		{"-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `found "-"`},
		{"a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `found "-"`},           // hyphen inside a group of four
		{"a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11", `found "-"`},           // two hyphens
		{"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `at byte 0, found "g"`}, // not hex
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1z", `at byte 35, found "z"`},
		{"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "missing closing brace"},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", `unexpected "}"`},
		{" a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", `found " "`}, // uuid_in skips no whitespace
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ", `unexpected " "`},
		{"(a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11)", `found "("`},
	} {
		_, err := PointFromText(KeyUUID, tc.in)
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("PointFromText(KeyUUID, %q) error = %v, want ErrInvalidKey saying %q", tc.in, err, tc.msg)
		}
	}
	for _, n := range []int{0, 15, 17, 36} {
		if _, err := PointFromBinary(KeyUUID, make([]byte, n)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PointFromBinary(KeyUUID, %d bytes) error = %v", n, err)
		}
	}
}

func TestNullKey(t *testing.T) {
	for _, kt := range []KeyType{KeyInt, KeyText, KeyUUID} {
		if _, err := PointFromBinary(kt, nil); !errors.Is(err, ErrNullKey) {
			t.Errorf("PointFromBinary(%v, nil) error = %v, want ErrNullKey", kt, err)
		}
		if _, err := PointFromTextBytes(kt, nil); !errors.Is(err, ErrNullKey) {
			t.Errorf("PointFromTextBytes(%v, nil) error = %v, want ErrNullKey", kt, err)
		}
	}
	// An empty text value is a key, not NULL: only nil means NULL.
	if p, err := PointFromBinary(KeyText, []byte{}); err != nil || p != HashText("") {
		t.Errorf("PointFromBinary(KeyText, empty) = %v, %v; want HashText(\"\")", p, err)
	}
	if _, err := PointFromBinary(KeyInt, []byte{}); errors.Is(err, ErrNullKey) || err == nil {
		t.Errorf("PointFromBinary(KeyInt, empty) error = %v, want invalid, not NULL", err)
	}
}

func TestInvalidKeyType(t *testing.T) {
	if _, err := PointFromText(0, "42"); err == nil {
		t.Error("PointFromText with zero KeyType accepted")
	}
	if _, err := PointFromBinary(0, int8(42)); err == nil {
		t.Error("PointFromBinary with zero KeyType accepted")
	}
}

func quickConfig() *quick.Config {
	return &quick.Config{MaxCount: 20000, Rand: rand.New(rand.NewSource(1))}
}

// Every way an integer can arrive gives the point of the int64 value.
func TestPropertyIntEncodings(t *testing.T) {
	check := func(v int64) bool {
		want := HashInt(v)
		texts := []string{
			strconv.FormatInt(v, 10),
			" " + strconv.FormatInt(v, 10) + "\n",
			withUnderscores(strconv.FormatInt(v, 10)),
		}
		if v >= 0 {
			texts = append(texts, "+"+strconv.FormatInt(v, 10), "0x"+strconv.FormatUint(uint64(v), 16), "0b"+strconv.FormatUint(uint64(v), 2))
		} else if v != math.MinInt64 {
			texts = append(texts, "-0x"+strconv.FormatUint(uint64(-v), 16), "-0o"+strconv.FormatUint(uint64(-v), 8))
		}
		for _, s := range texts {
			if p, err := PointFromText(KeyInt, s); err != nil || p != want {
				t.Logf("v=%d: PointFromText(%q) = %v, %v; want %v", v, s, p, err, want)
				return false
			}
		}
		if p, err := PointFromBinary(KeyInt, int8(v)); err != nil || p != want {
			return false
		}
		if v == int64(int32(v)) {
			if p, err := PointFromBinary(KeyInt, int4(int32(v))); err != nil || p != want {
				return false
			}
		}
		if v == int64(int16(v)) {
			if p, err := PointFromBinary(KeyInt, int2(int16(v))); err != nil || p != want {
				return false
			}
		}
		return true
	}
	if err := quick.Check(check, quickConfig()); err != nil {
		t.Error(err)
	}
	// Random int64s almost never fit the narrow widths; drive them directly.
	if err := quick.Check(func(v int32) bool { return check(int64(v)) }, quickConfig()); err != nil {
		t.Error(err)
	}
	if err := quick.Check(func(v int16) bool { return check(int64(v)) }, quickConfig()); err != nil {
		t.Error(err)
	}
}

// withUnderscores puts an underscore between every pair of digits.
func withUnderscores(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
			b.WriteByte('_')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Decimal spellings parse to the value strconv gives, and out-of-range ones
// are refused, across random lengths and signs.
func TestPropertyIntAgreesWithStrconv(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for range 20000 {
		var b strings.Builder
		switch rng.Intn(3) {
		case 1:
			b.WriteByte('-')
		case 2:
			b.WriteByte('+')
		}
		for n := 1 + rng.Intn(21); n > 0; n-- {
			b.WriteByte(byte('0' + rng.Intn(10)))
		}
		s := b.String()
		want, werr := strconv.ParseInt(s, 10, 64)
		got, err := ParseInt(s)
		if (werr == nil) != (err == nil) || (werr == nil && got != want) {
			t.Fatalf("ParseInt(%q) = %d, %v; strconv says %d, %v", s, got, err, want, werr)
		}
		if werr != nil && !errors.Is(err, ErrKeyOutOfRange) {
			t.Fatalf("ParseInt(%q) error %v, want ErrKeyOutOfRange", s, err)
		}
	}
}

// Every spelling uuid_in accepts gives the point of the 16 bytes.
func TestPropertyUUIDSpellings(t *testing.T) {
	check := func(u [16]byte) bool {
		want := HashUUID(u)
		h := fmt.Sprintf("%x", u[:])
		hyph := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		var every4 strings.Builder
		for i := 0; i < 32; i += 4 {
			if i > 0 {
				every4.WriteByte('-')
			}
			every4.WriteString(h[i : i+4])
		}
		for _, s := range []string{hyph, strings.ToUpper(hyph), "{" + hyph + "}", h, "{" + strings.ToUpper(h) + "}", every4.String()} {
			if p, err := PointFromText(KeyUUID, s); err != nil || p != want {
				t.Logf("PointFromText(KeyUUID, %q) = %v, %v; want %v", s, p, err, want)
				return false
			}
		}
		p, err := PointFromBinary(KeyUUID, u[:])
		return err == nil && p == want
	}
	if err := quick.Check(check, quickConfig()); err != nil {
		t.Error(err)
	}
}

// Text and binary text agree for random byte strings, including invalid
// UTF-8 and lengths on both sides of the short-key fast path.
func TestPropertyTextEncodings(t *testing.T) {
	check := func(b []byte) bool {
		want := HashText(string(b))
		p, err := PointFromBinary(KeyText, append([]byte{}, b...))
		q, err2 := PointFromTextBytes(KeyText, append([]byte{}, b...))
		return err == nil && err2 == nil && p == want && q == want && HashTextBytes(b) == want
	}
	cfg := quickConfig()
	cfg.MaxCountScale = 0.2
	if err := quick.Check(check, cfg); err != nil {
		t.Error(err)
	}
}

func FuzzPointFromTextInt(f *testing.F) {
	for _, s := range []string{"42", " -0x2A ", "1_000", "9223372036854775808", "_", "0b", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := PointFromText(KeyInt, s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) && !errors.Is(err, ErrKeyOutOfRange) {
				t.Fatalf("error %v wraps neither ErrInvalidKey nor ErrKeyOutOfRange", err)
			}
			return
		}
		// Whatever was accepted must be the same key as its plain decimal.
		v, _ := ParseInt(s)
		if q := mustText(t, KeyInt, strconv.FormatInt(v, 10)); q != p {
			t.Fatalf("%q and %d have different points", s, v)
		}
	})
}

func FuzzPointFromTextUUID(f *testing.F) {
	for _, s := range []string{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", "{", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := PointFromText(KeyUUID, s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not wrap ErrInvalidKey", err)
			}
			return
		}
		u, _ := parseUUID(s)
		if q := mustBinary(t, KeyUUID, u[:]); q != p {
			t.Fatalf("%q and its bytes have different points", s)
		}
	})
}
