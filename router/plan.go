package router

import (
	"slices"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

// Kind is what a plan does with a statement.
type Kind uint8

const (
	// KindShard runs the statement on the shard(s) owning its key values;
	// on several shards the results are merged.
	KindShard Kind = iota
	// KindDefault runs it on the default shard (tables that are not sharded).
	KindDefault
	// KindAny runs it on any one shard: reads of reference tables only,
	// statements naming no table. The session's current shard is best.
	KindAny
	// KindScatter runs it on every shard and merges the results.
	KindScatter
	// KindAll runs it on every shard, as a write: DDL, reference tables.
	KindAll
	// KindSession is transaction control and session state (BEGIN, SET,
	// SHOW...): it goes with the session, not with data.
	KindSession
	// KindRefuse answers an error without running anything.
	KindRefuse
	// KindCopyIn is COPY FROM STDIN into a sharded table: every shard runs
	// the COPY and pgshard sends each data row to the shard owning its key
	// (or, for a reference table, to every shard).
	KindCopyIn
	// KindCopyOut is COPY TO STDOUT of a sharded table: every shard's rows,
	// one shard after the other.
	KindCopyOut
	// KindCursor is DECLARE CURSOR whose query needs several shards:
	// pgshard runs the query and holds the cursor (Plan.Cursor).
	KindCursor
)

var kindNames = [...]string{"shard", "default", "any", "scatter", "all", "session", "refuse", "copy-split", "copy-out", "cursor"}

func (k Kind) String() string { return kindNames[k] }

// Source says where a value the plan needs comes from in one execution.
type Source struct {
	Param  int // 1-based $n of a Bind; 0 when Lit is used
	Lit    int // index into the statement's literals, when Param is 0
	Negate bool
	Const  string // a value written in the plan itself (Param 0, Lit -1)
	Array  bool   // Param is an array of keys (key = ANY($n))

	// dom is the domain the value is compared in, or stored in for an
	// INSERT (see keydomain.go); for an Array, its elements'. bin is the
	// type the server gives a parameter the client sent untyped: its
	// innermost cast, else the other side's type. cast: the statement
	// casts the value (bin is then the innermost cast's domain). num: a
	// Const that is a number. assign: the value is stored as a row's key,
	// so it must name exactly one key.
	dom, bin          domain
	cast, num, assign bool
	// call, for a routed function's key, picks the argument at Bind
	// (callArgs); the other fields are then unused.
	call *callArgs
	// gen, from 1, is a key the INSERT leaves to the column's default:
	// the gen-th of the execution's generated keys (genkeys.go).
	gen int
}

// Pin is a shard key constraint: the key of Table equals one of Values.
type Pin struct {
	Table  *Table
	Values []Source
}

// Plan is a statement's routing, independent of its constant values: it
// is cached and evaluated per execution with the values.
type Plan struct {
	Kind Kind
	Err  *Error // for KindRefuse
	// parseFailed: Err is the parser's (ParseError).
	parseFailed bool
	// HighestParam is the highest $n a prepared statement's text names
	// (Prepare only): with the types its Parse declares, how many values
	// a Bind must bring, as a server counts them.
	HighestParam int

	Command string // INSERT, SELECT...: the leading command word
	// Channel is a LISTEN's or UNLISTEN's channel, as the server names it
	// (case-folded unless quoted); "" for UNLISTEN *.
	Channel string
	Read    bool // changes nothing (a SELECT without locking or writing functions)
	// SessionEffects: the text mentions set_config or INTO ... TEMP, so it
	// may change the server session in ways its first words do not show
	// (SessionEffectsOf tells). Found when the plan is made, so a cached
	// plan spares the session that scan.
	SessionEffects bool
	// Notifies: the text mentions pg_notify, which, like NOTIFY, keeps a
	// transaction from being prepared on the shard it runs on.
	Notifies bool
	// Plain: a SELECT, INSERT, UPDATE or DELETE that declares no cursor,
	// changes no schema and whose text mentions nothing that acts on the
	// server session beyond the statement (set_config, INTO TEMP, advisory
	// locks and unlocks, pg_notify, pg_listening_channels). A session needs nothing of such a statement but
	// its route: the checks it runs on other statements' words (SET,
	// PREPARE, LISTEN, cursors, transaction control, pgshard's own
	// commands) cannot match, and a cached plan spares them per query.
	Plain bool
	// calls are the functions the statement calls (analyzer.calls).
	calls []string
	// locals are the relations it names that pgshard does not shard or
	// copy: default-shard tables, or views (views.go); through, the views
	// it was planned through.
	through []string
	locals  []string
	Tables  []string
	Class   []Pin // KindShard: the key constraints; all must resolve to shards
	// newKeys are the constants and parameters a write stores as its
	// rows' shard key (UPDATE ... SET key = $1): each must belong to the
	// shard the rows are on (newkeys.go).
	newKeys *keyWrite
	// keyMove: an UPDATE setting the key may move its rows when the new
	// key belongs to another shard (keymove.go); false refuses.
	keyMove bool
	// zeroOffsets is the plan to use when the Bind gives its subqueries'
	// OFFSET parameters 0 or NULL (zerooffset.go).
	zeroOffsets *zeroOffsets
	Insert      *insertSplit
	Arrays      *arrayRows // INSERT ... SELECT * FROM unnest($1, ...) into a sharded table
	Copy        *CopyIn
	Cursor      *Cursor     // DECLARE: KindCursor, or a cursor one shard's server holds
	Merge       *merge.Spec // KindScatter/KindShard across shards: how to merge
	LimitSrc    *Source     // merge limit from a value
	OffSrc      *Source     // merge offset from a value
	ShardSQL    string      // the text to send to each shard when it differs from the client's
	// Move, for INSERT ... SELECT into a sharded table from rows that are
	// not sharded (KindCopyIn): pgshard reads the SELECT's rows on the
	// shard holding them and splits them over the shards as a COPY.
	Move *Move
	// Replicated: a write to a reference table, run on every shard so the
	// copies stay identical; every shard returns the same answer, and the
	// client gets it once, as from one server.
	Replicated bool
	// Explain is the first line of an EXPLAIN that every shard answers: how
	// pgshard merges the rows. Each shard's plan follows under its name.
	Explain string
	// Staging, on a refusal, says how the statement can be answered in
	// stages instead (stage.go); the route stays a refusal for every
	// caller that does not run stages.
	Staging *Staging
	// Exact means the plan embeds the statement's own constants (a
	// rewritten text): it is cached by exact text, never shared by
	// normalized form.
	Exact bool
	// DDL: the statement may change the schema (what the shards'
	// catalogs say of tables and columns).
	DDL bool
	// mergeErr is the refusal (its message) should this pinned
	// statement's key values land on several shards, whose results it
	// cannot merge; "" when it can.
	mergeErr string

	// keyed: the sharded tables the statement reads or writes, whose key
	// a route by shard may rely on (keycheck.go).
	keyed []*Table

	setop   bool // a UNION: pinned branches may be on different shards
	keyless bool // refused only because no shard key was given

	lits  []sqltext.Literal // a prepared statement's own literals
	hints []string          // a prepared statement's hint comments

	server *serverForm // a simple query's server form, if it may have one
}

// Route is a plan evaluated for one execution.
type Route struct {
	Plan   *Plan
	Kind   Kind
	Shards []shard.ShardID // where to run; one for a single-shard route
	// SQL per shard when a statement is split (multi-row INSERT): index
	// aligned with Shards; nil means every shard gets the same text.
	SQL []string
	// Params per shard for a split extended-protocol statement: which of
	// the client's parameters (0-based) each shard's statement takes; -1-i
	// stands for Extra[i].
	Params [][]int
	// Extra are parameter values made for one shard (splitArrays).
	Extra []ExtraParam
	// Rows, for a multi-row INSERT split over shards: per shard (as
	// Shards), the positions in VALUES of the rows it got, so RETURNING
	// rows can be put back in the order one server returns them.
	Rows    [][]int
	Merge   *merge.Spec
	Version uint64 // of the shard map the route was computed with
	Err     *Error
	// Target is a /* pgshard: target=primary|replica */ hint: where a read
	// should run; "" leaves it to the read policy.
	Target string
	// hinted: a /* pgshard: shard=N */ hint chose the shard.
	hinted bool
	// nothing: the statement's keys can match no row (key = NULL), so any
	// shard answers.
	nothing bool
	// NeedColumns is set, with a refusal, when the statement is an INSERT
	// without a column list and the caller gave no KeyColumns for its
	// table: read the table's column order and route again with it.
	NeedColumns *TableRef
	// NeedKeys is set, with a refusal, when an INSERT leaves its shard key
	// to the column's default and the caller gave no GeneratedKeys: read
	// that many from the default shard and route again with them.
	NeedKeys *KeyRequest
	// KeyMove is set when an UPDATE gives its rows, all on one shard, a
	// key another shard owns: Shards are both, and the rows move
	// (keymove.go).
	KeyMove *KeyMove

	one [1]shard.ShardID // Shards' storage for a route to one shard
}

// Staging is how the refused statement can be answered in stages, or nil.
func (r *Route) Staging() *Staging {
	if r.Kind != KindRefuse || r.Plan == nil {
		return nil
	}
	return r.Plan.Staging
}

// Single reports whether the route runs on exactly one shard as is.
func (r *Route) Single() bool { return r.Err == nil && len(r.Shards) == 1 && r.SQL == nil }

// Error is a refusal: SQLSTATE and a message telling the client what to do.
type Error struct {
	Code    string
	Message string
	Hint    string
	// Position is where in the statement text the error is, counted in
	// characters from 1 as in ErrorResponse's P field; 0 when none.
	Position int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

const (
	codeFeatureNotSupported = "0A000"
	codeSyntax              = "42601"
	codeProgramLimit        = "54001"
	codeInvalidParam        = "22023"
	codeNullKey             = "23502"
	codeInvalidRowCount     = "2201W" // invalid_row_count_in_limit_clause
	codeInvalidText         = "22P02" // invalid_text_representation
	codeOutOfRange          = "22003" // numeric_value_out_of_range
	codeDatatypeMismatch    = "42804"
	// codeInvalidColumnReference is invalid_column_reference: an ORDER BY
	// or GROUP BY position past the select list.
	codeInvalidColumnReference = "42P10"
)

func refuse(code, msg, hint string) *Plan {
	return &Plan{Kind: KindRefuse, Err: &Error{Code: code, Message: msg, Hint: hint}}
}

// UsesParams says whether routing needs a Bind's parameter values, so the
// wire layer decodes a Bind only then.
func (p *Plan) UsesParams() bool {
	uses := func(s Source) bool { return s.Param > 0 || s.call != nil }
	for _, pin := range p.Class {
		for _, v := range pin.Values {
			if uses(v) {
				return true
			}
		}
	}
	if p.Arrays != nil || p.zeroOffsets != nil || p.newKeys != nil && slices.ContainsFunc(p.newKeys.Values, uses) {
		return true
	}
	if p.Insert != nil {
		if p.Insert.Gen != nil {
			return true // its rows are cut per shard: the Bind's too
		}
		for _, v := range p.Insert.Rows {
			if uses(v) {
				return true
			}
		}
		for _, row := range p.Insert.ByPosition {
			for _, v := range row {
				if uses(v.Source) {
					return true
				}
			}
		}
	}
	return p.LimitSrc != nil && uses(*p.LimitSrc) || p.OffSrc != nil && uses(*p.OffSrc) || len(p.hints) > 0 ||
		p.Merge != nil && havingParams(p.Merge.Having)
}

// havingParams reports whether a merged HAVING compares with a $n.
func havingParams(e merge.Expr) bool {
	switch e := e.(type) {
	case merge.Const:
		return e.Param > 0
	case merge.Cmp:
		return havingParams(e.L) || havingParams(e.R)
	case merge.And:
		return slices.ContainsFunc(e.Args, havingParams)
	case merge.Or:
		return slices.ContainsFunc(e.Args, havingParams)
	case merge.Not:
		return havingParams(e.Arg)
	case merge.IsNull:
		return havingParams(e.Arg)
	}
	return false
}

// needsMerge reports whether a scatter read's rows need more than
// concatenation to be one server's answer.
func needsMerge(p *Plan) bool {
	s := p.Merge
	if p.LimitSrc != nil || p.OffSrc != nil {
		return true
	}
	return s != nil && (len(s.GroupBy) > 0 || len(s.Aggs) > 0 || s.Having != nil || s.Distinct || s.DistinctOn > 0 ||
		len(s.OrderBy) > 0 || s.Limit >= 0 || s.Offset > 0)
}

// Move is an INSERT ... SELECT carried out as a COPY out of one shard and
// a split COPY into the target table.
type Move struct {
	Source     string // COPY (<the SELECT>) TO STDOUT
	SourceKind Kind   // KindDefault: the default shard's tables; KindAny: any shard
	Target     string // COPY <table> (<columns>) FROM STDIN, sent to the shards
}
