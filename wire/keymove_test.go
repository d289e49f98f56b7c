package wire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// TestMoveInsert: the INSERT of a move writes the new key in the key
// column, leaves generated columns to the server, passes built-in types
// in binary with their OIDs and others as text of no declared type, and
// takes at most 65,535 parameters, saying how many rows it took.
func TestMoveInsert(t *testing.T) {
	mv := &router.KeyMove{To: 1, MoveForm: &router.MoveForm{
		Table:    &router.Table{Name: "orders", Key: "user_id", KeyType: shard.KeyInt},
		Relation: `"orders"`, Alias: "o", Returning: "o.user_id"}}
	cols := []moveColumn{{name: "user_id", oid: 20}, {name: "mood", oid: 16500}, {name: "total", oid: 23, generated: true}, {name: "Note", oid: 25}}
	row := func(i int) merge.Row {
		return merge.Row{[]byte("16400"), []byte("(0,1)"), []byte{0, 0, 0, 0, 0, 0, 0, 9}, []byte("old key"), []byte("high"), []byte("gen"), []byte{byte(i)}}
	}
	rows := make([]merge.Row, 30000)
	for i := range rows {
		rows[i] = row(i)
	}
	j := &multiJob{bind: &pgproto3.Bind{ResultFormatCodes: []int16{1}}}
	sql, b, oids, n := moveInsert(mv, cols, rows, j)
	if n != 65535/3 {
		t.Fatalf("took %d rows, want %d (65,535 parameters of 3 columns)", n, 65535/3)
	}
	if !strings.HasPrefix(sql, `INSERT INTO "orders" AS "o" ("user_id", "mood", "Note") OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3), ($4, $5, $6), `) ||
		!strings.HasSuffix(sql, `($65533, $65534, $65535) RETURNING o.user_id`) {
		t.Errorf("statement: %.120s ... %s", sql, sql[len(sql)-60:])
	}
	if len(b.Parameters) != 3*n || len(oids) != 3*n || len(b.ParameterFormatCodes) != 3*n {
		t.Fatalf("%d parameters, %d OIDs, %d formats for %d rows", len(b.Parameters), len(oids), len(b.ParameterFormatCodes), n)
	}
	if string(b.Parameters[0]) != string(row(0)[2]) || oids[0] != 20 || b.ParameterFormatCodes[0] != 1 {
		t.Errorf("key: %q (OID %d, format %d), want the new key in binary int8", b.Parameters[0], oids[0], b.ParameterFormatCodes[0])
	}
	if string(b.Parameters[1]) != "high" || oids[1] != 0 || b.ParameterFormatCodes[1] != 0 {
		t.Errorf("enum: %q (OID %d, format %d), want text of no declared type", b.Parameters[1], oids[1], b.ParameterFormatCodes[1])
	}
	if b.Parameters[2][0] != 0 || oids[2] != 25 || b.ParameterFormatCodes[2] != 1 {
		t.Errorf("text: %q (OID %d, format %d), want the column's value in binary", b.Parameters[2], oids[2], b.ParameterFormatCodes[2])
	}
	if len(b.ResultFormatCodes) != 1 || b.ResultFormatCodes[0] != 1 {
		t.Errorf("result formats %v, want the client's", b.ResultFormatCodes)
	}
	_, _, _, rest := moveInsert(mv, cols, rows[n:], j)
	if rest != len(rows)-n {
		t.Errorf("second statement took %d rows, want the %d left", rest, len(rows)-n)
	}
}

func TestTextArray(t *testing.T) {
	if got := string(textArray([]string{"(0,1)", `a"b\c`})); got != `{"(0,1)","a\"b\\c"}` {
		t.Errorf("textArray: %s", got)
	}
}
