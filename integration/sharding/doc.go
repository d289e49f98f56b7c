// Package sharding_test checks pgshard's router end to end: a sharded
// cluster behind an in-process pgshard answers every query of a corpus
// exactly as one unsharded PostgreSQL holding the same data does, refuses
// what it cannot answer exactly with 0A000, and places every row on the
// shard that owns its key's hash.
package sharding
