package wire

import (
	"testing"

	"github.com/pgshard/pgshard/router"
)

// TestCopyKeyFields: a generated key, or the key column's name in a
// header, is written as a field of the COPY's own format: quoted in CSV
// when it holds the delimiter, the quote or the NULL string; in text format
// refused when it holds the delimiter, which a key of digits, hex letters
// and '-' can hold only under an odd delimiter.
func TestCopyKeyFields(t *testing.T) {
	text := &router.CopyIn{Delim: '\t', Null: `\N`}
	csv := &router.CopyIn{CSV: true, Delim: ',', Quote: '"', Escape: '"'}
	odd := &router.CopyIn{CSV: true, Delim: ';', Quote: '\'', Escape: '\\', Null: "42"}
	dash := &router.CopyIn{Delim: '-', Null: `\N`}
	for _, c := range []struct {
		ci      *router.CopyIn
		in, out string
	}{
		{text, "42", "42"},
		{text, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
		{csv, "user_id", "user_id"},
		{csv, "a,b", `"a,b"`},
		{csv, `say "hi"`, `"say ""hi"""`},
		{odd, "42", `'42'`}, // the NULL string, quoted to stay a value
		{odd, "it's", `'it\'s'`},
		{dash, "6ba7b810-9dad", ""}, // refused
	} {
		got, pe := (&copyKeys{ci: c.ci}).field(c.in)
		if c.out == "" {
			if pe == nil {
				t.Errorf("%q with delimiter %q: %q, want it refused", c.in, c.ci.Delim, got)
			}
			continue
		}
		if pe != nil || string(got) != c.out {
			t.Errorf("%q with delimiter %q: %q (%v), want %q", c.in, c.ci.Delim, got, pe, c.out)
		}
	}
}
