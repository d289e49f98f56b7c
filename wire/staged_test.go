package wire

import (
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// TestStageText: a staged subquery's rows written as SQL for their place,
// typed by the columns' built-in types, quotes doubled, NULLs kept, and
// an empty result still of the right type and width.
func TestStageText(t *testing.T) {
	cols := []pgproto3.FieldDescription{
		{Name: []byte("id"), DataTypeOID: pgtype.Int8OID},
		{Name: []byte(`na"me`), DataTypeOID: pgtype.TextOID},
		{Name: []byte("c"), DataTypeOID: pgtype.QCharOID},
	}
	rows := []merge.Row{{[]byte("1"), []byte("O'Brien"), []byte("x")}, {[]byte("2"), nil, nil}}
	for _, tc := range []struct {
		form router.StageForm
		cols []pgproto3.FieldDescription
		rows []merge.Row
		want string
	}{
		{router.StageRows, cols, rows, `(VALUES ('1'::pg_catalog."int8", 'O''Brien'::pg_catalog."text", 'x'::pg_catalog."char"), ` +
			`('2'::pg_catalog."int8", NULL::pg_catalog."text", NULL::pg_catalog."char")) AS pgshard_stage_3("id", "na""me", "c")`},
		{router.StageRows, cols[:2], nil, `(SELECT NULL::pg_catalog."int8", NULL::pg_catalog."text" WHERE false) AS pgshard_stage_3("id", "na""me")`},
		{router.StageValue, cols[1:2], []merge.Row{{[]byte("it's")}}, `('it''s'::pg_catalog."text")`},
		{router.StageValue, cols[:1], nil, `(NULL::pg_catalog."int8")`},
		{router.StageArray, cols[:1], []merge.Row{{[]byte("7")}, {nil}}, `ARRAY['7'::pg_catalog."int8", NULL::pg_catalog."int8"]::pg_catalog."int8"[]`},
		{router.StageArray, cols[:1], nil, `'{}'::pg_catalog."int8"[]`},
		{router.StageExists, cols[:1], rows[:1], `true`},
		{router.StageExists, cols[:1], nil, `false`},
	} {
		got, pe := stageText(3, tc.form, false, tc.cols, nil, tc.rows)
		if pe != nil || got != tc.want {
			t.Errorf("%s: got %s (%v)\nwant %s", tc.form, got, pe, tc.want)
		}
	}
}

// TestStageTextRefusals: results that do not fit their place get
// PostgreSQL's errors; types pgshard cannot name, and results past
// maxStagedBytes, are refused.
func TestStageTextRefusals(t *testing.T) {
	one := []pgproto3.FieldDescription{{Name: []byte("id"), DataTypeOID: pgtype.Int8OID}}
	two := append(one, pgproto3.FieldDescription{Name: []byte("x"), DataTypeOID: pgtype.Int8OID})
	big := make([]merge.Row, maxStagedBytes/8)
	for i := range big {
		big[i] = merge.Row{[]byte("12345678")}
	}
	for _, tc := range []struct {
		name string
		form router.StageForm
		cols []pgproto3.FieldDescription
		rows []merge.Row
		code string
	}{
		{"two rows as a value", router.StageValue, one, []merge.Row{{[]byte("1")}, {[]byte("2")}}, "21000"},
		{"two columns as a value", router.StageValue, two, nil, "42601"},
		{"two columns in IN", router.StageArray, two, nil, "42601"},
		{"a user type", router.StageRows, []pgproto3.FieldDescription{{Name: []byte("e"), DataTypeOID: 90000}}, nil, "0A000"},
		{"an array in IN", router.StageArray, []pgproto3.FieldDescription{{Name: []byte("a"), DataTypeOID: pgtype.Int8ArrayOID}}, nil, "0A000"},
		{"too large", router.StageArray, one, big, "0A000"},
	} {
		_, pe := stageText(0, tc.form, false, tc.cols, nil, tc.rows)
		if pe == nil || pe.Code != tc.code {
			t.Errorf("%s: got %v, want SQLSTATE %s", tc.name, pe, tc.code)
		}
		if pe != nil && tc.name == "too large" && !strings.Contains(pe.Message, "KiB") {
			t.Errorf("too large: %s", pe.Message)
		}
	}
}

// TestTranscodeConcurrently: sessions convert values between text and
// binary at once (binary cursors, ordering on a shard); pgtype maps
// memoize their plans, so each conversion borrows its own (run with
// -race). Each value comes back as it went.
func TestTranscodeConcurrently(t *testing.T) {
	values := []struct {
		oid  uint32
		text string
	}{
		{pgtype.Int8OID, "-42"},
		{pgtype.NumericOID, "12345.678"},
		{pgtype.TimestamptzOID, "2025-06-15 18:20:00Z"},
		{pgtype.TextArrayOID, `{a,"b c",NULL}`},
		{pgtype.Float8OID, "0.1"},
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				v := values[(g+i)%len(values)]
				bin, err := textToBinary(v.oid, []byte(v.text))
				if err != nil {
					t.Errorf("%d %s: %v", v.oid, v.text, err)
					return
				}
				text, err := textOf(v.oid, pgtype.BinaryFormatCode, bin)
				if err != nil {
					t.Errorf("%d %s back: %v", v.oid, v.text, err)
					return
				}
				again, err := textToBinary(v.oid, text)
				if err != nil || string(again) != string(bin) {
					t.Errorf("%d %s: came back as %s", v.oid, v.text, text)
					return
				}
			}
		}()
	}
	wg.Wait()
}
