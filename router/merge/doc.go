// Package merge turns the result rows of one query that pgshard ran on
// several shards into exactly the rows a single PostgreSQL server holding
// all the data would have returned.
//
// # What it owns
//
// The router rewrites the query for the shards (avg → sum + count,
// LIMIT l OFFSET o → LIMIT l+o, HAVING removed with its aggregates appended,
// hidden ORDER BY columns appended) and describes the merge in a Spec; the
// wire layer collects each shard's DataRows and calls Merge. This package
// owns everything between: combining partial aggregates, re-grouping,
// HAVING, DISTINCT, ORDER BY, OFFSET/LIMIT, and encoding computed values in
// the column's wire format exactly as PostgreSQL 15 would print or send
// them (numeric display scale, avg's result scale from select_div_scale,
// shortest round-trip floats, postgres-style intervals).
//
// # What it never does
//
// It never sees SQL, never talks to a shard or a client, and never decides
// what can be pushed down: a Spec that does not describe the rewritten
// query produces wrong rows, not an error. It does not stream: Merge gets
// whole results and, except on the plain concatenation and pre-sorted
// ORDER BY paths (which return the caller's field slices without copying),
// holds every row in memory.
//
// # Values
//
// Values are compared by type, decoding text or binary fields with pgtype
// (numeric with its own codec, because the display scale is observable):
// integers, float4/float8 (NaN equal to NaN and above every number, -0 = 0),
// numeric (1.0 = 1.00; NaN greatest), bool, date/time/timestamp/timestamptz
// (with ±infinity), interval (compared as PostgreSQL does, '1 day' =
// '24 hours'), uuid, bytea, oid, and text, varchar, name, "char" and
// bpchar (bpchar without trailing blanks). NULLs group together and sort
// per SortKey.NullsFirst.
//
// # Limitations
//
//   - Text is compared bytewise, i.e. as under the C collation. The shards
//     must use C collation for ORDER BY/min/max on text to be exact.
//   - Types not listed above compare bytewise in text format; in binary
//     format any ordering or equality on them (ORDER BY, GROUP BY, DISTINCT,
//     min/max, HAVING) fails with SQLSTATE 0A000. Plain concatenation works
//     for every type.
//   - Text-format dates, times, timestamps, intervals and bytea must use
//     the server defaults DateStyle = ISO, IntervalStyle = postgres and
//     bytea_output = hex (what pgtype parses and what this package
//     prints); a shard's value in another style fails with 0A000 naming
//     the setting, a query's constant with PostgreSQL's 22P02.
//   - A non-NULL empty field must be a non-nil empty slice; nil is NULL.
//   - Float sums are added shard by shard, so they can differ from a
//     single server in the last bits (floating-point addition is not
//     associative). avg(float4) must be rewritten to sum(x::float8), or its
//     precision is that of a float4 sum.
//   - sum over money and avg over interval are not supported (0A000).
//   - A column that is neither a group key nor an aggregate takes its value
//     from the first input row of its group; for a global aggregate over no
//     rows at all it is NULL.
//   - Ties in ORDER BY come out in shard order (PostgreSQL guarantees no
//     order for ties either).
//
// Errors are *Error values carrying a SQLSTATE for the client.
// Merge is safe for concurrent use.
package merge
