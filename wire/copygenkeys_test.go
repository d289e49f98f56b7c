package wire

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

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

// TestCopyKeyBinaryTuples: in a binary COPY the key goes first in each
// tuple, in the binary form of the key column's type, and the field count
// grows by one; a type pgshard does not write is refused.
func TestCopyKeyBinaryTuples(t *testing.T) {
	k := &copyKeys{ci: &router.CopyIn{Binary: true, Table: &router.Table{Name: "users", Key: "user_id"}}}
	tuple := binaryTupleBytes([][]byte{[]byte("ada"), nil})
	for _, c := range []struct {
		key  string
		typ  uint32
		want []byte // the key's field value; nil: refused
	}{
		{"258", pgtype.Int8OID, []byte{0, 0, 0, 0, 0, 0, 1, 2}},
		{"258", pgtype.Int4OID, []byte{0, 0, 1, 2}},
		{"-2", pgtype.Int2OID, []byte{0xff, 0xfe}},
		{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", pgtype.UUIDOID, []byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}},
		{"k-1", pgtype.TextOID, []byte("k-1")},
		{"1.5", pgtype.NumericOID, nil},
	} {
		got, pe := k.binaryTuple(c.key, c.typ, tuple)
		if c.want == nil {
			if pe == nil {
				t.Errorf("%s as OID %d: %x, want it refused", c.key, c.typ, got)
			}
			continue
		}
		if want := binaryTupleBytes([][]byte{c.want, []byte("ada"), nil}); pe != nil || !bytes.Equal(got, want) {
			t.Errorf("%s as OID %d: %x (%v), want %x", c.key, c.typ, got, pe, want)
		}
	}
}
