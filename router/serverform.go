package router

import (
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgshard/pgshard/internal/sqltext"
)

// Parameter types of a server form, as PostgreSQL types the constants they
// replace (make_const): an integer that fits int4 is int4, one that fits
// int8 is int8, anything else numeric; a quoted string is of unknown type
// and takes its type from where it stands, as a parameter of type 0 does.
// oidUnknown leaves a parameter's type to the server; the others are in
// keydomain.go.
const oidUnknown = 0

// ServerForm is a simple-protocol statement rewritten to run as a
// server-side prepared statement: each literal that can be a parameter is
// replaced by $n, padded with spaces to the literal's length in characters
// so the positions in the server's error messages still point into the
// client's text. The server then parses and plans each statement shape
// once per connection instead of once per execution.
type ServerForm struct {
	Name   string   // server statement name: a hash of Text and OIDs
	Text   string   // the statement with $n for its literals
	Params [][]byte // the literals' values, in text format
	OIDs   []uint32 // their types (0: unknown)

	text []byte
	key  []byte
	n    sqltext.Normalized
}

// serverForm is what a plan knows of its statements' server form.
type serverForm struct {
	// param says, per literal, whether its place in the statement takes a
	// parameter (not ORDER BY 1, not the string of DATE '...', not a
	// type modifier).
	param []bool
	// refused is set once a server refused a form of this shape (a string
	// literal whose type a parameter cannot infer, SELECT 'a'): it runs as
	// sent from then on.
	refused atomic.Bool
	// rows: the statement returns rows (a SELECT, or RETURNING), whose
	// type DDL may change under a prepared statement.
	rows bool
}

// HasServerForm reports whether statements of this plan may run as
// server-side prepared statements (see ServerFormOf).
func (p *Plan) HasServerForm() bool { return p != nil && p.server != nil && !p.server.refused.Load() }

// ServerFormReturnsRows reports whether the plan's statements return rows
// (SELECT, RETURNING). A prepared statement that returns none cannot fail
// with "cached plan must not change result type" after DDL.
func (p *Plan) ServerFormReturnsRows() bool { return p.server == nil || p.server.rows }

// RefuseServerForm records that a server could not prepare a form of this
// plan's statements: they run as the client sent them from now on.
func (p *Plan) RefuseServerForm() {
	if p.server != nil {
		p.server.refused.Store(true)
	}
}

// ServerFormOf fills f with the server form of st, a statement Simple
// routed, and reports whether it has one. f's memory is reused; its
// fields are valid until the next call.
func (r *Router) ServerFormOf(st *Statement, f *ServerForm) bool {
	p := st.Route.Plan
	if !p.HasServerForm() {
		return false
	}
	text := st.Text
	f.key = sqltext.AppendNormalized(f.key[:0], text, &f.n)
	lits := f.n.Literals
	if len(lits) != len(p.server.param) || f.n.Params > 0 {
		return false
	}
	f.text, f.Params, f.OIDs = f.text[:0], f.Params[:0], f.OIDs[:0]
	done := 0
	for i, l := range lits {
		if !p.server.param[i] {
			continue
		}
		oid, ok := literalType(text, l)
		if !ok {
			continue
		}
		name := "$" + strconv.Itoa(len(f.Params)+1)
		width := utf8.RuneCountInString(text[l.Pos:l.End])
		if width < len(name) {
			continue // "7" stays: $n would move every position after it
		}
		f.text = append(f.text, text[done:l.Pos]...)
		f.text = append(f.text, name...)
		for range width - len(name) {
			f.text = append(f.text, ' ')
		}
		done = l.End
		f.Params = append(f.Params, unsafe.Slice(unsafe.StringData(l.Value), len(l.Value)))
		f.OIDs = append(f.OIDs, oid)
	}
	f.text = append(f.text, text[done:]...)
	f.Text = unsafe.String(unsafe.SliceData(f.text), len(f.text))
	h := xxhash.New()
	_, _ = h.Write(f.text)
	for _, oid := range f.OIDs {
		_, _ = h.Write([]byte{byte(oid >> 24), byte(oid >> 16), byte(oid >> 8), byte(oid)})
	}
	var sum [8]byte
	f.key = hex.AppendEncode(append(f.key[:0], "pgshard_s"...), h.Sum(sum[:0]))
	f.Name = unsafe.String(unsafe.SliceData(f.key), len(f.key))
	return true
}

// literalType is the parameter type standing for literal l of text, or
// !ok when l must stay in the text: a string whose value depends on
// server settings (backslashes in a plain string, standard_conforming_strings)
// or on syntax pgshard does not decode (U&'...'), or a number PostgreSQL
// reads differently from its digits alone.
func literalType(text string, l sqltext.Literal) (uint32, bool) {
	if l.String {
		switch c := text[l.Pos]; {
		case c == 'e' || c == 'E' || c == '$':
			return oidUnknown, true // decoded exactly, whatever the settings
		case l.Pos >= 2 && (text[l.Pos-2:l.Pos] == "U&" || text[l.Pos-2:l.Pos] == "u&"):
			return 0, false
		}
		for i := l.Pos; i < l.End; i++ {
			if text[i] == '\\' {
				return 0, false
			}
		}
		return oidUnknown, true
	}
	return numberType(l.Value, l.Minus >= 0)
}

// numberType types a numeric literal as PostgreSQL 15 does, for plain
// decimal syntax only: 0x1F or 1_000 are a number and a column alias to a
// PostgreSQL 15 server. negated is a minus the grammar folds into the
// constant, which stays in the text: -2147483648 folded is int4, but
// -$1 with $1 = 2147483648 would be int8, so those two limits stay too.
func numberType(v string, negated bool) (uint32, bool) {
	digits, point, exp := 0, false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && !exp:
			point = true
		case (c == 'e' || c == 'E') && digits > 0 && !exp && i+1 < len(v):
			exp = true
			if v[i+1] == '+' || v[i+1] == '-' {
				i++
			}
			if i+1 >= len(v) {
				return 0, false
			}
		default:
			return 0, false
		}
	}
	switch {
	case digits == 0:
		return 0, false
	case point || exp:
		return oidNumeric, true
	}
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case err != nil:
		return oidNumeric, true // beyond int8, and -9223372036854775808 is beyond it unsigned
	case negated && (n == 1<<31 || n == 1<<63):
		return 0, false
	case n <= 1<<31-1:
		return oidInt4, true
	case n <= 1<<63-1:
		return oidInt8, true
	}
	return oidNumeric, true
}

// planServerForm finds which of a statement's literals can be parameters:
// those the parser read as a plain constant where an expression may stand.
// Only SELECT (without INTO), INSERT, UPDATE and DELETE have a server form;
// a literal that is not an expression of its own stays in the text.
func planServerForm(stmt *pg.Node, lits []sqltext.Literal) *serverForm {
	switch {
	case stmt.GetSelectStmt() != nil && stmt.GetSelectStmt().IntoClause == nil:
	case stmt.GetInsertStmt() != nil, stmt.GetUpdateStmt() != nil, stmt.GetDeleteStmt() != nil:
	default:
		return nil
	}
	consts := map[int32]bool{} // A_Const locations → may be a parameter
	fixed := func(n *pg.Node) {
		if c := n.GetAConst(); c != nil {
			consts[c.Location] = false
		}
	}
	// Type modifiers first (varchar(10), numeric(10, 2), interval '1'
	// day): a TypeName is no Node, so visit would see its constants as
	// any others.
	constsInTypes(stmt.ProtoReflect(), false, consts)
	visit(stmt, func(n *pg.Node) bool {
		switch {
		case n.GetAConst() != nil:
			c := n.GetAConst()
			if _, seen := consts[c.Location]; !seen {
				consts[c.Location] = !c.Isnull
			}
		case n.GetTypeCast() != nil:
			// DATE '2024-01-01' takes a string, not an expression; the
			// parser makes it the same cast as '2024-01-01'::date.
			fixed(n.GetTypeCast().Arg)
		case n.GetSortBy() != nil:
			fixed(n.GetSortBy().Node) // ORDER BY 1 is a column number
		case n.GetSelectStmt() != nil:
			for _, g := range n.GetSelectStmt().GroupClause {
				fixed(g) // GROUP BY 1 too
				if gs := g.GetGroupingSet(); gs != nil {
					for _, c := range gs.Content {
						fixed(c)
					}
				}
			}
			for _, d := range n.GetSelectStmt().DistinctClause {
				fixed(d) // and DISTINCT ON (1)
			}
		}
		return true
	})
	sf := &serverForm{param: make([]bool, len(lits)), rows: stmt.GetSelectStmt() != nil ||
		len(stmt.GetInsertStmt().GetReturningList()) > 0 || len(stmt.GetUpdateStmt().GetReturningList()) > 0 ||
		len(stmt.GetDeleteStmt().GetReturningList()) > 0}
	for i, l := range lits {
		ok, found := consts[int32(l.Pos)]
		if !found && l.Minus >= 0 {
			ok, found = consts[int32(l.Minus)]
		}
		sf.param[i] = found && ok
	}
	return sf
}

// constsInTypes marks every constant inside a TypeName as fixed.
func constsInTypes(m protoreflect.Message, inType bool, consts map[int32]bool) {
	switch v := m.Interface().(type) {
	case *pg.TypeName:
		inType = true
	case *pg.A_Const:
		if inType {
			consts[v.Location] = false
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil || fd.IsMap():
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				constsInTypes(l.Get(i).Message(), inType, consts)
			}
		default:
			constsInTypes(v.Message(), inType, consts)
		}
		return true
	})
}
