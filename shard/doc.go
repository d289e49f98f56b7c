// Package shard owns the shard map (shard key → xxhash64 → hash range →
// shard), the topology of primaries and replicas, and their health and lag.
package shard
