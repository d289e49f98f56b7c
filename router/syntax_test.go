package router

import "testing"

// A statement libpg_query rejects is answered the way Postgres answers it:
// 42601 with the cursor position of the error in that statement's text
// (characters, from 1). Statements of one normalized form share a plan, so
// the test runs two whose literals differ in length before the error: each
// must get its own position, not the one cached for the other.
func TestSyntaxErrorPosition(t *testing.T) {
	r := testRouter(t)
	for _, tc := range []struct {
		q    string
		at   int // Statement.At of the failing statement
		want int
	}{
		{"SELEC 1", 0, 1},
		{"SELECT 'h' FRM users", 0, 16},
		{"SELECT 'hééé' FRM users", 0, 19},         // same normalized form, longer literal
		{"SELECT 'h' FRM users", 0, 16},            // and back: not the cached 19
		{"SELECT 1; SELECT 'é' FRM users", 10, 16}, // counted within the statement
	} {
		stmts := r.Simple(tc.q)
		st := stmts[len(stmts)-1]
		e := st.Route.Err
		if e == nil || e.Code != codeSyntax {
			t.Errorf("%q: error %v, want %s", tc.q, e, codeSyntax)
			continue
		}
		if e.Position != tc.want || st.At != tc.at {
			t.Errorf("%q: position %d in the statement at %d, want %d at %d", tc.q, e.Position, st.At, tc.want, tc.at)
		}
	}
	if e := r.Prepare("SELECT $1 FRM users").Err; e == nil || e.Position != 15 {
		t.Errorf("Prepare: error %v at %d, want position 15", e, e.Position)
	}
}
