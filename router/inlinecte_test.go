package router

import (
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// TestInlineCTEs: a write's read-only CTEs referenced once become derived
// tables, in order (one may read an earlier one), keeping their column
// names; the others are left to the refusal.
func TestInlineCTEs(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "": not inlined
	}{
		{"WITH x AS (SELECT k FROM a) DELETE FROM b WHERE k IN (SELECT k FROM x)",
			"DELETE FROM b WHERE k IN (SELECT k FROM (SELECT k FROM a) x)"},
		{"WITH x(id) AS (SELECT k FROM a), y AS (SELECT id FROM x AS xx) UPDATE b SET v = 1 WHERE k IN (SELECT id FROM y)",
			"UPDATE b SET v = 1 WHERE k IN (SELECT id FROM (SELECT id FROM (SELECT k FROM a) xx(id)) y)"},
		{"WITH x AS NOT MATERIALIZED (SELECT 1 AS k) DELETE FROM b USING x WHERE b.k = x.k",
			"DELETE FROM b USING (SELECT 1 AS k) x WHERE b.k = x.k"},
		{"WITH x AS MATERIALIZED (SELECT k FROM a) DELETE FROM b WHERE k IN (SELECT k FROM x)", ""},
		{"WITH x AS (SELECT k FROM a) DELETE FROM b WHERE k IN (SELECT k FROM x) OR k IN (SELECT k FROM x)", ""},
		{"WITH x AS (SELECT k FROM a) DELETE FROM b WHERE v = 1", ""},
		{"WITH x AS (DELETE FROM a RETURNING k) DELETE FROM b WHERE k IN (SELECT k FROM x)", ""},
		{"WITH RECURSIVE x AS (SELECT 1 AS k) DELETE FROM b WHERE k IN (SELECT k FROM x)", ""},
		{"WITH x AS (SELECT k FROM a) DELETE FROM b WHERE k IN (WITH x AS (SELECT 2 AS k) SELECT k FROM x)", ""},
	} {
		tree, err := pg.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		root := tree.Stmts[0].Stmt
		var w **pg.WithClause
		if u := root.GetUpdateStmt(); u != nil {
			w = &u.WithClause
		} else {
			w = &root.GetDeleteStmt().WithClause
		}
		ok := inlineCTEs(root, w)
		if !ok {
			if tc.want != "" {
				t.Errorf("%s: not inlined, want %s", tc.in, tc.want)
			}
			continue
		}
		got, err := pg.Deparse(tree)
		if err != nil || got != tc.want {
			t.Errorf("%s:\n got  %s (%v)\n want %s", tc.in, got, err, tc.want)
		}
	}
}
