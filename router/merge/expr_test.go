package merge

import (
	"strings"
	"testing"
)

func TestHaving(t *testing.T) {
	sum, cnt, minv, maxv, avg := ColRef{Col: 2}, ColRef{Col: 1}, ColRef{Col: 3}, ColRef{Col: 4}, ColRef{Col: 5}
	i4 := func(s string) Const { return Const{Text: s, TypeOID: oidInt4} }
	// Expected groups from PG 15.18 (same t as groupParts, ORDER BY g, so
	// the NULL group comes last and prints as "NULL" here).
	for _, tc := range []struct {
		name   string
		having Expr
		want   string
	}{
		{"NOT over NULL", Not{Arg: Cmp{Op: "<", L: sum, R: i4("6")}}, "a b NULL"},
		{"OR with NULL", Or{Args: []Expr{Cmp{Op: ">", L: sum, R: i4("100")}, Cmp{Op: "=", L: cnt, R: i4("1")}}}, "c d NULL"},
		{"AND OR IS NULL", Or{Args: []Expr{
			And{Args: []Expr{Cmp{Op: ">", L: sum, R: i4("5")}, Cmp{Op: "<>", L: maxv, R: i4("3")}}},
			IsNull{Arg: minv},
		}}, "b d NULL"},
		{"avg vs numeric", Cmp{Op: ">", L: avg, R: Const{Text: "2.5", TypeOID: oidNumeric}}, "b c NULL"},
		{"avg vs untyped literal", Cmp{Op: ">", L: avg, R: Const{Text: "2.5"}}, "b c NULL"},
		{"literal on the left", Cmp{Op: "<=", L: Const{Text: "3"}, R: cnt}, "a b"},
		{"IS NOT NULL", IsNull{Arg: sum, Not: true}, "a b c NULL"},
		{"AND with NULL is not TRUE", And{Args: []Expr{Cmp{Op: "=", L: sum, R: Const{Null: true}}, Cmp{Op: ">=", L: cnt, R: i4("0")}}}, ""},
		{"NOT of NULL comparison", Not{Arg: Cmp{Op: "=", L: sum, R: Const{Null: true}}}, ""},
		{"float vs int", Cmp{Op: ">=", L: Const{Text: "4", TypeOID: oidFloat8}, R: cnt}, "a b c d NULL"},
		{"text key", Cmp{Op: "<", L: ColRef{Col: 0}, R: Const{Text: "b", TypeOID: oidText}}, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := groupSpec()
			spec.Having = tc.having
			spec.OrderBy = []SortKey{{Col: 0}}
			var got []string
			for _, r := range strs(mustMerge(t, groupCols, groupParts, spec)) {
				got = append(got, r[0])
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("groups %q, want %q", g, tc.want)
			}
		})
	}
}

func TestHavingTypeMismatch(t *testing.T) {
	spec := groupSpec()
	spec.Having = Cmp{Op: "=", L: ColRef{Col: 0}, R: ColRef{Col: 1}} // text = int8
	if e := mergeErr(t, groupCols, groupParts, spec); e.Code != CodeInternal {
		t.Fatalf("code %s", e.Code)
	}
}

func TestDistinct(t *testing.T) {
	cols := textCols(oidNumeric, oidText, oidInt4)
	parts := [][]Row{
		{row("1.0", "x", "1"), row(null, null, "2")},
		{row("1.00", "x", "3"), row("2.5", "x", "4"), row(null, null, "5")},
		{row("1", "x", "6"), row("1", "y", "7"), row("2.50", "x", "8")},
	}
	// Column 2 is a helper column and must not make rows distinct.
	spec := &Spec{Distinct: true, OrderBy: []SortKey{{Col: 0}, {Col: 1}}, Limit: -1, Output: 2}
	// PG 15.18: SELECT DISTINCT over (1.0),(1.00),(1),(NULL),(NULL) gives
	// one 1-row (first representation seen) and one NULL.
	got := join(strs(mustMerge(t, cols, parts, spec)))
	if want := "1.0|x\n1|y\n2.5|x\nNULL|NULL\n"; got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// GROUP BY without aggregates is a DISTINCT on the key.
	spec = &Spec{GroupBy: []int{0}, OrderBy: []SortKey{{Col: 0, Desc: true, NullsFirst: true}}, Limit: -1, Output: 1}
	got = join(strs(mustMerge(t, cols, parts, spec)))
	if want := "NULL\n2.5\n1.0\n"; got != want {
		t.Fatalf("GROUP BY got\n%s\nwant\n%s", got, want)
	}
}
