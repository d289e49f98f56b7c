// Package proxy holds end-to-end tests of pgshard as a drop-in Postgres
// endpoint: real drivers and tools (pgx, psql, pgbench) through an
// in-process pgshard to real PostgreSQL servers started by the harness.
package proxy
