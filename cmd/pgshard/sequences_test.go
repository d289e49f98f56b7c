package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSequencesErrors: pgshard sequences names what it cannot do — a
// database the file does not have, a shard it cannot reach — and prints
// nothing it did not do. (Confining sequences on real shards is
// TestSequenceColumnsOfShardedTablesAreReported, integration/sharding.)
func TestSequencesErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgshard.yaml")
	cfg := "users: [{name: u, password: pw}]\n" +
		"databases:\n" +
		"  - {name: d, server_user: s, shards: [{name: s0, primary: {host: 127.0.0.1, port: 1, tls: disable}}], sharding: {tables: [{name: t, key: k}]}}\n" +
		"  - {name: plain, server_user: s, shards: [{name: s0, primary: {host: 127.0.0.1, port: 1, tls: disable}}]}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := (&sequencesCmd{Config: path, Database: "nope", Timeout: 5 * time.Second}).run(&out)
	if err == nil || !strings.Contains(err.Error(), `no database "nope"`) {
		t.Errorf("unknown database: %v", err)
	}
	out.Reset()
	err = (&sequencesCmd{Config: path, Database: "d", Timeout: 5 * time.Second}).run(&out)
	if err == nil || !strings.Contains(err.Error(), "database d: shard s0: connecting to its primary") {
		t.Errorf("unreachable shard: %v", err)
	}
	out.Reset()
	if err := (&sequencesCmd{Config: path, Database: "plain", Timeout: 5 * time.Second}).run(&out); err != nil || out.String() != "database plain: no sharded tables\n" {
		t.Errorf("no sharded tables: %q, %v", out.String(), err)
	}
}
