// Package rebalance moves hash ranges between shards while traffic flows:
// snapshot copy, logical-replication catch-up, and a fenced cutover of the
// shard map.
package rebalance
