package merge

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestDerived checks casts of merged aggregates and COALESCE with a
// constant against what PostgreSQL 15 answers for the same value, e.g.
// SELECT 2.5::numeric::int (3), SELECT 2.5::float8::int (2),
// SELECT COALESCE(NULL::numeric, 0.00) (0.00).
func TestDerived(t *testing.T) {
	tests := []struct {
		name    string
		fromOID uint32 // type of the merged aggregate
		value   string // the merged aggregate, text format
		steps   []step
		colOID  uint32 // the column's type (the last step's, or COALESCE's)
		want    string
		code    string // SQLSTATE when the cast fails
	}{
		{"count::int", oidInt8, "42", []step{{cast: oidInt4}}, oidInt4, "42", ""},
		{"count::int overflow", oidInt8, "2147483648", []step{{cast: oidInt4}}, oidInt4, "", CodeNumericOutOfRange},
		{"count::smallint overflow", oidInt8, "40000", []step{{cast: oidInt2}}, oidInt2, "", CodeNumericOutOfRange},
		{"count::numeric", oidInt8, "7", []step{{cast: oidNumeric}}, oidNumeric, "7", ""},
		{"count::text", oidInt8, "-7", []step{{cast: oidText}}, oidText, "-7", ""},
		{"count::float4", oidInt8, "16777217", []step{{cast: oidFloat4}}, oidFloat4, "1.6777216e+07", ""},
		{"sum numeric::int rounds half away from zero", oidNumeric, "2.50", []step{{cast: oidInt4}}, oidInt4, "3", ""},
		{"negative half", oidNumeric, "-2.5", []step{{cast: oidInt8}}, oidInt8, "-3", ""},
		{"below half", oidNumeric, "2.4999", []step{{cast: oidInt4}}, oidInt4, "2", ""},
		{"numeric NaN::int", oidNumeric, "NaN", []step{{cast: oidInt4}}, oidInt4, "", CodeFeatureUnsupported},
		{"numeric::bigint overflow", oidNumeric, "9223372036854775808", []step{{cast: oidInt8}}, oidInt8, "", CodeNumericOutOfRange},
		{"numeric::float8", oidNumeric, "0.1", []step{{cast: oidFloat8}}, oidFloat8, "0.1", ""},
		{"numeric::text keeps the scale", oidNumeric, "12.50", []step{{cast: oidText}}, oidText, "12.50", ""},
		{"numeric::real overflow", oidNumeric, "1e39", []step{{cast: oidFloat4}}, oidFloat4, "", CodeNumericOutOfRange},
		{"float::int rounds half to even", oidFloat8, "2.5", []step{{cast: oidInt4}}, oidInt4, "2", ""},
		{"float::int 3.5", oidFloat8, "3.5", []step{{cast: oidInt4}}, oidInt4, "4", ""},
		{"float NaN::int", oidFloat8, "NaN", []step{{cast: oidInt4}}, oidInt4, "", CodeNumericOutOfRange},
		{"float::real overflow", oidFloat8, "1e300", []step{{cast: oidFloat4}}, oidFloat4, "", CodeNumericOutOfRange},
		{"float::text", oidFloat8, "0.30000000000000004", []step{{cast: oidText}}, oidText, "0.30000000000000004", ""},
		{"float::numeric is not computed", oidFloat8, "1.5", []step{{cast: oidNumeric}}, oidNumeric, "", CodeFeatureUnsupported},
		{"coalesce keeps a value", oidInt8, "5", []step{{def: "0"}}, oidInt8, "5", ""},
		{"coalesce of NULL", oidInt8, null, []step{{def: "0"}}, oidInt8, "0", ""},
		{"coalesce numeric default keeps its scale", oidNumeric, null, []step{{def: "0.00"}}, oidNumeric, "0.00", ""},
		{"coalesce int to a numeric column", oidInt8, "3", []step{{def: "0.5"}}, oidNumeric, "3", ""},
		{"coalesce float", oidFloat8, null, []step{{def: "-1"}}, oidFloat8, "-1", ""},
		{"coalesce then cast", oidNumeric, null, []step{{def: "-1.5"}, {cast: oidInt4}}, oidInt4, "-2", ""},
		{"cast then coalesce", oidNumeric, "7.5", []step{{cast: oidInt4}, {def: "0"}}, oidInt4, "8", ""},
		{"cast chain rounds in between", oidNumeric, "2.5", []step{{cast: oidInt4}, {cast: oidNumeric}}, oidNumeric, "3", ""},
		{"NULL stays NULL", oidInt8, null, []step{{cast: oidText}}, oidText, null, ""},
		{"date is not computed", oidDate, "2024-01-01", []step{{cast: oidText}}, oidText, "", CodeFeatureUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols := []Column{{Name: "d", TypeOID: tt.colOID}, {Name: "agg", TypeOID: tt.fromOID}}
			rows := []Row{row("shard value", tt.value)}
			checkDerived(t, cols, rows, chain(tt.steps), tt.want, tt.code)
		})
	}
}

// step is one cast (or, with cast 0, a COALESCE with def) of a chain over
// column 1.
type step struct {
	cast uint32
	def  string
}

func chain(steps []step) Calc {
	var c Calc = CalcCol{Col: 1}
	for _, s := range steps {
		if s.cast != 0 {
			c = CalcCast{Arg: c, OID: s.cast}
		} else {
			c = CalcCoalesce{Args: []Calc{c, CalcNum{Text: s.def}}}
		}
	}
	return c
}

// TestDerivedBinary checks a derived column a client asked for in binary.
func TestDerivedBinary(t *testing.T) {
	for _, tc := range []struct {
		oid  uint32
		want string
	}{{oidInt4, "8"}, {oidInt2, "8"}, {oidNumeric, "7.5"}, {oidFloat8, "7.5"}, {oidText, "7.5"}} {
		cols := []Column{{Name: "d", TypeOID: tc.oid, Format: 1}, {Name: "agg", TypeOID: oidNumeric}}
		rows := []Row{{nil, []byte("7.5")}}
		if err := derive(testMap, cols, rows, []Derived{{Col: 0, Expr: CalcCast{Arg: CalcCol{Col: 1}, OID: tc.oid}}}); err != nil {
			t.Fatal(err)
		}
		if want := toBinary(t, tc.oid, tc.want); string(rows[0][0]) != string(want) {
			t.Errorf("OID %d: got % x, want % x", tc.oid, rows[0][0], want)
		}
	}
}

// TestMergeDerived runs a derived column through Merge: the value is
// computed from the merged aggregate before the rows are sorted by it.
func TestMergeDerived(t *testing.T) {
	// SELECT g, count(*)::int AS n FROM t GROUP BY g ORDER BY n DESC,
	// planned as g, NULL::int4 AS n, count(*) (hidden).
	cols := []Column{{Name: "g", TypeOID: oidText}, {Name: "n", TypeOID: oidInt4}, {Name: "pgshard_1", TypeOID: oidInt8}}
	parts := [][]Row{
		{row("a", null, "1"), row("b", null, "5")},
		{row("a", null, "9"), row("c", null, "2")},
	}
	spec := &Spec{GroupBy: []int{0}, Aggs: []Agg{{Col: 2, Kind: AggCount}}, Limit: -1, Output: 2,
		Derived: []Derived{{Col: 1, Expr: CalcCast{Arg: CalcCol{Col: 2}, OID: oidInt4}}},
		OrderBy: []SortKey{{Col: 1, Desc: true, NullsFirst: true}}}
	rows, err := Merge(cols, parts, spec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, string(r[0])+"="+string(r[1]))
	}
	if want := []string{"a=10", "b=5", "c=2"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// checkDerived computes column 0 of rows from expr and checks it is want
// (null for NULL), or that it fails with SQLSTATE code when code is set.
func checkDerived(t *testing.T, cols []Column, rows []Row, expr Calc, want, code string) {
	t.Helper()
	err := derive(testMap, cols, rows, []Derived{{Col: 0, Expr: expr}})
	if code != "" {
		var me *Error
		if !errors.As(err, &me) || me.Code != code {
			t.Fatalf("err = %v, want SQLSTATE %s", err, code)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got := string(rows[0][0])
	if rows[0][0] == nil {
		got = null
	}
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestDerivedNumericTypmod checks casts to numeric(p,s) against
// PostgreSQL 15, e.g. SELECT 1234.565::numeric(10,2) (1234.57) and
// SELECT 999.995::numeric(5,2) (numeric field overflow, "A field with
// precision 5, scale 2 must round to an absolute value less than 10^3.").
func TestDerivedNumericTypmod(t *testing.T) {
	for _, tt := range []struct {
		from             uint32
		value            string
		precision, scale int32
		want, detail     string
	}{
		{oidNumeric, "1234.565", 10, 2, "1234.57", ""},
		{oidNumeric, "-2.345", 5, 2, "-2.35", ""},
		{oidInt8, "42", 5, 1, "42.0", ""},
		{oidNumeric, "12.5", 3, 0, "13", ""},
		{oidNumeric, "1250.7", 5, -2, "1300", ""},
		{oidNumeric, "0.0123", 2, 3, "0.012", ""},
		{oidNumeric, "NaN", 5, 2, "NaN", ""},
		{oidNumeric, "0", 1, 1, "0.0", ""},
		{oidNumeric, "1000", 5, 2, "", "A field with precision 5, scale 2 must round to an absolute value less than 10^3."},
		{oidNumeric, "999.995", 5, 2, "", "A field with precision 5, scale 2 must round to an absolute value less than 10^3."},
		{oidNumeric, "-999.995", 5, 2, "", "A field with precision 5, scale 2 must round to an absolute value less than 10^3."},
		{oidNumeric, "0.995", 2, 2, "", "A field with precision 2, scale 2 must round to an absolute value less than 1."},
		{oidNumeric, "0.15", 2, 3, "", "A field with precision 2, scale 3 must round to an absolute value less than 10^-1."},
		{oidNumeric, "Infinity", 5, 2, "", "A field with precision 5, scale 2 cannot hold an infinite value."},
		{oidInt8, "123456", 5, 0, "", "A field with precision 5, scale 0 must round to an absolute value less than 10^5."},
	} {
		name := fmt.Sprintf("%s::numeric(%d,%d)", tt.value, tt.precision, tt.scale)
		t.Run(name, func(t *testing.T) {
			cols := []Column{{Name: "d", TypeOID: oidNumeric}, {Name: "agg", TypeOID: tt.from}}
			rows := []Row{row("shard value", tt.value)}
			err := derive(testMap, cols, rows, []Derived{{Col: 0, Expr: CalcCast{Arg: CalcCol{Col: 1}, OID: oidNumeric, Precision: tt.precision, Scale: tt.scale}}})
			if tt.detail != "" {
				var me *Error
				if !errors.As(err, &me) || me.Code != CodeNumericOutOfRange || me.Message != "numeric field overflow" || me.Detail != tt.detail {
					t.Fatalf("err = %#v, want numeric field overflow: %s", err, tt.detail)
				}
				return
			}
			if err != nil || string(rows[0][0]) != tt.want {
				t.Fatalf("got %q, %v; want %q", rows[0][0], err, tt.want)
			}
		})
	}
}
