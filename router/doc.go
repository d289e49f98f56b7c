// Package router decides where each statement runs. It parses statements
// with libpg_query (the PostgreSQL grammar itself), finds the shard key
// values a statement pins, and produces a Route: one shard, several shards
// whose results are merged (router/merge), every shard (DDL), or a refusal
// with the SQLSTATE a client can act on.
//
// Plans are cached. A simple-protocol statement is first normalized by
// internal/sqltext (literals out, comments out), so statements that differ
// only in their constants share one plan, which records where each key
// value comes from (the n-th literal, or the n-th Bind parameter). A cache
// hit therefore costs a scan and a map lookup, not a parse.
//
// The router never talks to a server and never holds a connection: the wire
// layer executes what the Route says.
package router
