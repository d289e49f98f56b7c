package wire

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router/merge"
)

func TestCollatedColumnsDecide(t *testing.T) {
	parse := func(rows ...string) *collatedColumns {
		t.Helper()
		c, err := parseCollatedColumns(rows)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	some := parse("nondeterministic false", "16390 2 false", "16401 1 false")
	none := parse("nondeterministic false")
	many := []string{"nondeterministic false"}
	for range maxCollatedColumns + 1 {
		many = append(many, "20000 1 false")
	}
	all := parse(many...)
	ci := parse("nondeterministic true", "16390 2 true", "16390 3 false")
	column := func(rel uint32, att uint16) *pgproto3.FieldDescription {
		return &pgproto3.FieldDescription{TableOID: rel, TableAttributeNumber: att}
	}
	for _, tc := range []struct {
		name   string
		facts  *collatedColumns
		field  *pgproto3.FieldDescription
		order  merge.Collation
		nondet bool
	}{
		{"not learnt yet", nil, column(16390, 2), merge.CollateDefault, false},
		{"no collated column anywhere", none, column(0, 0), merge.CollateDefault, false},
		{"a collated column", some, column(16390, 2), merge.CollateNamed, false},
		{"another column of its table", some, column(16390, 1), merge.CollateDefault, false},
		{"an expression", some, column(0, 0), merge.CollateUnknown, false},
		{"too many to list", all, column(16390, 1), merge.CollateNamed, false},
		{"a nondeterministic column", ci, column(16390, 2), merge.CollateNamed, true},
		{"a deterministic one beside it", ci, column(16390, 3), merge.CollateNamed, false},
		{"a column of the default collation", ci, column(16390, 1), merge.CollateDefault, false},
		{"an expression where a nondeterministic collation exists", ci, column(0, 0), merge.CollateUnknown, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.facts.collationOf(tc.field); got != tc.order {
				t.Errorf("order: got %v, want %v", got, tc.order)
			}
			if got := tc.facts.mayHoldUnequalBytesEqual(tc.field); got != tc.nondet {
				t.Errorf("nondeterministic: got %v, want %v", got, tc.nondet)
			}
		})
	}
	for _, bad := range []string{"16390", "16390 1", "x 1 false", "16390 -1 false", "16390 70000 false"} {
		if _, err := parseCollatedColumns([]string{bad}); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}
