// Package router classifies each statement with the real PostgreSQL grammar
// (libpg_query) and turns it into a routing plan: which shards, primary or
// replica, and how the answers of several shards merge into one result.
package router
