// Command pgshard is the sharding proxy and its admin CLI in one binary.
package main
