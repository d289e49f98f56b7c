package merge

// Column is one column of a shard's RowDescription.
type Column struct {
	Name    string
	TypeOID uint32
	Format  int16 // 0 text, 1 binary
	// Collation is what the shards' catalogs say of the column's own
	// collation: CollateDefault (the database's), CollateNamed (another,
	// not ordering by bytes) or CollateUnknown. Set by the caller, which
	// knows the shards.
	Collation Collation
	// Nondeterministic: the column's collation may hold text of different
	// bytes equal (CREATE COLLATION ... deterministic = false), or a shard
	// has such a collation and cannot say which the column has. Merges
	// that compare such text for equality (GROUP BY, DISTINCT, DISTINCT
	// aggregates) refuse it. Set by the caller.
	Nondeterministic bool
}

// Row is one DataRow's fields; a nil field is SQL NULL.
type Row [][]byte

// SortKey is one ORDER BY item. The router fills NullsFirst explicitly
// because the default depends on the direction (PostgreSQL: NULLS LAST for
// ASC, NULLS FIRST for DESC) and this package never sees the SQL.
type SortKey struct {
	Col        int
	Desc       bool
	NullsFirst bool
	// Collation is how the query says this key's text orders.
	Collation Collation
}

// Collation is what is known of the collation that orders a text value:
// nothing beyond the database's default, COLLATE "C" (or another by
// bytes), another collation, or (for a result column) that the shards
// cannot say. pgshard compares text by its bytes, so it merges text
// ordered by CollateDefault only where the shards' default orders by
// bytes, by CollateBytes always, and by CollateNamed or CollateUnknown
// never. A query's COLLATE overrides its column's.
type Collation uint8

const (
	CollateDefault Collation = iota
	CollateBytes
	CollateNamed
	CollateUnknown
)

// AggKind says how the per-shard partial aggregates in a column combine.
type AggKind uint8

const (
	// AggCount: Col holds each shard's count (int8); the result is their
	// sum, 0 when no shard produced a row.
	AggCount AggKind = iota
	// AggSum: Col holds each shard's sum; the result is the sum of the
	// non-NULL shard sums in the column's own type, NULL if all are NULL.
	// Supported column types: int2/int4/int8, numeric, float4/float8,
	// interval.
	AggSum
	// AggMin and AggMax keep the smallest/largest non-NULL value, as the
	// shard sent it.
	AggMin
	AggMax
	// AggAvg: Col holds the shard sum, CountCol the shard count; the
	// result is total sum / total count the way PostgreSQL's avg computes
	// it, NULL when the total count is 0. OutOID is the result type
	// (numeric 1700 for int/numeric sums, float8 701 for float sums); 0
	// means "infer from the sum column's type".
	AggAvg
	// AggBoolAnd and AggBoolOr combine bool_and/bool_or (every, some)
	// partials; NULL if every shard's partial is NULL.
	AggBoolAnd
	AggBoolOr
	// AggCountDistinct: Col holds a value of the DISTINCT expression (the
	// shards group by it too, so each returns every distinct value of
	// each group once); the result, as int8, is the number of distinct
	// non-NULL values over all shards, equal by type as in GroupBy.
	AggCountDistinct
	// AggSumDistinct and AggAvgDistinct: as AggCountDistinct, the sum or
	// average of the distinct non-NULL values, typed as PostgreSQL types
	// sum and avg of the column (sum: int2/int4 → int8, int8 → numeric;
	// avg: integers and numeric → numeric, floats → float8). Floats are
	// added in ascending order, the order PostgreSQL's DISTINCT aggregate
	// feeds them in, so rounding matches too.
	AggSumDistinct
	AggAvgDistinct
	// AggStringAgg, AggArrayAgg and AggJSONAgg (json_agg and jsonb_agg):
	// Col holds each shard's partial of an aggregate without an ORDER BY
	// of its own, whose order PostgreSQL leaves open; the result joins the
	// non-NULL partials — text with Sep, arrays along their first
	// dimension, JSON arrays element after element. NULL when every
	// partial is NULL. string_agg over text only.
	AggStringAgg
	AggArrayAgg
	AggJSONAgg
)

// Agg describes one aggregate column of the shard rows.
type Agg struct {
	Col      int
	Kind     AggKind
	CountCol int    // AggAvg only
	OutOID   uint32 // AggAvg only; see AggAvg
	Sep      string // AggStringAgg only: the separator
	// Collation: AggMin/AggMax only, how the argument's text orders.
	Collation Collation
}

// Spec says how to merge. The router derives it from the rewritten query.
type Spec struct {
	// GroupBy lists the group key columns. When Aggs is non-empty and
	// GroupBy is empty the query is a global aggregate and produces exactly
	// one row (before HAVING), even if no shard returned a row.
	GroupBy []int
	// Aggs lists the aggregate columns. Columns that are neither group keys
	// nor aggregates take their value from one (the first seen) input row
	// of the group, so they must be functionally dependent on the group key
	// (e.g. constants, or expressions of the keys).
	Aggs []Agg
	// Derived lists the columns computed from merged aggregates (casts,
	// COALESCE with a constant), computed before HAVING.
	Derived []Derived
	// Having filters merged rows, before DISTINCT, ORDER BY and LIMIT.
	// ColRef indexes refer to the merged row (avg columns already hold the
	// average). nil means no filter.
	Having Expr
	// Distinct removes rows equal on the first Output columns (by type
	// equality, so numeric 1.0 = 1.00 and NULLs are equal to each other).
	Distinct bool
	// DistinctOn, when above 0, keeps of the rows equal on the first
	// DistinctOn OrderBy keys only the first in OrderBy order (SELECT
	// DISTINCT ON, whose expressions lead the ORDER BY).
	DistinctOn int
	OrderBy    []SortKey
	Offset     int64
	Limit      int64 // -1: no limit
	// WithTies (FETCH ... WITH TIES) extends the Limit rows with those
	// equal to the last of them on every OrderBy key.
	WithTies bool
	// CollatedText says a shard's database orders text by a collation
	// other than its bytes (en_US, ICU): merges that would have to order
	// text that way — ORDER BY without COLLATE "C", min and max — fail
	// with CodeFeatureUnsupported instead of ordering it bytewise. Set by
	// the caller, which knows the shards.
	CollatedText bool
	// Hidden is the number of trailing columns the shards return for the
	// merge only (the rest of Output's "helper columns"): a Bind's
	// per-column result formats must be extended by as many.
	Hidden int
	// Output is the number of leading columns the client sees; the rest are
	// helper columns (avg counts, hidden sort keys, HAVING aggregates).
	Output int
	// Star says, in a Spec made before the shards' RowDescription is known
	// (a select list with a "*", a UNION), that Output is minus the number
	// of helper columns at the end of each row: every column but those.
	// router.Resolve makes Output a count again.
	Star bool
}

// Error is a failure the wire layer should forward to the client as an
// ErrorResponse with SQLSTATE Code (severity ERROR).
type Error struct {
	Code    string // SQLSTATE, e.g. "22003"
	Message string
	Detail  string
	// ServerSorts says the refusal is only that pgshard cannot compare the
	// ORDER BY values (text under the database's own collation, a type
	// whose order its text does not follow): a server holding the rows
	// would order them right.
	ServerSorts bool
}

func (e *Error) Error() string { return e.Message + " (SQLSTATE " + e.Code + ")" }

// SQLSTATE codes used by this package.
const (
	CodeNumericOutOfRange  = "22003" // "bigint out of range", float overflow
	CodeDivisionByZero     = "22012"
	CodeDatetimeOverflow   = "22008" // "interval out of range"
	CodeInvalidText        = "22P02" // a shard sent a value we cannot decode
	CodeFeatureUnsupported = "0A000" // type/aggregate combination not supported
	CodeInternal           = "XX000" // inconsistent Spec
)

func errorf(code, msg string) *Error { return &Error{Code: code, Message: msg} }
