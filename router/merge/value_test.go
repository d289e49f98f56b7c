package merge

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestDecodeErrorsSpeakPostgres: text that does not read as the column's
// type (a constant of the query, HAVING count(*) > 'x') fails as
// PostgreSQL fails it: 22P02 with its message.
func TestDecodeErrorsSpeakPostgres(t *testing.T) {
	m := pgtype.NewMap()
	for _, c := range []struct {
		oid  uint32
		text string
		want string
	}{
		{oidInt8, "x", `invalid input syntax for type bigint: "x"`},
		{oidInt4, "1.5", `invalid input syntax for type integer: "1.5"`},
		{oidDate, "someday", `invalid input syntax for type date: "someday"`},
		{oidInterval, "soon", `invalid input syntax for type interval: "soon"`},
	} {
		_, err := compileConst(m, Const{Text: c.text, TypeOID: c.oid}, c.oid)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidText || e.Message != c.want {
			t.Errorf("%d %q: %v, want 22P02 %s", c.oid, c.text, err, c.want)
		}
	}
}

// TestShardValuesInOtherStyles: a date, time, interval or bytea a shard
// wrote in a style the session chose (DateStyle German, IntervalStyle
// iso_8601, bytea_output escape) is refused with 0A000 naming the setting
// pgshard reads, not taken for a bad constant.
func TestShardValuesInOtherStyles(t *testing.T) {
	m := pgtype.NewMap()
	for _, c := range []struct {
		oid     uint32
		text    string
		setting string
	}{
		{oidDate, "16.11.2025", "DateStyle = ISO"},
		{oidTimestamptz, "Sun Nov 16 06:48:00 2025 UTC", "DateStyle = ISO"},
		{oidTimestamp, "11/16/2025 06:48:00", "DateStyle = ISO"},
		{oidInterval, "PT685H24M", "IntervalStyle = postgres"},
		{oidInterval, "@ 685 hours 24 mins", "IntervalStyle = postgres"},
		{oidBytea, `\000`, "bytea_output = hex"},
		{oidBytea, "abc", "bytea_output = hex"},
	} {
		dec, err := newDecoder(m, c.oid, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dec([]byte(c.text))
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeFeatureUnsupported || !strings.Contains(e.Message, c.setting) {
			t.Errorf("%s %q: %v, want 0A000 naming %s", typeName(c.oid), c.text, err, c.setting)
		}
	}
}
