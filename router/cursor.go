package router

import (
	"math"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// A cursor over rows of several shards cannot live on any one server: the
// wire layer runs its query once, merged, at DECLARE (a cursor's rows are
// fixed at DECLARE anyway), and answers FETCH, MOVE and CLOSE itself.

// Cursor is a DECLARE whose query needs several shards.
type Cursor struct {
	Name   string
	Scroll bool // backward fetches allowed (not declared NO SCROLL)
	Hold   bool // WITH HOLD: survives the transaction's commit
	Binary bool
}

// Cursor options, as PostgreSQL's parsenodes.h numbers them.
const (
	cursorOptBinary   = 0x0001
	cursorOptNoScroll = 0x0004
	cursorOptHold     = 0x0020
)

// declarePlan plans DECLARE CURSOR: on the shard its query needs, or, when
// that query may need several, as a cursor pgshard holds.
func (s *Schema) declarePlan(d *pg.DeclareCursorStmt, lits []sqltext.Literal, version int32, views map[string]*pg.Node) *Plan {
	inner := s.buildThrough(d.Query, lits, version, views)
	c := &Cursor{Name: d.Portalname, Scroll: d.Options&cursorOptNoScroll == 0,
		Hold: d.Options&cursorOptHold != 0, Binary: d.Options&cursorOptBinary != 0}
	switch {
	case inner.Kind == KindRefuse:
		return inner
	case inner.Kind == KindScatter || inner.Kind == KindShard && len(inner.Class) == 1 && manyKeys(inner.Class[0]):
		return &Plan{Kind: KindCursor, Command: "DECLARE", Read: inner.Read, Tables: inner.Tables, Exact: inner.Exact, Cursor: c, through: inner.through}
	}
	// The server's own cursor; Cursor still describes it, for a pool mode
	// where the server connection does not outlive the transaction but a
	// WITH HOLD cursor must (the wire layer holds such a cursor itself).
	return &Plan{Kind: inner.Kind, Class: inner.Class, Exact: inner.Exact, mergeErr: "pgshard: cannot merge a cursor across shards", calls: inner.calls, through: inner.through, Cursor: c}
}

// manyKeys says whether a pin may name keys on several shards.
func manyKeys(p Pin) bool {
	return len(p.Values) > 1 || len(p.Values) == 1 && p.Values[0].Array
}

// CursorQuery returns the query of a DECLARE statement: the text after the
// first FOR that follows the word CURSOR.
func CursorQuery(stmt string) (string, bool) {
	sawCursor := false
	for i := 0; i < len(stmt); {
		j := sqltext.SkipToken(stmt, i)
		word := stmt[i:j]
		switch {
		case strings.EqualFold(word, "cursor"):
			sawCursor = true
		case sawCursor && strings.EqualFold(word, "for"):
			q := strings.TrimSpace(stmt[j:])
			return q, q != ""
		}
		i = j
	}
	return "", false
}

// CursorOp is a FETCH, MOVE or CLOSE.
type CursorOp struct {
	Name string // "" with Close: CLOSE ALL
	// Close is CLOSE; otherwise a FETCH, or a MOVE when Move.
	Close, Move bool
	Dir         FetchDir
	Count       int64 // FetchAll for ALL
}

// FetchDir is a FETCH's direction, as PostgreSQL reduces them: NEXT is
// FORWARD 1, PRIOR BACKWARD 1, FIRST ABSOLUTE 1, LAST ABSOLUTE -1.
type FetchDir uint8

const (
	FetchForward FetchDir = iota
	FetchBackward
	FetchAbsolute
	FetchRelative
)

// FetchAll is the count of FETCH ALL.
const FetchAll = math.MaxInt64

// ParseCursorOp parses a FETCH, MOVE or CLOSE statement; false for any
// other statement. It parses afresh on every call: it runs only for
// sessions that hold a cursor, on statements that start with those words.
func ParseCursorOp(stmt string) (*CursorOp, bool) {
	if tooComplex(stmt) != "" {
		return nil, false
	}
	tree, err := pg.Parse(stmt)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	n := tree.Stmts[0].Stmt
	if c := n.GetClosePortalStmt(); c != nil {
		return &CursorOp{Name: c.Portalname, Close: true}, true
	}
	f := n.GetFetchStmt()
	if f == nil {
		return nil, false
	}
	op := &CursorOp{Name: f.Portalname, Move: f.Ismove, Count: f.HowMany}
	switch f.Direction {
	case pg.FetchDirection_FETCH_FORWARD:
		op.Dir = FetchForward
	case pg.FetchDirection_FETCH_BACKWARD:
		op.Dir = FetchBackward
	case pg.FetchDirection_FETCH_ABSOLUTE:
		op.Dir = FetchAbsolute
	case pg.FetchDirection_FETCH_RELATIVE:
		op.Dir = FetchRelative
	default:
		return nil, false
	}
	return op, true
}
