package merge

import (
	"errors"
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
	} {
		dec, err := newDecoder(m, c.oid, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		_, err = dec([]byte(c.text))
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidText || e.Message != c.want {
			t.Errorf("%d %q: %v, want 22P02 %s", c.oid, c.text, err, c.want)
		}
	}
}
