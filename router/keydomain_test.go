package router

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/shard"
)

// keyPoint plans q (one key value) and evaluates that value with ps.
func keyPoint(t *testing.T, r *Router, q string, ps Params) (shard.Point, error) {
	t.Helper()
	p := r.Prepare(q)
	if p.Kind != KindShard || len(p.Class) != 1 || len(p.Class[0].Values) != 1 {
		t.Fatalf("%s: plan %s, want one key value", q, p.Kind)
	}
	v := values{lits: p.lits, params: ps.Values, formats: ps.Formats, oids: ps.OIDs}
	return v.point(p.Class[0].Values[0], p.Class[0].Table.KeyType)
}

func float8Bytes(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }

// numericBytes is numeric_send of v: base-10000 digits, trailing zero
// groups left out as the server does, dscale digits after the point.
func numericBytes(v int64, dscale int) []byte {
	sign := uint16(0)
	u := uint64(v)
	if v < 0 {
		sign, u = 0x4000, uint64(-v)
	}
	var groups []uint16 // most significant first
	for ; u > 0; u /= 10000 {
		groups = append([]uint16{uint16(u % 10000)}, groups...)
	}
	weight := len(groups) - 1
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	b := binary.BigEndian.AppendUint16(nil, uint16(len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale))
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b
}

// numericFraction is numeric_send of 0.5 (weight -1, one digit 5000).
var numericFraction = []byte{0, 1, 0xff, 0xff, 0, 0, 0, 1, 0x13, 0x88}

// TestKeyValuesOfOtherTypes: a key compared with a value of another type
// (a float8 parameter from pgjdbc's setDouble, user_id = 42.0, a key cast
// to text) is routed by what the server's comparison means: the key it
// equals, no key at all, or every shard when one value equals several
// keys — never by hashing the value's bytes as if they were a bigint.
func TestKeyValuesOfOtherTypes(t *testing.T) {
	r := testRouter(t)
	key := shard.HashInt
	text := func(s string, oid uint32) Params {
		return Params{Values: [][]byte{[]byte(s)}, Formats: []int16{0}, OIDs: []uint32{oid}}
	}
	bin := func(b []byte, oid uint32) Params {
		return Params{Values: [][]byte{b}, Formats: []int16{1}, OIDs: []uint32{oid}}
	}
	const eq = "SELECT * FROM users WHERE user_id = $1"
	for _, tc := range []struct {
		q       string
		ps      Params
		want    shard.Point
		wantErr error
	}{
		{eq, text("42", 0), key(42), nil},
		{eq, bin([]byte{0, 42}, oidInt2), key(42), nil},
		{eq, bin([]byte{0, 0, 0, 42}, 0), key(42), nil},
		{eq, text("42", oidInt4), key(42), nil},
		// float8: pgjdbc setDouble sends binary, psycopg a text float.
		{eq, bin(float8Bytes(42), oidFloat8), key(42), nil},
		{eq, bin(float8Bytes(-7), oidFloat8), key(-7), nil},
		{eq, text("42.0", oidFloat8), key(42), nil},
		{eq, text(" 4.2e1 ", oidFloat8), key(42), nil},
		{eq, text("42.5", oidFloat8), 0, ErrNoKey},
		{eq, text("NaN", oidFloat8), 0, ErrNoKey},
		{eq, bin(float8Bytes(math.Inf(-1)), oidFloat8), 0, ErrNoKey},
		{eq, bin(float8Bytes(1<<53), oidFloat8), 0, ErrAnyKey},
		{eq, text("1e20", oidFloat8), 0, ErrAnyKey},
		// numeric: Python's Decimal, BigDecimal.
		{eq, text("42.000", oidNumeric), key(42), nil},
		{eq, text("-0.5", oidNumeric), 0, ErrNoKey},
		{eq, text("1e30", oidNumeric), 0, ErrNoKey},
		{eq, bin(numericBytes(42, 0), oidNumeric), key(42), nil},
		{eq, bin(numericBytes(12340000, 2), oidNumeric), key(12340000), nil},
		{eq, bin(numericBytes(-98765432100, 0), oidNumeric), key(-98765432100), nil},
		{eq, bin(numericFraction, oidNumeric), 0, ErrNoKey},
		// text and types whose equality does not pin one key.
		{eq, text("42", oidText), key(42), nil},
		{eq, text("forty-two", oidText), 0, ErrNoKey},
		{eq, text("t", 16), 0, ErrAnyKey},    // boolean
		{eq, text("42", 700), 0, ErrAnyKey},  // real: one float4 equals many keys
		{eq, text("42", 1042), 0, ErrAnyKey}, // bpchar
		// Casts in the statement: an untyped parameter takes the cast's type.
		{"SELECT * FROM users WHERE user_id = $1::float8", bin(float8Bytes(42), 0), key(42), nil},
		{"SELECT * FROM users WHERE user_id = $1::float8", text("42.5", 0), 0, ErrNoKey},
		{"SELECT * FROM users WHERE user_id = $1::bigint", text("42", oidInt4), key(42), nil},
		{"SELECT * FROM users WHERE user_id = $1::bigint", bin(float8Bytes(42.5), oidFloat8), 0, ErrAnyKey}, // rounds
		{"SELECT * FROM users WHERE user_id = $1::text::bigint", text("42", 0), key(42), nil},
		{"SELECT * FROM users WHERE user_id::text = $1", bin([]byte("42"), 0), key(42), nil},
		{"SELECT * FROM users WHERE user_id::float8 = $1", bin(float8Bytes(42), 0), key(42), nil},
		{"SELECT * FROM users WHERE user_id::float8 = $1", bin(float8Bytes(42.25), 0), 0, ErrNoKey},
		// Literals: a number's own type is how it is written.
		{"SELECT * FROM users WHERE user_id = 42.0", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id = 4.2e1", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id = -42.00", Params{}, key(-42), nil},
		{"SELECT * FROM users WHERE user_id = 42.5", Params{}, 0, ErrNoKey},
		{"SELECT * FROM users WHERE user_id = 99999999999999999999", Params{}, 0, ErrNoKey},
		{"SELECT * FROM users WHERE user_id = 42.5::bigint", Params{}, 0, ErrAnyKey}, // 43 on the server
		{"SELECT * FROM users WHERE user_id = '42'::numeric", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id = 42::float8", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id = 9007199254740993::float8", Params{}, 0, ErrAnyKey},
		{"SELECT * FROM users WHERE user_id::float8 = 42.5", Params{}, 0, ErrNoKey},
		{"SELECT * FROM users WHERE user_id::numeric = 42.0", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id::text = '42'", Params{}, key(42), nil},
		{"SELECT * FROM users WHERE user_id::text = 'abc'", Params{}, 0, ErrNoKey},
		{"SELECT * FROM sessions WHERE token::text = 'not a uuid'", Params{}, 0, ErrNoKey},
		{"SELECT * FROM sessions WHERE token = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::text::uuid", Params{},
			shard.HashUUID([16]byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}), nil},
	} {
		got, err := keyPoint(t, r, tc.q, tc.ps)
		switch {
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("%s %v: got point %x, err %v; want %v", tc.q, tc.ps, got, err, tc.wantErr)
		case tc.wantErr == nil && (err != nil || got != tc.want):
			t.Errorf("%s %v: got point %x, err %v; want %x", tc.q, tc.ps, got, err, tc.want)
		}
	}
}

// TestUntypedParameterInAList: an untyped parameter in a list takes the
// list's common type, which a decimal or a cast among its items makes
// numeric.
func TestUntypedParameterInAList(t *testing.T) {
	r := testRouter(t)
	for _, tc := range []struct {
		q       string
		param   string
		want    shard.Point
		wantErr error
	}{
		{"SELECT * FROM users WHERE user_id IN ($1, 2.5)", "42.0", shard.HashInt(42), nil},
		{"SELECT * FROM users WHERE user_id = ANY(ARRAY[$1, 7::numeric])", "42.5", 0, ErrNoKey},
		{"SELECT * FROM users WHERE user_id IN ($1, 7)", "42", shard.HashInt(42), nil},
	} {
		p := r.Prepare(tc.q)
		if p.Kind != KindShard || len(p.Class) != 1 || len(p.Class[0].Values) != 2 {
			t.Fatalf("%s: plan %s, want a list of two key values", tc.q, p.Kind)
		}
		v := values{lits: p.lits, params: [][]byte{[]byte(tc.param)}, formats: []int16{0}}
		got, err := v.point(p.Class[0].Values[0], shard.KeyInt)
		if !errors.Is(err, tc.wantErr) || err == nil && got != tc.want {
			t.Errorf("%s with $1 = %s: point %x, err %v; want %x, %v", tc.q, tc.param, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestKeyComparisonsThatPinNothing: a cast whose equality does not
// identify one key (boolean, real, a length-limited varchar or char, a
// number cast back to an integer) is not a key pin, and such a cast on
// both sides of a join is not co-location.
func TestKeyComparisonsThatPinNothing(t *testing.T) {
	r := testRouter(t)
	for _, q := range []string{
		"SELECT * FROM users WHERE user_id::bool = true",
		"SELECT * FROM users WHERE user_id::bool = 1::bool",
		"SELECT * FROM users WHERE user_id::real = 16777217",
		"SELECT * FROM users WHERE user_id = 42::real",
		"SELECT * FROM users WHERE user_id = '42.5'::numeric::bigint",
		"SELECT * FROM users WHERE user_id = 42.5::float8::int8",
		"SELECT * FROM users WHERE user_id::numeric(10,0) = 42",
		"SELECT * FROM users WHERE user_id = true::int",
		"SELECT * FROM users WHERE user_id = ANY($1::real[])",
		"SELECT * FROM sessions WHERE token::varchar(3) = 'a0e'",
		"SELECT * FROM sessions WHERE token::text::char(8) = 'a0eebc99'",
	} {
		if p := r.Prepare(q); p.Kind != KindScatter {
			t.Errorf("%s: plan %s with %d pins, want scatter", q, p.Kind, len(p.Class))
		}
	}
	const joined = "SELECT * FROM users u JOIN orders o ON %s WHERE u.user_id = 42"
	if p := r.Prepare(fmt.Sprintf(joined, "u.user_id::bool = o.user_id::bool")); p.Kind != KindRefuse {
		t.Errorf("a join on keys cast to boolean was planned %s, want refused (not co-located)", p.Kind)
	}
	if p := r.Prepare(fmt.Sprintf(joined, "u.user_id::text = o.user_id::text")); p.Kind != KindShard {
		t.Errorf("a join on keys cast to text was planned %s, want one shard (co-located)", p.Kind)
	}
}

// TestStoredKeysOfOtherTypes: an INSERT's key of another type goes where
// the server stores it when the conversion is exact, and is refused when
// the server would round it.
func TestStoredKeysOfOtherTypes(t *testing.T) {
	r := testRouter(t)
	m := shard.EqualMap(3)
	of := func(k int64) []shard.ShardID { return []shard.ShardID{m.Lookup(shard.HashInt(k))} }
	for _, tc := range []struct {
		q       string
		ps      Params
		want    []shard.ShardID
		refused bool
	}{
		{"INSERT INTO users (user_id) VALUES (42.0)", Params{}, of(42), false},
		{"INSERT INTO users (user_id) VALUES (42.5)", Params{}, nil, true},
		{"INSERT INTO users (user_id) VALUES (42.5::float8)", Params{}, nil, true},
		{"INSERT INTO users (user_id) VALUES (99999999999999999999)", Params{}, nil, true},
		{"INSERT INTO users (user_id) VALUES ($1)", Params{Values: [][]byte{float8Bytes(7)}, Formats: []int16{1}, OIDs: []uint32{oidFloat8}}, of(7), false},
		{"INSERT INTO users (user_id) VALUES ($1)", Params{Values: [][]byte{float8Bytes(7.5)}, Formats: []int16{1}, OIDs: []uint32{oidFloat8}}, nil, true},
		{"INSERT INTO users (user_id) VALUES ($1)", Params{Values: [][]byte{[]byte("t")}, Formats: []int16{0}, OIDs: []uint32{16}}, nil, true},
		{"INSERT INTO users (user_id) VALUES ($1), ($2)", Params{Values: [][]byte{float8Bytes(7), float8Bytes(7.5)}, Formats: []int16{1, 1}, OIDs: []uint32{oidFloat8, oidFloat8}}, nil, true},
	} {
		rt := r.BindKeyed(r.Prepare(tc.q), tc.q, tc.ps, "")
		switch {
		case tc.refused && (rt.Err == nil || rt.Err.Code != codeFeatureNotSupported):
			t.Errorf("%s: %s, want refused with 0A000", tc.q, rt.Describe())
		case !tc.refused && (rt.Err != nil || !slices.Equal(rt.Shards, tc.want)):
			t.Errorf("%s: %s, want shards %v", tc.q, rt.Describe(), tc.want)
		}
	}
	// The same key as float8 and as bigint lands on one shard in a split.
	q := "INSERT INTO users (user_id) VALUES ($1), ($2)"
	rt := r.BindKeyed(r.Prepare(q), q, Params{Values: [][]byte{float8Bytes(42), []byte("42")}, Formats: []int16{1, 0}, OIDs: []uint32{oidFloat8, 0}}, "")
	if rt.Err != nil || !slices.Equal(rt.Shards, of(42)) || rt.SQL != nil {
		t.Errorf("%s with 42 as float8 and as text: %s, want one statement on shards %v", q, rt.Describe(), of(42))
	}
}

// TestKeyValueEncodingsAgree is the property behind the table above: for
// any integer key, every encoding of it — numeric text and binary, float8
// text and binary (below 2^53), a text column comparison — gives the point
// of the integer itself.
func TestKeyValueEncodingsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var v int64
		switch i % 3 {
		case 0:
			v = rng.Int64() >> rng.IntN(64)
		case 1:
			v = rng.Int64N(2*exactFloat) - exactFloat
		default:
			v = int64(rng.IntN(20001)) - 10000
		}
		if rng.IntN(2) == 0 {
			v = -v
		}
		want := shard.HashInt(v)
		s := strconv.FormatInt(v, 10)
		check := func(what string, got shard.Point, err error) {
			t.Helper()
			if err != nil || got != want {
				t.Fatalf("%d as %s: point %x, err %v; want %x", v, what, got, err, want)
			}
		}
		p, err := pointIn(shard.KeyInt, domNumeric, s+"."+strings.Repeat("0", rng.IntN(4)))
		check("numeric text", p, err)
		p, err = pointIn(shard.KeyInt, domNumeric, s+"e0")
		check("numeric text with exponent", p, err)
		p, err = pointInBinary(shard.KeyInt, domNumeric, domNumeric, numericBytes(v, rng.IntN(3)))
		check("binary numeric", p, err)
		p, err = pointIn(shard.KeyInt, domText, s)
		check("text", p, err)
		if v < exactFloat && v > -exactFloat {
			p, err = pointInBinary(shard.KeyInt, domFloat8, domFloat8, float8Bytes(float64(v)))
			check("binary float8", p, err)
			p, err = pointIn(shard.KeyInt, domFloat8, strconv.FormatFloat(float64(v), 'g', -1, 64))
			check("float8 text", p, err)
			p, err = pointInBinary(shard.KeyInt, domFloat8, domKey, binary.BigEndian.AppendUint64(nil, uint64(v)))
			check("bigint compared in float8", p, err)
		} else if _, err := pointInBinary(shard.KeyInt, domFloat8, domKey, binary.BigEndian.AppendUint64(nil, uint64(v))); !errors.Is(err, ErrAnyKey) {
			t.Fatalf("%d compared in float8: err %v, want ErrAnyKey (several keys are that float8)", v, err)
		}
	}
}

// FuzzDecimalInteger checks decimalInteger against math/big: a numeric
// input is an integer key exactly when the rational it spells is an
// integer within bigint.
func FuzzDecimalInteger(f *testing.F) {
	for _, s := range []string{"42", "42.0", "-42.50", "4.2e1", "1e-3", ".5", "0.000", "9223372036854775807",
		"-9223372036854775808.0", "9223372036854775808", "1e18", "1e19", "12e-1", "120e-1", " 7 ", "+3.", "NaN", "1e99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := decimalInteger(s)
		body := strings.TrimSpace(s)
		if strings.ContainsAny(body, "xXoObB_") || !strings.ContainsAny(body, ".eE") || strings.ContainsAny(body, "/") {
			return // integer notations go to the integer parser, tested in shard
		}
		r, ok := new(big.Rat).SetString(body)
		if !ok || strings.Count(body, "e")+strings.Count(body, "E") > 1 {
			return
		}
		integral := r.IsInt() && r.Num().IsInt64()
		switch {
		case err == nil && (!integral || r.Num().Int64() != got):
			t.Fatalf("decimalInteger(%q) = %d, want %v", s, got, r)
		case errors.Is(err, ErrNoKey) && integral:
			t.Fatalf("decimalInteger(%q): ErrNoKey, but it is the integer %v", s, r)
		}
	})
}

// TestKeyProblemsRefuseKeyedRoutes: a table whose key column the servers
// hold as another type than configured is not routed by its key (the
// hash would be of the wrong value), while reads over every shard, hints
// and other tables go on.
func TestKeyProblemsRefuseKeyedRoutes(t *testing.T) {
	r := testRouter(t)
	var users *Table
	for _, tab := range r.Schema().ShardedTables() {
		if tab.Name == "users" {
			users = tab
		}
	}
	r.SetKeyProblems(map[*Table]string{users: "on shard s1 it is numeric"})
	for _, tc := range []struct {
		q       string
		refused bool
	}{
		{"SELECT * FROM users WHERE user_id = 42", true},
		{"INSERT INTO users (user_id) VALUES (1), (2), (3)", true},
		{"COPY users (user_id) FROM STDIN", true},
		{"SELECT * FROM users u JOIN orders o USING (user_id) WHERE o.user_id = 7", true},
		{"SELECT count(*) FROM users", false},
		{"/* pgshard: shard=1 */ SELECT * FROM users WHERE user_id = 42", false},
		{"SELECT * FROM orders WHERE user_id = 42", false},
	} {
		rt := r.Simple(tc.q)[0].Route
		if refused := rt.Err != nil && rt.Err.Code == codeDatatypeMismatch; refused != tc.refused {
			t.Errorf("%s: %s, want refused %v", tc.q, rt.Describe(), tc.refused)
		}
	}
	p := r.Prepare("SELECT * FROM users WHERE user_id = $1")
	if rt := r.Bind(p, "", [][]byte{[]byte("42")}, nil); rt.Err == nil {
		t.Errorf("Bind: %s, want refused", rt.Describe())
	}
	r.SetKeyProblems(nil)
	if rt := r.Simple("SELECT * FROM users WHERE user_id = 42")[0].Route; rt.Err != nil {
		t.Errorf("after the problem is cleared: %s", rt.Describe())
	}
}

// TestStringContinuationIsOneKey: 'ab' followed by 'c' on the next line is
// one string, 'abc', in SQL; its key is that whole value, not the first
// piece the scan sees.
func TestStringContinuationIsOneKey(t *testing.T) {
	r := textKeyRouter(t, 3)
	m := shard.EqualMap(3)
	want := m.Lookup(shard.HashText("abc"))
	if m.Lookup(shard.HashText("ab")) == want {
		t.Fatal("pick keys whose pieces land on another shard than the whole")
	}
	for _, q := range []string{
		"SELECT * FROM words WHERE w = 'ab'\n'c'",
		"INSERT INTO words (w) VALUES ('ab'\n'c')",
		"SELECT * FROM words WHERE w IN ('ab'\n'c')",
		"SELECT * FROM words WHERE w = 'ab'\n'c'", // again, from the cache
	} {
		if rt := r.Simple(q)[0].Route; rt.Err != nil || !slices.Equal(rt.Shards, []shard.ShardID{want}) {
			t.Errorf("%q: %s, want shard %d (the key 'abc')", q, rt.Describe(), want)
		}
	}
}

// TestClientEncodingWithTextKeys: text keys are hashed from their UTF-8
// bytes, so in a database sharded by text keys a client may not switch to
// an encoding the server would convert from.
func TestClientEncodingWithTextKeys(t *testing.T) {
	r := textKeyRouter(t, 2)
	for q, refused := range map[string]bool{
		"SET client_encoding = 'LATIN1'":                        true,
		"SET NAMES 'win1252'":                                   true,
		"SET LOCAL client_encoding TO EUC_JP":                   true,
		"SET client_encoding = 'UTF8'":                          false,
		"SET client_encoding = 'utf-8'":                         false,
		"SET NAMES 'Unicode'":                                   false,
		"SET client_encoding = SQL_ASCII":                       false,
		"SET client_encoding TO DEFAULT":                        false,
		"SELECT set_config('client_encoding', 'LATIN1', false)": true,
		"SELECT set_config('client_encoding', 'UTF8', false)":   false,
	} {
		if rt := r.Simple(q)[0].Route; (rt.Err != nil && rt.Err.Code == codeFeatureNotSupported) != refused {
			t.Errorf("%s: %s, want refused %v", q, rt.Describe(), refused)
		}
	}
	// Integer keys are digits in every encoding.
	if rt := testRouter(t).Simple("SET client_encoding = 'LATIN1'")[0].Route; rt.Err != nil {
		t.Errorf("without text keys: %s", rt.Describe())
	}
}

// TestSettingRefusedByValueIsNotShared: a SET refused for one value and
// allowed for another is planned per text, not shared by its normalized
// form with the other value.
func TestSettingRefusedByValueIsNotShared(t *testing.T) {
	r := testRouter(t)
	for i, tc := range []struct {
		q       string
		refused bool
	}{
		{"SET standard_conforming_strings TO 'true'", false},
		{"SET standard_conforming_strings TO 'false'", true},
		{"SET standard_conforming_strings TO 'true'", false},
		{"SET standard_conforming_strings TO 'no'", true},
		{"SELECT set_config('standard_conforming_strings', 'off', false)", true},
		{"SELECT set_config('standard_conforming_strings', 'on', false)", false},
	} {
		if rt := r.Simple(tc.q)[0].Route; (rt.Err != nil) != tc.refused {
			t.Errorf("%d: %s: %s, want refused %v", i, tc.q, rt.Describe(), tc.refused)
		}
	}
}

// textKeyRouter routes over n shards a database whose table words is
// sharded by its text column w.
func textKeyRouter(t *testing.T, n int) *Router {
	t.Helper()
	d := &config.Database{Sharding: config.Sharding{
		Tables:       []config.ShardedTable{{Name: "words", Key: "w", KeyType: "text"}},
		DefaultShard: "s0",
	}}
	for i := range n {
		d.Shards = append(d.Shards, config.Shard{Name: fmt.Sprintf("s%d", i)})
	}
	s, err := NewSchema(d)
	if err != nil {
		t.Fatal(err)
	}
	return New(s, shard.NewHolder(shard.EqualMap(n)), 1000)
}
