package merge

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// orderCases list distinct values in ascending order as PostgreSQL 15
// sorts them (checked with ORDER BY on PG 15.18, C collation for text).
var orderCases = []struct {
	name string
	oid  uint32
	asc  []string
}{
	{"int2", oidInt2, []string{"-32768", "-1", "0", "7", "32767"}},
	{"int4", oidInt4, []string{"-2147483648", "-5", "0", "3", "2147483647"}},
	{"int8", oidInt8, []string{"-9223372036854775808", "-1", "0", "10", "9223372036854775807"}},
	{"float4", oidFloat4, []string{"-Infinity", "-3.5", "0", "1e-05", "2.5", "1e+06", "Infinity", "NaN"}},
	{"float8", oidFloat8, []string{"-Infinity", "-1e+20", "-1.5", "0", "0.0001", "1", "1e+15", "Infinity", "NaN"}},
	{"numeric", oidNumeric, []string{"-Infinity", "-10.5", "-2", "0.001", "1.5", "9.99", "10", "100000000000000000000.1", "Infinity", "NaN"}},
	{"bool", oidBool, []string{"f", "t"}},
	{"text", oidText, []string{"", "A", "B", "a", "ab", "b", "é"}},
	{"varchar", oidVarchar, []string{"A", "a", "ab", "b"}},
	{"bpchar", oidBPChar, []string{"a  ", "ab ", "b  "}},
	{"name", oidName, []string{"A", "a", "b"}},
	{"date", oidDate, []string{"-infinity", "1900-01-01", "1999-12-31", "2000-01-01", "2024-02-29", "infinity"}},
	{"timestamp", oidTimestamp, []string{"-infinity", "1970-01-01 00:00:00", "1999-12-31 23:59:59.999999", "2000-01-01 00:00:00", "infinity"}},
	{"timestamptz", oidTimestamptz, []string{"-infinity", "1999-12-31 23:00:00+00", "2000-01-01 00:00:00.5+00", "2000-01-01 02:00:00+01", "infinity"}},
	{"time", oidTime, []string{"00:00:00", "12:30:00", "23:59:59.999999"}},
	{"uuid", oidUUID, []string{"00000000-0000-0000-0000-000000000000", "0fffffff-0000-0000-0000-000000000000", "a0000000-0000-0000-0000-000000000001", "ffffffff-ffff-ffff-ffff-ffffffffffff"}},
	{"bytea", oidBytea, []string{`\x`, `\x00`, `\x0001`, `\x01`, `\xff`}},
	{"interval", oidInterval, []string{"-1 days", "00:00:00", "23:59:59", "1 day", "1 day 00:00:01", "1 mon", "1 year"}},
	{"oid", oidOID, []string{"0", "1", "2147483648", "4294967295"}},
}

// TestOrderByTypes checks every type in both formats under all four
// direction/NULLs combinations, both through the k-way merge (parts
// pre-sorted) and through the fallback full sort (parts shuffled).
func TestOrderByTypes(t *testing.T) {
	for _, tc := range orderCases {
		for _, format := range []int16{0, 1} {
			for _, key := range []SortKey{{}, {NullsFirst: true}, {Desc: true, NullsFirst: true}, {Desc: true}} {
				for _, shuffled := range []bool{false, true} {
					name := tc.name + "/fmt" + strconv.Itoa(int(format)) + "/desc=" + strconv.FormatBool(key.Desc) +
						"/nullsfirst=" + strconv.FormatBool(key.NullsFirst) + "/shuffled=" + strconv.FormatBool(shuffled)
					t.Run(name, func(t *testing.T) {
						// Expected output: ids of values in result order.
						vals := append(slices.Clone(tc.asc), null)
						order := make([]int, len(tc.asc))
						for i := range order {
							order[i] = i
						}
						if key.Desc {
							slices.Reverse(order)
						}
						nullID := len(tc.asc)
						if key.NullsFirst {
							order = append([]int{nullID}, order...)
						} else {
							order = append(order, nullID)
						}
						// Column 0 is the sort key, column 1 the id (hidden
						// when Output is 1... we keep it visible to check).
						cols := []Column{{Name: "k", TypeOID: tc.oid, Format: format}, {Name: "id", TypeOID: oidInt4}}
						mk := func(id int) Row {
							f := []byte(vals[id])
							if vals[id] == null {
								f = nil
							} else if format == 1 {
								f = toBinary(t, tc.oid, vals[id])
							}
							return Row{f, []byte(strconv.Itoa(id))}
						}
						parts := make([][]Row, 3)
						for i, id := range order {
							parts[i%3] = append(parts[i%3], mk(id))
						}
						if shuffled {
							r := rand.New(rand.NewPCG(1, 2))
							for _, p := range parts {
								r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
							}
						}
						spec := &Spec{OrderBy: []SortKey{key}, Limit: -1, Output: 2}
						out := mustMerge(t, cols, parts, spec)
						var got []int
						for _, r := range out {
							id, _ := strconv.Atoi(string(r[1]))
							got = append(got, id)
						}
						if !slices.Equal(got, order) {
							t.Fatalf("order = %v, want %v (values %q)", got, order, vals)
						}
					})
				}
			}
		}
	}
}

func TestOrderByMultiKey(t *testing.T) {
	cols := textCols(oidInt4, oidText, oidFloat8)
	parts := [][]Row{
		{row("1", "b", "0"), row("2", null, "1")},
		{row("1", null, "2"), row("1", "a", "3"), row("3", "z", "4")},
		{row(null, "q", "5"), row("2", "c", "6")},
	}
	// ORDER BY a ASC NULLS LAST, b DESC NULLS LAST; hidden third column.
	spec := &Spec{OrderBy: []SortKey{{Col: 0}, {Col: 1, Desc: true}}, Limit: -1, Output: 2}
	// Parts are not all sorted on (a, b desc nulls last): exercises fallback.
	got := join(strs(mustMerge(t, cols, parts, spec)))
	want := "1|b\n1|a\n1|NULL\n2|c\n2|NULL\n3|z\nNULL|q\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestNegativeZeroAndNaNEquality(t *testing.T) {
	cols := textCols(oidFloat8)
	parts := [][]Row{{row("-0"), row("NaN")}, {row("0"), row("NaN"), row(null)}}
	got := join(strs(mustMerge(t, cols, parts, &Spec{Distinct: true, Limit: -1, Output: 1})))
	if want := "-0\nNaN\nNULL\n"; got != want {
		t.Fatalf("DISTINCT float8 got\n%s\nwant\n%s", got, want)
	}
}

// TestUnknownTypeIsNotOrdered: a type pgshard does not know (jsonb here;
// enums, arrays, inet, money alike) has an order its bytes do not follow
// (PG 15: '10.0.0.10'::inet > '10.0.0.9', ARRAY[10] > ARRAY[9]), so ORDER
// BY and min/max refuse in either format, while concatenation and DISTINCT
// (equality of the text bytes) still merge.
func TestUnknownTypeIsNotOrdered(t *testing.T) {
	const oidJSONB = 3802
	for _, format := range []int16{0, 1} {
		cols := []Column{{Name: "j", TypeOID: oidJSONB, Format: format}}
		parts := [][]Row{{row("b"), row("a")}, {row("a")}}
		for _, spec := range []*Spec{
			{OrderBy: []SortKey{{Col: 0}}, Limit: -1, Output: 1},
			{Aggs: []Agg{{Col: 0, Kind: AggMax}}, Limit: -1, Output: 1},
		} {
			if e := mergeErr(t, cols, parts, spec); e.Code != CodeFeatureUnsupported {
				t.Fatalf("format %d: code = %s", format, e.Code)
			}
		}
		if rows := mustMerge(t, cols, parts, &Spec{Limit: -1, Output: 1}); len(rows) != 3 {
			t.Fatalf("format %d: concatenation kept %d rows", format, len(rows))
		}
		if format == 1 {
			continue // binary values of unknown types are not compared at all
		}
		if rows := mustMerge(t, cols, parts, &Spec{Distinct: true, Limit: -1, Output: 1}); len(rows) != 2 {
			t.Fatalf("format %d: DISTINCT kept %d rows", format, len(rows))
		}
	}
}

// TestBPCharIgnoresTrailingBlanks: bpchar compares without its padding
// (PG 15.18: 'a'::char(3) < E'a\x01'::char(3), and 'a '::bpchar = 'a').
func TestBPCharIgnoresTrailingBlanks(t *testing.T) {
	cols := textCols(oidBPChar)
	parts := [][]Row{{row("a\x01 ")}, {row("a  ")}}
	got := join(strs(mustMerge(t, cols, parts, &Spec{OrderBy: []SortKey{{Col: 0}}, Limit: -1, Output: 1})))
	if want := "a  \na\x01 \n"; got != want {
		t.Fatalf("ORDER BY got %q, want %q", got, want)
	}
	parts = [][]Row{{row("a ")}, {row("a")}}
	if rows := mustMerge(t, cols, parts, &Spec{Distinct: true, Limit: -1, Output: 1}); len(rows) != 1 {
		t.Fatalf("DISTINCT kept %d rows", len(rows))
	}
}
