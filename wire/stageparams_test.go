package wire

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// TestArrayTextReadsBack: every value, whatever its bytes, reads back from
// the array literal as itself, and NULL as NULL (not the text "NULL").
func TestArrayTextReadsBack(t *testing.T) {
	values := []*string{ptr("plain"), ptr(""), ptr("NULL"), nil, ptr(`say "hi"`), ptr(`back\slash`), ptr("{braces},commas"), ptr("  spaces  "), ptr("multi\nline"), ptr("é ✓")}
	rows := make([]merge.Row, len(values))
	for i, v := range values {
		rows[i] = merge.Row{nil}
		if v != nil {
			rows[i][0] = []byte(*v)
		}
	}
	var got []*string
	if err := pgtype.NewMap().Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, arrayText(rows, 0), &got); err != nil {
		t.Fatalf("%s: %v", arrayText(rows, 0), err)
	}
	if !slices.EqualFunc(got, values, func(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }) {
		t.Errorf("read back %q from %s", deref(got), arrayText(rows, 0))
	}
}

// TestParamStageForms: what each form puts in the statement, and the forms
// and types left to constants.
func TestParamStageForms(t *testing.T) {
	col := func(name string, oid uint32) pgproto3.FieldDescription {
		return pgproto3.FieldDescription{Name: []byte(name), DataTypeOID: oid}
	}
	two := []pgproto3.FieldDescription{col("k", pgtype.Int8OID), col("name", pgtype.TextOID)}
	rows := []merge.Row{{[]byte("1"), []byte("a")}, {[]byte("2"), nil}}
	for _, c := range []struct {
		name   string
		form   router.StageForm
		cols   []pgproto3.FieldDescription
		rows   []merge.Row
		sql    string
		params []string
	}{
		{"rows", router.StageRows, two, rows,
			`ROWS FROM (pg_catalog.unnest($3::pg_catalog."int8"[]), pg_catalog.unnest($4::pg_catalog."text"[])) AS pgshard_stage_1("k", "name")`,
			[]string{`{"1","2"}`, `{"a",NULL}`}},
		{"no rows", router.StageRows, two[:1], nil,
			`ROWS FROM (pg_catalog.unnest($3::pg_catalog."int8"[])) AS pgshard_stage_1("k")`, []string{`{}`}},
		{"array", router.StageArray, two[:1], rows[:1], `$3::pg_catalog."int8"[]`, []string{`{"1"}`}},
		{"value", router.StageValue, two[:1], rows[:1], `($3::pg_catalog."int8")`, []string{`1`}},
		{"no value", router.StageValue, two[:1], nil, `($3::pg_catalog."int8")`, []string{"<nil>"}},
		{"exists: constants", router.StageExists, two[:1], rows, "", nil},
		{"array column: constants", router.StageRows, []pgproto3.FieldDescription{col("a", pgtype.Int4ArrayOID)}, nil, "", nil},
		{"box: constants", router.StageRows, []pgproto3.FieldDescription{col("b", boxOID)}, nil, "", nil},
		{"no columns: constants", router.StageRows, nil, []merge.Row{{}}, "", nil},
	} {
		sql, params, ok, pe := paramStage(1, c.form, false, c.cols, nil, c.rows, 3)
		if pe != nil {
			t.Fatalf("%s: %v", c.name, pe)
		}
		var got []string
		for _, p := range params {
			if p == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, string(p))
			}
		}
		if ok != (c.sql != "") || sql != c.sql || !slices.Equal(got, c.params) {
			t.Errorf("%s: %v %q %q, want %q %q", c.name, ok, sql, got, c.sql, c.params)
		}
	}
	if _, _, _, pe := paramStage(0, router.StageValue, false, two[:1], nil, rows, 1); pe == nil || pe.Code != "21000" {
		t.Errorf("two rows for a value: %v, want 21000", pe)
	}
}

func ptr(s string) *string { return &s }

func deref(ss []*string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		if s == nil {
			out[i] = "<NULL>"
		} else {
			out[i] = *s
		}
	}
	return out
}
