// Package replicas checks pgshard's replica-aware reads end to end on two
// shards with a primary and two streaming replicas each: lagging replicas
// leave and rejoin the rotation, read-your-writes holds while a replica is
// paused, reads survive a replica dying and a primary stopping, and reads
// are spread evenly.
package replicas
