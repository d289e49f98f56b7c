package router

import (
	"reflect"
	"strings"
	"testing"
)

func TestSQLPreparedOf(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	cases := []struct {
		stmt string
		want SQLPrepared
		ok   bool
	}{
		{"PREPARE Q(bigint) AS SELECT * FROM users WHERE user_id = $1", SQLPrepared{Kind: "PREPARE", Name: "q", Query: "SELECT * FROM users WHERE user_id = $1", OIDs: []uint32{oidInt8}}, true},
		{"PREPARE q(float8, real, pg_catalog.text, numeric(5,2), int[]) AS SELECT $1, $2, $3, $4, $5", SQLPrepared{Kind: "PREPARE", Name: "q",
			Query: "SELECT $1, $2, $3, $4, $5", OIDs: []uint32{oidFloat8, oidOther, oidText, oidOther, oidOther}}, true},
		{`prepare "Mixed" as insert into t values ($1)`, SQLPrepared{Kind: "PREPARE", Name: "Mixed", Query: "INSERT INTO t VALUES ($1)"}, true},
		{"EXECUTE q(5, 'x', -2.5, true, NULL, '7'::bigint)", SQLPrepared{Kind: "EXECUTE", Name: "q", Constant: true,
			Params: [][]byte{b("5"), b("x"), b("-2.5"), b("true"), nil, b("7")}}, true},
		{"EXECUTE q", SQLPrepared{Kind: "EXECUTE", Name: "q", Constant: true}, true},
		{"EXECUTE q(now())", SQLPrepared{Kind: "EXECUTE", Name: "q"}, true},
		{"EXECUTE q(1 + 1)", SQLPrepared{Kind: "EXECUTE", Name: "q"}, true},
		{"EXECUTE q(B'101')", SQLPrepared{Kind: "EXECUTE", Name: "q"}, true},
		{"DEALLOCATE q", SQLPrepared{Kind: "DEALLOCATE", Name: "q"}, true},
		{"DEALLOCATE PREPARE q", SQLPrepared{Kind: "DEALLOCATE", Name: "q"}, true},
		{"DEALLOCATE ALL", SQLPrepared{}, false},
		{"PREPARE q AS SELECT 1; EXECUTE q", SQLPrepared{}, false},
		{"PREPARE q AS", SQLPrepared{}, false},
		{"SELECT 1", SQLPrepared{}, false},
		{"EXECUTE q(" + strings.Repeat("1 + ", 30000) + "1)", SQLPrepared{}, false},
	}
	for _, c := range cases {
		got, ok := SQLPreparedOf(c.stmt)
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%.60s:\n got %+v %v\nwant %+v %v", c.stmt, got, ok, c.want, c.ok)
		}
	}
}
