package merge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func intParts(parts ...[]int) [][]Row {
	out := make([][]Row, len(parts))
	for i, p := range parts {
		for _, v := range p {
			out[i] = append(out[i], row(strconv.Itoa(v), "p"+strconv.Itoa(i)))
		}
	}
	return out
}

func TestLimitOffset(t *testing.T) {
	cols := textCols(oidInt4, oidText)
	parts := intParts([]int{1, 4, 7, 10}, []int{2, 5, 8}, []int{3, 6, 9, 11, 12})
	for _, tc := range []struct {
		name          string
		order         bool
		offset, limit int64
		want          string
	}{
		{"ordered all", true, 0, -1, "1 2 3 4 5 6 7 8 9 10 11 12"},
		{"ordered window", true, 2, 3, "3 4 5"},
		{"ordered limit 0", true, 0, 0, ""},
		{"ordered offset past end", true, 100, 5, ""},
		{"ordered tail", true, 9, 100, "10 11 12"},
		{"ordered negative offset", true, -3, 2, "1 2"},
		{"concat window", false, 3, 4, "10 2 5 8"},
		{"concat limit 0", false, 0, 0, ""},
		{"concat offset past end", false, 12, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &Spec{Offset: tc.offset, Limit: tc.limit, Output: 1}
			if tc.order {
				spec.OrderBy = []SortKey{{Col: 0}}
			}
			out := mustMerge(t, cols, parts, spec)
			got := ""
			for i, r := range out {
				if len(r) != 1 {
					t.Fatalf("row has %d columns, want Output=1", len(r))
				}
				if i > 0 {
					got += " "
				}
				got += string(r[0])
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestWithTies checks FETCH ... WITH TIES on both merge paths: the k-way
// merge of sorted parts and the sort after DISTINCT. Each part is what a
// shard returns for its own LIMIT offset+limit WITH TIES.
func TestWithTies(t *testing.T) {
	cols := textCols(oidInt4, oidText)
	parts := intParts([]int{1, 3, 3, 5}, []int{3, 4}, []int{2, 3, 5, 5})
	// Sorted: 1 2 3(p0) 3(p0) 3(p1) 3(p2) 4 5(p0) 5(p2) 5(p2); DISTINCT on
	// (value, part) drops the second 3(p0) and 5(p2).
	for _, tc := range []struct {
		name           string
		offset, limit  int64
		want, distinct string
	}{
		{"ties after the window", 0, 3, "1 2 3 3 3 3", "1 2 3 3 3"},
		{"no tie at the end", 0, 6, "1 2 3 3 3 3", "1 2 3 3 3 4"},
		{"offset then ties", 2, 1, "3 3 3 3", "3 3 3"},
		{"window ends in the last group", 0, 8, "1 2 3 3 3 3 4 5 5 5", "1 2 3 3 3 4 5 5"},
		{"limit 0 keeps nothing", 0, 0, "", ""},
		{"past the end", 20, 1, "", ""},
	} {
		for _, distinct := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s distinct=%v", tc.name, distinct), func(t *testing.T) {
				spec := &Spec{Offset: tc.offset, Limit: tc.limit, WithTies: true, Distinct: distinct,
					OrderBy: []SortKey{{Col: 0}}, Output: 2}
				var got []string
				for _, r := range mustMerge(t, cols, parts, spec) {
					got = append(got, string(r[0]))
				}
				want := tc.want
				if distinct {
					want = tc.distinct
				}
				if s := strings.Join(got, " "); s != want {
					t.Fatalf("got %q, want %q", s, want)
				}
			})
		}
	}
}

func TestLimitAfterAggregation(t *testing.T) {
	spec := groupSpec()
	spec.Offset, spec.Limit = 1, 2
	got := join(strs(mustMerge(t, groupCols, groupParts, spec)))
	want := "a|3|6|1|3|2.0000000000000000\nb|4|11|-4|10|3.6666666666666667\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

// TestPlainPathsShareBytes: the streaming paths must hand back the shard's
// own field slices, not copies.
func TestPlainPathsShareBytes(t *testing.T) {
	cols := textCols(oidInt4, oidText)
	for _, spec := range []*Spec{
		{Limit: -1, Output: 2},
		{OrderBy: []SortKey{{Col: 0, Desc: true}}, Limit: 2, Output: 2},
	} {
		parts := intParts([]int{9, 1}, []int{5})
		out := mustMerge(t, cols, parts, spec)
		if &out[0][0][0] != &parts[0][0][0][0] {
			t.Fatalf("first row field was copied (spec %+v)", spec)
		}
	}
}

func BenchmarkMerge(b *testing.B) {
	cols := []Column{{Name: "id", TypeOID: oidInt4, Format: 1}, {Name: "v", TypeOID: oidText}}
	parts := make([][]Row, 3)
	for p := range parts {
		for i := range 1000 {
			id := i*3 + p
			parts[p] = append(parts[p], Row{toBinary(b, oidInt4, strconv.Itoa(id)), []byte("payload")})
		}
	}
	spec := &Spec{OrderBy: []SortKey{{Col: 0}}, Limit: 10, Output: 2}
	b.ReportAllocs()
	for b.Loop() {
		rows, err := Merge(cols, parts, spec)
		if err != nil || len(rows) != 10 {
			b.Fatal(err, len(rows))
		}
	}
}

// TestDistinctOn: rows from several shards, each already one per key on
// its shard, are sorted and the first per key kept; NULL keys are one key,
// and LIMIT/OFFSET apply to what is kept.
func TestDistinctOn(t *testing.T) {
	cols := textCols(oidText, oidInt4, oidText)
	parts := [][]Row{
		{row("a", "3", "s0"), row("b", "9", "s0"), row(null, "4", "s0")},
		{row("a", "1", "s1"), row("c", "2", "s1")},
		{row("b", "5", "s2"), row(null, "2", "s2"), row("c", "7", "s2")},
	}
	for _, tc := range []struct {
		name          string
		desc          bool
		offset, limit int64
		want          string
	}{
		{"lowest per key", false, 0, -1, "a|1|s1\nb|5|s2\nc|2|s1\nNULL|2|s2\n"},
		{"highest per key", true, 0, -1, "a|3|s0\nb|9|s0\nc|7|s2\nNULL|4|s0\n"},
		{"window over the kept rows", false, 1, 2, "b|5|s2\nc|2|s1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &Spec{DistinctOn: 1, OrderBy: []SortKey{{Col: 0}, {Col: 1, Desc: tc.desc, NullsFirst: tc.desc}},
				Offset: tc.offset, Limit: tc.limit, Output: 3}
			if got := join(strs(mustMerge(t, cols, parts, spec))); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestCollatedText checks that the merges that would order text by a
// collation other than its bytes fail, and only those: under CollatedText
// (the shards' default) or where the query names such a collation.
func TestCollatedText(t *testing.T) {
	cols := textCols(oidText, oidInt4)
	parts := [][]Row{{row("b", "1")}, {row("B", "2")}}
	for _, tc := range []struct {
		name     string
		spec     Spec
		collated bool // the shards' default collation
		fail     bool
	}{
		{"order by text", Spec{OrderBy: []SortKey{{Col: 0}}}, true, true},
		{"order by text COLLATE C", Spec{OrderBy: []SortKey{{Col: 0, Collation: CollateBytes}}}, true, false},
		{"order by int", Spec{OrderBy: []SortKey{{Col: 1}}}, true, false},
		{"max of text", Spec{Aggs: []Agg{{Col: 0, Kind: AggMax}}}, true, true},
		{"max of text COLLATE C", Spec{Aggs: []Agg{{Col: 0, Kind: AggMax, Collation: CollateBytes}}}, true, false},
		{"group by text", Spec{GroupBy: []int{0}, Aggs: []Agg{{Col: 1, Kind: AggSum}}}, true, false},
		{"distinct", Spec{Distinct: true}, true, false},
		{"bytewise default: order by text", Spec{OrderBy: []SortKey{{Col: 0}}}, false, false},
		{"bytewise default: order by text COLLATE de_DE", Spec{OrderBy: []SortKey{{Col: 0, Collation: CollateNamed}}}, false, true},
		{"bytewise default: order by int COLLATE de_DE", Spec{OrderBy: []SortKey{{Col: 1, Collation: CollateNamed}}}, false, false},
		{"bytewise default: min of text", Spec{Aggs: []Agg{{Col: 0, Kind: AggMin}}}, false, false},
		{"bytewise default: min of text COLLATE de_DE", Spec{Aggs: []Agg{{Col: 0, Kind: AggMin, Collation: CollateNamed}}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.CollatedText, spec.Limit, spec.Output = tc.collated, -1, 2
			checkRefused(t, cols, parts, spec, tc.fail)
		})
	}
}

// TestCollatedColumns checks that a column's own collation, as the shards'
// catalogs give it, decides like the database's default would, and that
// the query's COLLATE overrides it.
func TestCollatedColumns(t *testing.T) {
	parts := [][]Row{{row("b", "1")}, {row("B", "2")}}
	for _, tc := range []struct {
		name string
		coll Collation // the text column's
		spec Spec
		fail bool
	}{
		{"order by a collated column", CollateNamed, Spec{OrderBy: []SortKey{{Col: 0}}}, true},
		{"order by it COLLATE C", CollateNamed, Spec{OrderBy: []SortKey{{Col: 0, Collation: CollateBytes}}}, false},
		{"order by an expression of unknown collation", CollateUnknown, Spec{OrderBy: []SortKey{{Col: 0}}}, true},
		{"order by it COLLATE C", CollateUnknown, Spec{OrderBy: []SortKey{{Col: 0, Collation: CollateBytes}}}, false},
		{"max of unknown collation", CollateUnknown, Spec{Aggs: []Agg{{Col: 0, Kind: AggMax}}}, true},
		{"max of unknown collation COLLATE C", CollateUnknown, Spec{Aggs: []Agg{{Col: 0, Kind: AggMax, Collation: CollateBytes}}}, false},
		{"order by the other column", CollateNamed, Spec{OrderBy: []SortKey{{Col: 1}}}, false},
		{"group by a collated column", CollateNamed, Spec{GroupBy: []int{0}, Aggs: []Agg{{Col: 1, Kind: AggSum}}}, false},
		{"order by a column of the default collation", CollateDefault, Spec{OrderBy: []SortKey{{Col: 0}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := textCols(oidText, oidInt4)
			cols[0].Collation = tc.coll
			spec := tc.spec
			spec.Limit, spec.Output = -1, 2
			checkRefused(t, cols, parts, spec, tc.fail)
		})
	}
}

// TestNondeterministicText checks that text of a nondeterministic
// collation is never compared for equality by bytes: 'a' and 'A' from two
// shards would stay two groups where a case-insensitive collation makes
// them one.
func TestNondeterministicText(t *testing.T) {
	parts := [][]Row{{row("a", "1")}, {row("A", "2")}}
	for _, tc := range []struct {
		name string
		spec Spec
		fail bool
	}{
		{"group by it", Spec{GroupBy: []int{0}, Aggs: []Agg{{Col: 1, Kind: AggSum}}}, true},
		{"distinct", Spec{Distinct: true}, true},
		{"distinct on it", Spec{DistinctOn: 1, OrderBy: []SortKey{{Col: 0, Collation: CollateBytes}}}, true},
		{"count(distinct it)", Spec{Aggs: []Agg{{Col: 0, Kind: AggCountDistinct}}}, true},
		{"group by the other column", Spec{GroupBy: []int{1}, Aggs: []Agg{{Col: 0, Kind: AggCountDistinct}}}, true},
		{"group by the other column only", Spec{GroupBy: []int{1}}, false},
		{"concatenated", Spec{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := textCols(oidText, oidInt4)
			cols[0].Nondeterministic = true
			spec := tc.spec
			spec.Limit, spec.Output = -1, 2
			checkRefused(t, cols, parts, spec, tc.fail)
		})
	}
}

// checkRefused merges parts under spec and checks that the merge is
// refused as unsupported exactly when refuse is set.
func checkRefused(t *testing.T, cols []Column, parts [][]Row, spec Spec, refuse bool) {
	t.Helper()
	_, err := Merge(cols, parts, &spec)
	var me *Error
	if refused := errors.As(err, &me) && me.Code == CodeFeatureUnsupported; refused != refuse {
		t.Fatalf("err = %v, want refusal %v", err, refuse)
	}
}
