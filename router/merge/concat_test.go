package merge

import (
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestConcatArrays joins array_agg partials in both formats: text lists,
// and binary arrays of one and two dimensions (encoded and decoded with
// pgx, as a shard and a client would).
func TestConcatArrays(t *testing.T) {
	if got, err := joinBracketed([][]byte{[]byte("{1,2}"), []byte("{3}")}, '{', '}', ","); err != nil || string(got) != "{1,2,3}" {
		t.Fatalf("text arrays: %q %v", got, err)
	}
	if got, err := joinBracketed([][]byte{[]byte(`[1, "a"]`), []byte(`[{"b": 2}]`)}, '[', ']', ", "); err != nil || string(got) != `[1, "a", {"b": 2}]` {
		t.Fatalf("json arrays: %q %v", got, err)
	}
	enc := func(v any) []byte {
		b, err := testMap.Encode(pgtype.Int4ArrayOID, pgtype.BinaryFormatCode, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	got, err := concatBinaryArrays([][]byte{enc([]int32{1, 2}), enc([]int32{}), enc([]int32{3})})
	if err != nil {
		t.Fatal(err)
	}
	var one []int32
	if err := testMap.Scan(pgtype.Int4ArrayOID, pgtype.BinaryFormatCode, got, &one); err != nil || !slices.Equal(one, []int32{1, 2, 3}) {
		t.Fatalf("one dimension: %v %v", one, err)
	}
	got, err = concatBinaryArrays([][]byte{enc([][]int32{{1, 2}}), enc([][]int32{{3, 4}, {5, 6}})})
	if err != nil {
		t.Fatal(err)
	}
	var two [][]int32
	if err := testMap.Scan(pgtype.Int4ArrayOID, pgtype.BinaryFormatCode, got, &two); err != nil || len(two) != 3 || !slices.Equal(two[2], []int32{5, 6}) {
		t.Fatalf("two dimensions: %v %v", two, err)
	}
	if _, err := concatBinaryArrays([][]byte{enc([][]int32{{1, 2}}), enc([][]int32{{3}})}); err == nil {
		t.Fatal("arrays of different shapes joined")
	}
}
