// Package shard owns the shard map: how a shard key value becomes a point in
// the 64-bit hash space, and which shard owns that point.
//
//	key value ──canonical encoding──▶ xxhash64 ──▶ Point ──Map.Lookup──▶ ShardID
//
// It does not own topology (which nodes serve a shard, primaries and
// replicas) or health and lag; those come later and sit beside the map, not
// in it, so that a map can be validated, printed and moved on its own.
//
// # Canonical encoding (a compatibility contract)
//
// A key's point is XXH64 (seed 0) of one tag byte followed by the key's
// canonical bytes:
//
//	type   tag   canonical bytes
//	int    0x01  8 bytes, big-endian two's complement of the value as int64
//	text   0x02  the bytes of the string as given (UTF-8), no length, no terminator
//	uuid   0x03  the 16 bytes in RFC 9562 order (as PostgreSQL's uuid_send writes them)
//
// Every row already stored on a shard was placed by this encoding. Changing
// any part of it (tag values, byte order, widening ints differently, the
// hash or its seed) silently moves rows to shards that do not hold them, so
// it must never change for an existing deployment. TestGoldenPoints pins it.
//
// The tag keeps types apart: the text '42' and the integer 42 are different
// keys with different points. Which encoding applies is decided by the key
// column's type from configuration (KeyType), never by how a value arrived,
// so the literal '42' for a bigint key column is the integer 42.
//
// # Where values come from
//
// PointFromText takes SQL literal text (the router strips casts such as
// 42::bigint and hands over the literal) and text-format Bind parameters; it
// accepts what PostgreSQL's own input functions accept, so a value the server
// would take is never routed differently from its other spellings.
// PointFromBinary takes binary-format Bind parameters; int2, int4 and int8
// widths all give the point of the same int64.
//
// Text keys are hashed as the bytes given. They must be UTF-8: a router
// serving a client whose client_encoding is not UTF8 has to convert first,
// or the same string would land on different shards for different clients.
//
// # NULL
//
// A NULL shard key has no point: the row cannot be placed on one shard. The
// functions taking a Bind parameter return ErrNullKey for a nil slice (how
// pgproto3 decodes a parameter of length -1; an empty value is a non-nil
// empty slice). The router decides what follows: for a WHERE key = $1 with
// NULL no row matches; for an INSERT it must refuse the statement.
//
// # Versions
//
// A Map is immutable and carries a version. Rebalancing builds a new map
// (Map.Move) and publishes it in a Holder; a statement calls Holder.Load once
// and routes every key against that one map, so it never sees half a move.
package shard
