// Package monitor tests shard.Monitor against a real shard: one primary and
// two streaming replicas started by the cluster harness, with replay paused,
// WAL generated and replicas killed to check that the lag and health the
// monitor reports follow what the servers do.
package monitor
