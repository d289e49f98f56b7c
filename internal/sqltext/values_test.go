package sqltext

import (
	"slices"
	"testing"
)

// TestValuesRows: the rows of an INSERT's top-level VALUES list, and of
// the first VALUES list at any depth (a MERGE's USING (VALUES ...)), as
// the text of each row; strings, comments and nested parentheses do not
// end a row early or start a list.
func TestValuesRows(t *testing.T) {
	for _, c := range []struct {
		sql        string
		top, first []string // nil: none found
	}{
		{"INSERT INTO t VALUES (1, 'a'), (2, '(b')", []string{"(1, 'a')", "(2, '(b')"}, []string{"(1, 'a')", "(2, '(b')"}},
		{"INSERT INTO t (a) /* values (9) */ VALUES ((1 + 2)) RETURNING a", []string{"((1 + 2))"}, []string{"((1 + 2))"}},
		{"WITH x AS (VALUES (7)) INSERT INTO t SELECT * FROM x", nil, []string{"(7)"}},
		{"MERGE INTO t USING (VALUES (1, 'x'), ($2, 'values (3)')) s(k, v) ON t.k = s.k WHEN NOT MATCHED THEN INSERT VALUES (s.k, s.v)",
			[]string{"(s.k, s.v)"}, []string{"(1, 'x')", "($2, 'values (3)')"}},
		{`MERGE INTO "values" t USING (SELECT 1 AS k) s ON t.k = s.k WHEN MATCHED THEN DELETE`, nil, nil},
	} {
		for _, f := range []struct {
			name string
			fn   func(string) ([][2]int, bool)
			want []string
		}{{"ValuesRows", ValuesRows, c.top}, {"FirstValuesRows", FirstValuesRows, c.first}} {
			rows, ok := f.fn(c.sql)
			var got []string
			for _, r := range rows {
				got = append(got, c.sql[r[0]:r[1]])
			}
			if ok != (f.want != nil) || !slices.Equal(got, f.want) {
				t.Errorf("%s(%s) = %q, %v; want %q", f.name, c.sql, got, ok, f.want)
			}
		}
	}
}

func TestHighestParam(t *testing.T) {
	for q, want := range map[string]int{
		`SELECT 1`:        0,
		`SELECT $1, $3`:   3,
		`SELECT $12 + $2`: 12,
		`SELECT '$9', "$8", $$ $7 $$, $t$ $6 $t$`: 0,
		`SELECT 1 -- $5` + "\n" + `/* $4 */ , $2`: 2,
		`SELECT foo$3, $1`:                        1,
		`SELECT E'\' $4', $1`:                     1,
	} {
		if got := HighestParam(q); got != want {
			t.Errorf("HighestParam(%q) = %d, want %d", q, got, want)
		}
	}
}
