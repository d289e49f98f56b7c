package wire

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
)

// TestCursorFetch walks a five-row cursor through FETCH and MOVE forms;
// the expected answers are PostgreSQL's (the integration test compares the
// same forms with a real server).
func TestCursorFetch(t *testing.T) {
	newCursor := func(scroll bool) *vcursor {
		c := &vcursor{scroll: scroll}
		for i := 1; i <= 5; i++ {
			c.rows = append(c.rows, merge.Row{[]byte(fmt.Sprint(i))})
		}
		return c
	}
	for _, tc := range []struct {
		scroll bool
		steps  []string // statement => rows fetched (or MOVE count), "!" for the NO SCROLL error
	}{
		{true, []string{
			"FETCH 2 FROM c => 1 2", "FETCH NEXT FROM c => 3", "FETCH PRIOR FROM c => 2", "FETCH 0 FROM c => 2",
			"FETCH LAST FROM c => 5", "FETCH NEXT FROM c => ", "FETCH PRIOR FROM c => 5", "FETCH ABSOLUTE -2 FROM c => 4",
			"FETCH RELATIVE -10 FROM c => ", "FETCH 0 FROM c => ", "FETCH NEXT FROM c => 1", "FETCH ALL FROM c => 2 3 4 5",
			"FETCH BACKWARD 2 FROM c => 5 4", "FETCH -10 FROM c => 3 2 1", "MOVE ALL IN c => 5", "MOVE BACKWARD 2 IN c => 2",
			"MOVE ABSOLUTE 9 IN c => 0", "FETCH ABSOLUTE 0 FROM c => ", "FETCH RELATIVE 3 FROM c => 3", "MOVE 0 IN c => 1",
		}},
		{false, []string{
			"FETCH ABSOLUTE 0 FROM c => ", "FETCH ABSOLUTE 2 FROM c => 2", "MOVE 0 IN c => 1", "FETCH 0 FROM c => !",
		}},
		{false, []string{"FETCH 2 FROM c => 1 2", "FETCH ABSOLUTE 2 FROM c => !"}},
		{false, []string{"FETCH 2 FROM c => 1 2", "FETCH ABSOLUTE 4 FROM c => 4", "FETCH LAST FROM c => !"}},
		{false, []string{"FETCH ALL FROM c => 1 2 3 4 5", "FETCH BACKWARD 1 FROM c => !"}},
		{false, []string{"FETCH 1 FROM c => 1", "FETCH RELATIVE -1 FROM c => !"}},
	} {
		c := newCursor(tc.scroll)
		for _, step := range tc.steps {
			stmt, want, _ := strings.Cut(step, " => ")
			op, ok := router.ParseCursorOp(stmt)
			if !ok {
				t.Fatalf("%s: not a cursor statement", stmt)
			}
			f, pe := c.fetch(op)
			var got string
			switch {
			case pe != nil:
				got = "!"
			case op.Move:
				got = fmt.Sprint(f.moved)
			default:
				var vals []string
				for _, r := range f.rows {
					vals = append(vals, string(r[0]))
				}
				got = strings.Join(vals, " ")
			}
			if got != want {
				t.Fatalf("scroll=%v, %s: got %q, want %q", tc.scroll, stmt, got, want)
			}
			if pe != nil {
				break
			}
		}
	}
}
