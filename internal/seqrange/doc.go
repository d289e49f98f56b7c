// Package seqrange owns the blocks of values that keep the sequences of
// sharded tables apart. DDL creates a sharded table on every shard, and
// with a serial or identity column each shard's own sequence, counting
// from 1 on every shard: ids repeat across shards. Giving shard i (its
// position in the configuration) the block [i·B+1, (i+1)·B] of every such
// sequence — B = 2^48 for bigint, as Citus does with its node groups, 2^24
// for integer — makes ids unique across shards without a round trip to a
// central sequence, and a shard added later takes the next block without
// renumbering the others.
//
// The package reads the catalog (ColumnsQuery), computes the blocks
// (Block), tells whether a column's sequences are kept apart (Apart), and
// writes the ALTER SEQUENCE that confines one (Confine). `pgshard
// sequences` applies the blocks; the proxy reads the same catalog to warn
// of columns whose sequences still overlap.
package seqrange
