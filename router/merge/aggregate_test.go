package merge

import (
	"strings"
	"testing"
)

// groupCols is the shape the router produces for
//
//	SELECT g, count(*), sum(v), min(v), max(v), avg(v) FROM t GROUP BY g
//
// with v int4: avg(v) becomes sum(v) in column 5 plus count(v) in column 6.
var groupCols = []Column{
	{Name: "g", TypeOID: oidText},
	{Name: "count", TypeOID: oidInt8},
	{Name: "sum", TypeOID: oidInt8},
	{Name: "min", TypeOID: oidInt4},
	{Name: "max", TypeOID: oidInt4},
	{Name: "avg", TypeOID: oidInt8},
	{Name: "avg_count", TypeOID: oidInt8},
}

// groupParts are the per-shard partial aggregates of
// t = ('a',1),('a',2),('b',10),('d',NULL) | ('a',3),('b',NULL),('c',5) | ('b',-4),('b',5),(NULL,7).
var groupParts = [][]Row{
	{
		row("a", "2", "3", "1", "2", "3", "2"),
		row("b", "1", "10", "10", "10", "10", "1"),
		row("d", "1", null, null, null, null, "0"),
	},
	{
		row("a", "1", "3", "3", "3", "3", "1"),
		row("b", "1", null, null, null, null, "0"),
		row("c", "1", "5", "5", "5", "5", "1"),
	},
	{
		row("b", "2", "1", "-4", "5", "1", "2"),
		row(null, "1", "7", "7", "7", "7", "1"),
	},
}

func groupSpec() *Spec {
	return &Spec{
		GroupBy: []int{0},
		Aggs: []Agg{
			{Col: 1, Kind: AggCount},
			{Col: 2, Kind: AggSum},
			{Col: 3, Kind: AggMin},
			{Col: 4, Kind: AggMax},
			{Col: 5, Kind: AggAvg, CountCol: 6, OutOID: oidNumeric},
		},
		OrderBy: []SortKey{{Col: 0, NullsFirst: true}},
		Limit:   -1,
		Output:  6,
	}
}

// From PG 15.18: SELECT g, count(*), sum(v), min(v), max(v), avg(v) FROM t
// GROUP BY g ORDER BY g NULLS FIRST.
const groupWant = `NULL|1|7|7|7|7.0000000000000000
a|3|6|1|3|2.0000000000000000
b|4|11|-4|10|3.6666666666666667
c|1|5|5|5|5.0000000000000000
d|1|NULL|NULL|NULL|NULL
`

func TestGroupByAggregates(t *testing.T) {
	got := join(strs(mustMerge(t, groupCols, groupParts, groupSpec())))
	if got != groupWant {
		t.Fatalf("got\n%s\nwant\n%s", got, groupWant)
	}
	out := OutColumns(groupCols, groupSpec())
	if len(out) != 6 || out[5].TypeOID != oidNumeric || out[1].TypeOID != oidInt8 {
		t.Fatalf("OutColumns = %+v", out)
	}
	if TypeLen(out[5].TypeOID) != -1 || TypeLen(oidFloat8) != 8 {
		t.Fatal("TypeLen")
	}
}

// TestGroupByBinary runs the same merge with every column in binary and
// decodes the results with pgtype, so the binary encodings we produce
// (int8, numeric with its scale) are what a client library reads.
func TestGroupByBinary(t *testing.T) {
	cols := make([]Column, len(groupCols))
	copy(cols, groupCols)
	parts := make([][]Row, len(groupParts))
	for i := range cols {
		cols[i].Format = 1
	}
	for pi, p := range groupParts {
		for _, r := range p {
			br := make(Row, len(r))
			for i, f := range r {
				if f != nil {
					br[i] = toBinary(t, cols[i].TypeOID, string(f))
				}
			}
			parts[pi] = append(parts[pi], br)
		}
	}
	spec := groupSpec()
	outCols := OutColumns(cols, spec)
	rows := mustMerge(t, cols, parts, spec)
	for _, r := range rows {
		for i, f := range r {
			if f == nil {
				continue
			}
			typ, _ := testMap.TypeForOID(outCols[i].TypeOID)
			v, err := typ.Codec.DecodeValue(testMap, outCols[i].TypeOID, 1, f)
			if err != nil {
				t.Fatalf("pgtype cannot decode column %d: %v", i, err)
			}
			txt, err := testMap.Encode(outCols[i].TypeOID, 0, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			r[i] = txt
		}
	}
	if got := join(strs(rows)); got != groupWant {
		t.Fatalf("got\n%s\nwant\n%s", got, groupWant)
	}
}

func TestGlobalAggregates(t *testing.T) {
	cols := groupCols[1:]
	spec := &Spec{
		Aggs: []Agg{
			{Col: 0, Kind: AggCount},
			{Col: 1, Kind: AggSum},
			{Col: 2, Kind: AggMin},
			{Col: 3, Kind: AggMax},
			{Col: 4, Kind: AggAvg, CountCol: 5},
		},
		Limit:  -1,
		Output: 5,
	}
	emptyShard := row("0", null, null, null, null, "0")
	for _, tc := range []struct {
		name  string
		parts [][]Row
		want  string
	}{
		// From PG 15.18: aggregates over no rows give 0 and NULLs.
		{"no parts", nil, "0|NULL|NULL|NULL|NULL\n"},
		{"empty parts", [][]Row{{}, {}, {}}, "0|NULL|NULL|NULL|NULL\n"},
		{"shards with zero counts", [][]Row{{emptyShard}, {emptyShard}}, "0|NULL|NULL|NULL|NULL\n"},
		// avg(1,2,3,4) = 2.5000000000000000 (PG 15.18)
		{"some data", [][]Row{{row("2", "3", "1", "2", "3", "2")}, {emptyShard}, {row("2", "7", "3", "4", "7", "2")}}, "4|10|1|4|2.5000000000000000\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := join(strs(mustMerge(t, cols, tc.parts, spec))); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// HAVING false on a global aggregate removes its only row.
	spec.Having = Cmp{Op: ">", L: ColRef{Col: 0}, R: Const{Text: "0", TypeOID: oidInt4}}
	if rows := mustMerge(t, cols, nil, spec); len(rows) != 0 {
		t.Fatalf("HAVING count(*) > 0 over nothing returned %v", strs(rows))
	}
}

func TestAvgScale(t *testing.T) {
	// Each case: the sum column's type, the shards' (sum, count) partials,
	// and avg() of the underlying values as printed by PG 15.18.
	type p struct{ sum, count string }
	for _, tc := range []struct {
		name  string
		oid   uint32
		parts []p
		want  string
	}{
		{"int4 1,2", oidInt8, []p{{"1", "1"}, {"2", "1"}}, "1.5000000000000000"},
		{"int4 1,2,3,4", oidInt8, []p{{"3", "2"}, {"7", "2"}, {null, "0"}}, "2.5000000000000000"},
		{"numeric(10,2) 10,20", oidNumeric, []p{{"10.00", "1"}, {"20", "1"}}, "15.0000000000000000"},
		{"int4 1,2,2", oidInt8, []p{{"1", "1"}, {"4", "2"}}, "1.6666666666666667"},
		{"int4 -1,-2", oidInt8, []p{{"-1", "1"}, {"-2", "1"}}, "-1.5000000000000000"},
		{"int4 0,1", oidInt8, []p{{"0", "1"}, {"1", "1"}}, "0.50000000000000000000"},
		{"int4 12345,1,1", oidInt8, []p{{"12345", "1"}, {"2", "2"}}, "4115.6666666666666667"},
		{"int8 max twice", oidNumeric, []p{{"9223372036854775807", "1"}, {"9223372036854775807", "1"}}, "9223372036854775807"},
		{"numeric long scale", oidNumeric, []p{{"1.123456789012345678901", "1"}, {"2", "1"}}, "1.561728394506172839451"},
		{"numeric small", oidNumeric, []p{{"0.003", "2"}, {"0.0", "1"}}, "0.00100000000000000000"},
		{"int4 0", oidInt8, []p{{"0", "1"}}, "0.00000000000000000000"},
		{"numeric 1.25,2.5", oidNumeric, []p{{"1.25", "1"}, {"2.5", "1"}}, "1.8750000000000000"},
		{"numeric NaN", oidNumeric, []p{{"NaN", "1"}, {"1", "1"}}, "NaN"},
		{"numeric Infinity", oidNumeric, []p{{"Infinity", "1"}, {"1", "1"}}, "Infinity"},
		{"float8", oidFloat8, []p{{"3.5", "2"}, {"3.25", "1"}}, "2.25"},
		// avg(float4) accumulates in float8: the router must send sum(x::float8).
		{"float4 via float8 sums", oidFloat8, []p{{"0.10000000149011612", "1"}, {"0.20000000298023224", "1"}}, "0.15000000223517418"},
		{"no rows", oidNumeric, []p{{null, "0"}, {null, "0"}}, "NULL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := []Column{{Name: "avg", TypeOID: tc.oid}, {Name: "n", TypeOID: oidInt8}}
			var parts [][]Row
			for _, x := range tc.parts {
				parts = append(parts, []Row{row(x.sum, x.count)})
			}
			spec := &Spec{Aggs: []Agg{{Col: 0, Kind: AggAvg, CountCol: 1}}, Limit: -1, Output: 1}
			got := strs(mustMerge(t, cols, parts, spec))
			if len(got) != 1 || got[0][0] != tc.want {
				t.Fatalf("avg = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestSum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		oid    uint32
		sums   []string
		want   string
		errMsg string
	}{
		// Expected values printed by PG 15.18 for sum() over the same data.
		{"numeric keeps max scale", oidNumeric, []string{"1.5", "2.25", "3"}, "6.75", ""},
		{"numeric 1.10+2", oidNumeric, []string{"1.10", null, "2"}, "3.10", ""},
		{"numeric inf-inf", oidNumeric, []string{"Infinity", "-Infinity"}, "NaN", ""},
		{"float8", oidFloat8, []string{"0.1", "0.2"}, "0.30000000000000004", ""},
		{"interval", oidInterval, []string{"1 day", "-25:00:00", "1 year 2 mons"}, "1 year 2 mons 1 day -25:00:00", ""},
		{"interval mixed signs", oidInterval, []string{"-1 days", "02:00:00.5"}, "-1 days +02:00:00.5", ""},
		// sum(float4) adds in float4: 16777216 + 1 + 1 stays 16777216.
		{"float4 precision", oidFloat4, []string{"1.6777216e+07", "1", "1"}, "1.6777216e+07", ""},
		{"all null", oidInt8, []string{null, null}, "NULL", ""},
		{"int8", oidInt8, []string{"9223372036854775806", "1"}, "9223372036854775807", ""},
		{"int8 overflow", oidInt8, []string{"9223372036854775807", "1"}, "", "bigint out of range"},
		{"int8 underflow", oidInt8, []string{"-9223372036854775808", "-1"}, "", "bigint out of range"},
		{"float8 overflow", oidFloat8, []string{"1e308", "1e308"}, "", "value out of range: overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := []Column{{Name: "sum", TypeOID: tc.oid}}
			var parts [][]Row
			for _, s := range tc.sums {
				parts = append(parts, []Row{row(s)})
			}
			spec := &Spec{Aggs: []Agg{{Col: 0, Kind: AggSum}}, Limit: -1, Output: 1}
			if tc.errMsg != "" {
				e := mergeErr(t, cols, parts, spec)
				if e.Code != CodeNumericOutOfRange || e.Message != tc.errMsg {
					t.Fatalf("error = %+v", e)
				}
				return
			}
			got := strs(mustMerge(t, cols, parts, spec))
			if len(got) != 1 || got[0][0] != tc.want {
				t.Fatalf("sum = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestBoolAggs(t *testing.T) {
	cols := textCols(oidBool, oidBool)
	parts := [][]Row{{row("t", "f")}, {row(null, null)}, {row("f", "t")}}
	spec := &Spec{Aggs: []Agg{{Col: 0, Kind: AggBoolAnd}, {Col: 1, Kind: AggBoolOr}}, Limit: -1, Output: 2}
	// PG 15.18: bool_and(true,null,false) = f, bool_or(...) = t
	if got := join(strs(mustMerge(t, cols, parts, spec))); got != "f|t\n" {
		t.Fatalf("got %q", got)
	}
}

// TestBinaryAggregateOutput checks binary encodings pgtype must read back:
// numeric keeps its display scale, float8 and interval survive.
func TestBinaryAggregateOutput(t *testing.T) {
	for _, tc := range []struct {
		oid  uint32
		kind AggKind
		in   []string
		want string
	}{
		{oidNumeric, AggSum, []string{"1.50", "2", "-0.25"}, "3.25"},
		{oidNumeric, AggSum, []string{"100000000.00001", "0.00009"}, "100000000.00010"},
		{oidNumeric, AggSum, []string{"-12345678901234567890", "-1"}, "-12345678901234567891"},
		{oidNumeric, AggSum, []string{"NaN", "1"}, "NaN"},
		{oidFloat8, AggSum, []string{"1.5", "-3"}, "-1.5"},
		{oidInt8, AggCount, []string{"5", "7"}, "12"},
		{oidInterval, AggSum, []string{"1 day 01:00:00", "1 mon"}, "1 mon 1 day 01:00:00"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			cols := []Column{{Name: "x", TypeOID: tc.oid, Format: 1}}
			var parts [][]Row
			for _, s := range tc.in {
				parts = append(parts, []Row{{toBinary(t, tc.oid, s)}})
			}
			rows := mustMerge(t, cols, parts, &Spec{Aggs: []Agg{{Col: 0, Kind: tc.kind}}, Limit: -1, Output: 1})
			typ, _ := testMap.TypeForOID(tc.oid)
			v, err := typ.Codec.DecodeValue(testMap, tc.oid, 1, rows[0][0])
			if err != nil {
				t.Fatalf("pgtype decode: %v", err)
			}
			txt, err := testMap.Encode(tc.oid, 0, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := string(txt)
			if tc.oid == oidInterval {
				// pgtype prints intervals in its own style; compare values.
				got = string(appendIntervalText(nil, mustDecode(t, tc.oid, 1, rows[0][0])))
			}
			if got != tc.want {
				t.Fatalf("binary result decodes to %q, want %q", got, tc.want)
			}
		})
	}
}

func mustDecode(t *testing.T, oid uint32, format int16, src []byte) value {
	t.Helper()
	d, err := newDecoder(testMap, oid, format, true)
	if err != nil {
		t.Fatal(err)
	}
	v, err := d(src)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSpecErrors(t *testing.T) {
	cols := textCols(oidText, oidInt8)
	for name, spec := range map[string]*Spec{
		"output too wide":  {Output: 3, Limit: -1},
		"order col":        {OrderBy: []SortKey{{Col: 9}}, Output: 1, Limit: -1},
		"sum over text":    {Aggs: []Agg{{Col: 0, Kind: AggSum}}, Output: 1, Limit: -1},
		"avg count col":    {Aggs: []Agg{{Col: 1, Kind: AggAvg, CountCol: 5}}, Output: 1, Limit: -1},
		"group col":        {GroupBy: []int{7}, Output: 1, Limit: -1},
		"having col":       {Having: IsNull{Arg: ColRef{Col: 4}}, Output: 1, Limit: -1},
		"having operator":  {Having: Cmp{Op: "~~", L: ColRef{Col: 0}, R: ColRef{Col: 0}}, Output: 1, Limit: -1},
		"avg type mismach": {Aggs: []Agg{{Col: 1, Kind: AggAvg, CountCol: 1, OutOID: oidFloat8}}, Output: 1, Limit: -1},
	} {
		t.Run(name, func(t *testing.T) {
			e := mergeErr(t, cols, [][]Row{{row("a", "1")}}, spec)
			if e.Code == "" || !strings.Contains(e.Error(), e.Code) {
				t.Fatalf("error %+v", e)
			}
		})
	}
}

// TestCountDistinct: each shard sends one row per (group, value); values
// equal by type count once (numeric 1.0 = 1.00), NULLs not at all, and a
// global count over no rows is 0, typed int8 whatever the value's type.
func TestCountDistinct(t *testing.T) {
	cols := textCols(oidText, oidNumeric, oidInt8)
	spec := &Spec{
		GroupBy: []int{0},
		Aggs:    []Agg{{Col: 1, Kind: AggCountDistinct}, {Col: 2, Kind: AggCount}},
		OrderBy: []SortKey{{Col: 0}},
		Limit:   -1,
		Output:  3,
	}
	parts := [][]Row{
		{row("a", "1.0", "2"), row("a", "2", "1"), row("b", null, "4")},
		{row("a", "1.00", "1"), row("a", "3.5", "1"), row("b", "7", "1")},
		{row("a", "2.000", "5"), row("b", null, "1")},
	}
	got := join(strs(mustMerge(t, cols, parts, spec)))
	// a: {1, 2, 3.5} and 10 rows; b: {7} and 6 rows.
	if want := "a|3|10\nb|1|6\n"; got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	if out := OutColumns(cols, spec); out[1].TypeOID != oidInt8 {
		t.Fatalf("count(DISTINCT numeric) column typed %d, want int8", out[1].TypeOID)
	}
	global := &Spec{Aggs: []Agg{{Col: 0, Kind: AggCountDistinct}}, Limit: -1, Output: 1}
	if got := join(strs(mustMerge(t, textCols(oidText), [][]Row{{}, {}}, global))); got != "0\n" {
		t.Fatalf("count(DISTINCT) over no rows = %q, want 0", got)
	}
}

// TestSumAvgDistinct: the distinct values of all shards are summed and
// averaged with the result types PostgreSQL gives sum and avg.
func TestSumAvgDistinct(t *testing.T) {
	spec := &Spec{Aggs: []Agg{{Col: 0, Kind: AggSumDistinct}, {Col: 1, Kind: AggAvgDistinct}}, Limit: -1, Output: 2}
	ints := [][]Row{{row("1", "1"), row("2", "2")}, {row("2", "2"), row("3", "3"), row(null, null)}}
	if got := join(strs(mustMerge(t, textCols(oidInt4, oidInt4), ints, spec))); got != "6|2.0000000000000000\n" {
		t.Fatalf("int4: %q", got)
	}
	if out := OutColumns(textCols(oidInt4, oidInt4), spec); out[0].TypeOID != oidInt8 || out[1].TypeOID != oidNumeric {
		t.Fatalf("int4 sum/avg typed %d/%d, want int8/numeric", out[0].TypeOID, out[1].TypeOID)
	}
	floats := [][]Row{{row("0.5", "0.5"), row("1.5", "1.5")}, {row("0.5", "0.5")}}
	if got := join(strs(mustMerge(t, textCols(oidFloat8, oidFloat8), floats, spec))); got != "2|1\n" {
		t.Fatalf("float8: %q", got)
	}
	if got := join(strs(mustMerge(t, textCols(oidInt8, oidInt8), [][]Row{{}}, spec))); got != "NULL|NULL\n" {
		t.Fatalf("no rows: %q, want NULLs", got)
	}
	if e := mergeErr(t, textCols(oidText, oidText), [][]Row{{row("a", "a")}}, spec); e.Code != CodeFeatureUnsupported {
		t.Fatalf("sum(DISTINCT text): %v", e)
	}
}
