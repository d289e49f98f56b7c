// Package cluster starts real PostgreSQL topologies in Docker for tests and
// the demo: S shards, each one primary plus R streaming replicas with
// wal_level=logical, and one-line fault helpers (stop, kill, pause replay,
// cut replication, promote).
//
// Containers run pgshard's own Debian-built image by default
// (pgshard.local/postgres:15, built by `make image`); PGSHARD_PG_IMAGE selects
// another, such as the official postgres:15 where a registry is reachable.
// Ryuk is disabled because its image cannot be pulled without a registry:
// callers own cleanup through Cluster.Terminate, and CI sweeps containers by
// the LabelHarness label after a killed run.
package cluster
