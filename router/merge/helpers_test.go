package merge

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

const null = "\x00NULL" // sentinel for SQL NULL in test tables

var testMap = pgtype.NewMap()

// row builds a text-format Row; null is SQL NULL.
func row(fields ...string) Row {
	r := make(Row, len(fields))
	for i, f := range fields {
		if f != null {
			r[i] = []byte(f)
		}
	}
	return r
}

// toBinary re-encodes a text value in the binary format with pgtype, the
// way a shard would send it when asked for binary results.
func toBinary(t testing.TB, oid uint32, text string) []byte {
	t.Helper()
	if text == null {
		return nil
	}
	typ, ok := testMap.TypeForOID(oid)
	if !ok {
		t.Fatalf("no pgtype for oid %d", oid)
	}
	var v any
	var err error
	// The infinity-capable types only encode from their pgtype structs.
	switch oid {
	case oidTimestamp:
		var x pgtype.Timestamp
		err = testMap.Scan(oid, 0, []byte(text), &x)
		v = x
	case oidTimestamptz:
		var x pgtype.Timestamptz
		err = testMap.Scan(oid, 0, []byte(text), &x)
		v = x
	case oidDate:
		var x pgtype.Date
		err = testMap.Scan(oid, 0, []byte(text), &x)
		v = x
	default:
		v, err = typ.Codec.DecodeValue(testMap, oid, 0, []byte(text))
	}
	if err != nil {
		t.Fatalf("decode %q as %d: %v", text, oid, err)
	}
	b, err := testMap.Encode(oid, 1, v, nil)
	if err != nil {
		t.Fatalf("encode %q as %d: %v", text, oid, err)
	}
	if b == nil {
		b = []byte{} // an empty value, not NULL
	}
	return b
}

func strs(rows []Row) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, f := range r {
			if f == nil {
				out[i][j] = "NULL"
			} else {
				out[i][j] = string(f)
			}
		}
	}
	return out
}

func join(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(r, "|"))
		b.WriteString("\n")
	}
	return b.String()
}

func mustMerge(t *testing.T, cols []Column, parts [][]Row, spec *Spec) []Row {
	t.Helper()
	out, err := Merge(cols, parts, spec)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	return out
}

func mergeErr(t *testing.T, cols []Column, parts [][]Row, spec *Spec) *Error {
	t.Helper()
	_, err := Merge(cols, parts, spec)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Merge error = %v, want *Error", err)
	}
	return e
}

func textCols(oids ...uint32) []Column {
	cols := make([]Column, len(oids))
	for i, o := range oids {
		cols[i] = Column{Name: "c", TypeOID: o}
	}
	return cols
}
