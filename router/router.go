package router

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/shard"
)

// Router plans statements for one logical database.
type Router struct {
	schema *Schema
	maps   *shard.Holder
	cache  *lru.Cache[string, *Plan]
	// keyProblems: tables whose key column on the servers is not of the
	// configured type (keycheck.go).
	keyProblems atomic.Pointer[map[*Table]string]
	// tableFuncs: functions whose bodies name a sharded table (bodies.go).
	tableFuncs atomic.Pointer[map[string]string]
	// tableViews: views that read a sharded table (views.go).
	tableViews atomic.Pointer[viewSet]
	// catalogGen counts the changes of what was read from the catalog
	// and changes plans (tableViews, the schema's aggregates): a plan made
	// before one may be stale (CatalogGen).
	catalogGen atomic.Uint64
}

// New returns a router over schema whose shard map is read from maps for
// every statement, so a map replaced during a range move takes effect at
// the next statement. cacheSize bounds the plan cache.
func New(schema *Schema, maps *shard.Holder, cacheSize int) *Router {
	c, err := lru.New[string, *Plan](max(cacheSize, 16))
	if err != nil {
		panic(err) // only for a non-positive size
	}
	return &Router{schema: schema, maps: maps, cache: c}
}

// Schema returns the table roles the router routes by.
func (r *Router) Schema() *Schema { return r.schema }

// Statement is one statement of a simple query with its route.
type Statement struct {
	Text string
	// At is where Text starts in the query string, for error positions.
	At    int
	Route *Route
}

// exactOnly marks a normalized form whose plans embed constants.
var exactOnly = &Plan{}

// Simple routes the statements of a simple-protocol Query.
func (r *Router) Simple(q string) []Statement { return r.SimpleKeyed(q, "") }

// SimpleKeyed is Simple for a session that set pgshard.shard_key: key (when
// not "") routes every statement as a /* pgshard: shard_key=... */ hint
// would.
func (r *Router) SimpleKeyed(q, key string) []Statement { return r.SimpleWith(q, key, nil) }

// SimpleWith is SimpleKeyed with the key positions of tables that INSERTs
// without a column list name (see Route.NeedColumns).
func (r *Router) SimpleWith(q, key string, cols KeyColumns) []Statement {
	return r.SimpleFilled(q, key, cols, nil)
}

// SimpleFilled is SimpleWith with the keys the default shard generated for
// an INSERT that leaves its key to the column's default (Route.NeedKeys);
// they apply to the statement that asked, the query's only one.
func (r *Router) SimpleFilled(q, key string, cols KeyColumns, gen *GeneratedKeys) []Statement {
	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	var first string
	var at, next int
	// One pass finds the first statement and normalizes it.
	sc.key, first, at, next = sqltext.AppendNextNormalized(append(sc.key[:0], 'n'), q, 0, &sc.n)
	if first == "" {
		return []Statement{}
	}
	m := r.maps.Load()
	if second, _, _ := sqltext.NextStatement(q, next); second == "" {
		// The usual case, one statement: one allocation for the result.
		one := &singleStatement{}
		one.st[0] = Statement{Text: first, At: at, Route: r.routeNormalized(sc, m, first, &one.rt, key, cols, gen)}
		return one.st[:]
	}
	out := []Statement{{Text: first, At: at, Route: r.routeNormalized(sc, m, first, &Route{}, key, cols, nil)}}
	for i := next; ; {
		var text string
		sc.key, text, at, i = sqltext.AppendNextNormalized(append(sc.key[:0], 'n'), q, i, &sc.n)
		if text == "" {
			return out
		}
		out = append(out, Statement{Text: text, At: at, Route: r.routeNormalized(sc, m, text, &Route{}, key, cols, nil)})
	}
}

// singleStatement is the result of a one-statement Simple, allocated at once.
type singleStatement struct {
	st [1]Statement
	rt Route
}

// scratch is a Simple call's working memory, reused through scratchPool:
// the cache key and the literals, which no plan or route keeps.
type scratch struct {
	key []byte
	n   sqltext.Normalized
}

var scratchPool = sync.Pool{New: func() any { return &scratch{key: make([]byte, 0, 256)} }}

func (sc *scratch) release() {
	if cap(sc.key) > 64<<10 || cap(sc.n.Literals) > 1024 || cap(sc.n.Hints) > 64 {
		return // a huge statement: let its memory go
	}
	clear(sc.n.Literals) // drop references to the statement's text
	clear(sc.n.Hints)
	sc.n.Literals, sc.n.Hints = sc.n.Literals[:0], sc.n.Hints[:0]
	scratchPool.Put(sc)
}

// routeNormalized plans and routes one statement of a simple query into
// rt; sc holds its normalized key and literals.
func (r *Router) routeNormalized(sc *scratch, m *shard.Map, text string, rt *Route, key string, cols KeyColumns, gen *GeneratedKeys) *Route {
	p := r.planNormalized(sc, text)
	hints := sc.n.Hints
	if key != "" {
		hints = append(hints, sessionKeyHint+key)
	}
	return r.checkRoute(p.routeInto(rt, m, r.schema.Default, values{lits: sc.n.Literals, text: text, keyCols: cols, gen: gen}, hints))
}

// planNormalized returns the plan of text, whose "n"-prefixed normalized
// key is in sc.key and literals in sc.n.
func (r *Router) planNormalized(sc *scratch, text string) *Plan {
	// The cache only reads a key it is asked for: look up the scratch
	// bytes in place, and copy them only to add an entry.
	if p, ok := r.cache.Get(unsafe.String(unsafe.SliceData(sc.key), len(sc.key))); ok {
		if p != exactOnly {
			return p
		}
		if p, ok := r.cache.Get("x" + text); ok {
			return p
		}
	}
	if len(sc.key) > maxCachedText {
		return r.plan(text, sc.n.Literals, true)
	}
	key := string(sc.key)
	p := r.plan(text, sc.n.Literals, true)
	if p.Exact {
		r.cache.Add(key, exactOnly)
		r.cache.Add("x"+text, p)
	} else {
		r.cache.Add(key, p)
	}
	return p
}

// Prepare plans an extended-protocol statement (at Parse): its key values
// come from Bind parameters, so the plan is cached by its text.
func (r *Router) Prepare(q string) *Plan {
	key := "p" + q
	if p, ok := r.cache.Get(key); ok {
		return p
	}
	n := sqltext.Normalize(q)
	p := r.plan(q, n.Literals, false)
	if p.Kind != KindRefuse || p.zeroOffsets != nil {
		p.lits, p.hints = n.Literals, n.Hints
	}
	p.HighestParam = sqltext.HighestParam(q)
	if len(key) <= maxCachedText {
		r.cache.Add(key, p)
	}
	return p
}

// maxCachedText bounds the statements whose plans the cache keeps: the
// cache counts entries, not bytes, and a statement of megabytes (a
// multi-row INSERT, a staged statement's constants) is planned each time
// rather than kept, a parse being small beside what such a statement
// costs anyway.
const maxCachedText = 64 << 10

// Params are one Bind's parameters.
type Params struct {
	Values [][]byte
	// Formats holds one format code per value (already expanded from the
	// Bind's short forms).
	Formats []int16
	// OIDs are the parameter types the statement's Parse declared; 0, or
	// none, leaves a parameter's type to the server.
	OIDs []uint32
}

// Bind evaluates a prepared plan with a Bind's parameters, untyped. text
// is the statement text, for splitting.
func (r *Router) Bind(p *Plan, text string, params [][]byte, formats []int16) *Route {
	return r.BindKeyed(p, text, Params{Values: params, Formats: formats}, "")
}

// BindKeyed is Bind for a session that set pgshard.shard_key (see
// SimpleKeyed), with the parameters' declared types.
func (r *Router) BindKeyed(p *Plan, text string, ps Params, key string) *Route {
	return r.BindWith(p, text, ps, key, nil)
}

// BindWith is BindKeyed with the key positions of tables that INSERTs
// without a column list name (see Route.NeedColumns).
func (r *Router) BindWith(p *Plan, text string, ps Params, key string, cols KeyColumns) *Route {
	return r.BindFilled(p, text, ps, key, cols, nil)
}

// BindFilled is BindWith with the keys the default shard generated for an
// INSERT that leaves its key to the column's default (Route.NeedKeys).
func (r *Router) BindFilled(p *Plan, text string, ps Params, key string, cols KeyColumns, gen *GeneratedKeys) *Route {
	hints := p.hints
	if key != "" {
		hints = append(hints[:len(hints):len(hints)], sessionKeyHint+key)
	}
	return r.checkRoute(p.route(r.maps.Load(), r.schema.Default, values{lits: p.lits, params: ps.Values, formats: ps.Formats, oids: ps.OIDs, text: text, keyCols: cols, gen: gen}, hints))
}

// plan parses one statement and plans it; it never panics on bad input
// and never hands libpg_query a statement that could crash it. A simple
// query's plan also says which literals its server form makes parameters.
func (r *Router) plan(text string, lits []sqltext.Literal, simple bool) *Plan {
	return r.planStaged(text, lits, simple, true)
}

// planStaged is plan; stage says whether a refused statement may be
// answered in stages (stage.go).
func (r *Router) planStaged(text string, lits []sqltext.Literal, simple, stage bool) *Plan {
	if why := tooComplex(text); why != "" {
		return refuse(codeProgramLimit, "pgshard: statement is too complex for pgshard's router: "+why,
			"Split the statement, or simplify the expression.")
	}
	tree, err := pg.Parse(text)
	if err != nil {
		return parseError(err)
	}
	if len(tree.Stmts) != 1 {
		if len(tree.Stmts) == 0 {
			return &Plan{Kind: KindAny} // only comments
		}
		// Only Parse (and PREPARE) plans text of its own; PostgreSQL
		// refuses such a Parse in these words.
		p := refuse(codeSyntax, "cannot insert multiple commands into a prepared statement", "")
		p.parseFailed = true
		return p
	}
	p := r.schema.buildThrough(tree.Stmts[0].Stmt, lits, tree.Version, r.viewTrees())
	if stage && p.Kind == KindRefuse && p.Err.Code == codeFeatureNotSupported && (!p.keyless || isUpdateOrDelete(tree.Stmts[0].Stmt)) {
		if sp := r.stage(text, tree.Stmts[0].Stmt, tree.Version, p); sp != nil {
			sp.zeroOffsets = p.zeroOffsets
			return sp
		}
	}
	if stage && p.Kind != KindRefuse && tree.Stmts[0].Stmt.GetInsertStmt() != nil {
		// An INSERT ... SELECT reading a view of sharded tables, which
		// the route would refuse (checkViews: writes do not plan through
		// views): its SELECT, planned through the view on its own, is
		// staged and its rows inserted where they belong.
		if e := r.viewRefusal(p.locals); e != nil {
			if sp := r.stage(text, tree.Stmts[0].Stmt, tree.Version, &Plan{Kind: KindRefuse, Err: e}); sp != nil {
				return sp
			}
		}
	}
	if vs := tree.Stmts[0].Stmt.GetVariableSetStmt(); vs != nil && (strings.EqualFold(vs.Name, "client_encoding") || strings.EqualFold(vs.Name, "standard_conforming_strings")) {
		// Refused or not by its value: never shared with another value.
		p.Exact = true
	}
	if simple && p.Kind != KindRefuse && !p.Exact && p.ShardSQL == "" {
		p.server = planServerForm(tree.Stmts[0].Stmt, lits)
	}
	p.SessionEffects = MentionsSessionEffects(text)
	p.Notifies = sqltext.IndexFold(text, "pg_notify") >= 0
	p.Plain = plain(p, text)
	if p.SessionEffects && p.Kind != KindRefuse {
		// set_config can change how pgshard must read strings, as SET can.
		for _, c := range SessionEffectsOf(text).Settings {
			if c.Name != "client_encoding" && c.Name != "standard_conforming_strings" {
				continue
			}
			p.Exact = true // refused or not by its value, as the SETs above
			if e := r.schema.settingRefused(c.Name, c.Value); e != nil && c.ValueParam == 0 && !c.Reset {
				e.Exact = true
				return e
			}
		}
	}
	return p
}

// plain tells whether p, planned from text, is Plan.Plain.
func plain(p *Plan, text string) bool {
	switch p.Command {
	case "SELECT", "INSERT", "UPDATE", "DELETE":
	default:
		return false
	}
	return p.Kind != KindRefuse && p.Kind != KindCursor && p.Cursor == nil && !p.DDL &&
		!p.SessionEffects && !p.Notifies && sqltext.IndexFold(text, "advisory_") < 0 &&
		sqltext.IndexFold(text, "pg_listening_channels") < 0
}

// MentionsSessionEffects is the cheap test for what only SessionEffectsOf
// can tell: the text mentions set_config, or both INTO and TEMP.
func MentionsSessionEffects(text string) bool {
	return sqltext.IndexFold(text, "set_config") >= 0 ||
		sqltext.IndexFold(text, "temp") >= 0 && sqltext.IndexFold(text, "into") >= 0
}

// parseError turns libpg_query's error into what Postgres would answer,
// cursor position included. The position belongs to this text, not to
// others of the same normalized form (literals of other lengths before
// the error would move it), so the plan is cached by exact text.
func parseError(err error) *Plan {
	var pe *parser.Error
	msg := err.Error()
	pos := 0
	if errors.As(err, &pe) {
		msg, pos = pe.Message, pe.Cursorpos
	}
	p := refuse(codeSyntax, msg, "")
	p.Err.Position = pos
	p.Exact = pos > 0
	p.parseFailed = true
	return p
}

// ParseError is the error PostgreSQL gives when it parses the statement:
// a syntax error, or several statements where one is expected. The wire
// layer answers a Parse message with it, as a server would, rather than
// at the statement's first Bind.
func (p *Plan) ParseError() *Error {
	if p.parseFailed {
		return p.Err
	}
	return nil
}

// maxNesting bounds what the router hands to libpg_query. The parser
// recurses once per nesting level of an expression: a chain of binary
// operators (1+1+1...) nests one level per operator, parentheses one level
// each. libpg_query crashes the process (a C stack overflow Go cannot
// recover) at about 24,000 levels and reports a stack-depth error from
// about 5,000; TestParserLimits checks that this bound stays below both.
// AND, OR and commas do not nest (the parser flattens them), so long OR
// lists and IN lists are not limited.
const maxNesting = 3000

// tooComplex estimates the nesting depth of q without parsing it.
func tooComplex(q string) string {
	var base []int // nesting at each open parenthesis
	level, chain, deepest := 0, 0, 0
	for i := 0; i < len(q); {
		switch c := q[i]; c {
		case '(', '[':
			base = append(base, chain)
			level = chain + 1
			chain = level
			i++
		case ')', ']':
			if n := len(base); n > 0 {
				chain = base[n-1]
				base = base[:n-1]
				level = 0
				if n > 1 {
					level = base[n-2] + 1
				}
			}
			i++
		case ',', ';':
			chain = level
			i++
		case '+', '-', '*', '/', '<', '>', '=', '%', '^', '|', '&', '#', '~', '!', '@':
			j := i + 1
			for j < len(q) && strings.IndexByte("+-*/<>=%^|&#~!@", q[j]) >= 0 && !strings.HasPrefix(q[j:], "--") && !strings.HasPrefix(q[j:], "/*") {
				j++
			}
			chain++
			deepest = max(deepest, chain)
			i = j
		default:
			j := sqltext.SkipToken(q, i)
			if j-i == 2 || j-i == 3 {
				if w := strings.ToLower(q[i:j]); w == "and" || w == "or" {
					chain = level
				}
			}
			i = j
		}
		deepest = max(deepest, chain)
	}
	if deepest > maxNesting {
		return fmt.Sprintf("expressions nested about %d levels deep (at most %d)", deepest, maxNesting)
	}
	return ""
}
