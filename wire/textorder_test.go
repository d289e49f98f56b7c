package wire

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router/merge"
)

func TestCollatedColumnsDecide(t *testing.T) {
	some, err := parseCollatedColumns([]string{"16390 2", "16401 1"})
	if err != nil {
		t.Fatal(err)
	}
	none, err := parseCollatedColumns(nil)
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, maxCollatedColumns+1)
	for i := range many {
		many[i] = "20000 1"
	}
	all, err := parseCollatedColumns(many)
	if err != nil {
		t.Fatal(err)
	}
	column := func(rel uint32, att uint16) *pgproto3.FieldDescription {
		return &pgproto3.FieldDescription{TableOID: rel, TableAttributeNumber: att}
	}
	for _, tc := range []struct {
		name  string
		facts *collatedColumns
		field *pgproto3.FieldDescription
		want  merge.Collation
	}{
		{"not learnt yet", nil, column(16390, 2), merge.CollateDefault},
		{"no collated column anywhere", none, column(0, 0), merge.CollateDefault},
		{"a collated column", some, column(16390, 2), merge.CollateNamed},
		{"another column of its table", some, column(16390, 1), merge.CollateDefault},
		{"an expression", some, column(0, 0), merge.CollateUnknown},
		{"too many to list", all, column(16390, 1), merge.CollateNamed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.facts.collationOf(tc.field); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"16390", "x 1", "16390 -1", "16390 70000"} {
		if _, err := parseCollatedColumns([]string{bad}); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}
