package router

import (
	"slices"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// TestVisitFollowsDeclaredOrder: visit reaches a statement's parts in the
// order their fields are declared (a SELECT's select list, FROM, WHERE,
// GROUP BY, HAVING, ORDER BY), not in protobuf-go's Range order, which
// changes with the build; plans that depend on what is found first would
// change with it.
func TestVisitFollowsDeclaredOrder(t *testing.T) {
	tree, err := pg.Parse(`SELECT a.c1, f(a.c2) FROM t a JOIN u b ON b.c3 = a.c4 WHERE a.c5 > 1 GROUP BY a.c6 HAVING max(a.c7) > 0 ORDER BY a.c8`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	visit(tree.Stmts[0].Stmt, func(n *pg.Node) bool {
		if cr := n.GetColumnRef(); cr != nil {
			got = append(got, cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
		}
		return true
	})
	if want := []string{"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"}; !slices.Equal(got, want) {
		t.Errorf("columns visited in order %v, want %v", got, want)
	}
}
