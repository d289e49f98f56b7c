package sharding_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/integration/pgshardtest"
)

// pgshard has a server check a Parse on a connection of its own, on the
// default shard (wire/parsecheck.go). With that shard down the check is
// skipped, never failed: a statement for another shard still runs, and
// only statements for the down shard get its connection error.
func TestParseCheckSparesADownShard(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	key := keysOnShards(140000)[1]
	mustExec(ctx, t, connect(t, sharded.Shards[1].Primary.DSN()),
		`DROP TABLE IF EXISTS downparse`, `CREATE TABLE downparse (k bigint)`, `INSERT INTO downparse VALUES (`+itoa64(key)+`)`)
	t.Cleanup(func() { mustExec(ctx, t, connect(t, sharded.Shards[1].Primary.DSN()), `DROP TABLE downparse`) })

	// Shard 0's primary at an address where nothing listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	host, port, _ := net.SplitHostPort(sharded.Shards[0].Primary.Addr())
	shards := strings.Replace(pgshardtest.ShardsYAML(sharded), "host: "+host+", port: "+port, "host: 127.0.0.1, port: "+itoa64(int64(dead)), 1)
	p := pgshardtest.Start(t, pgshardYAML(shards, "pool: {size: 2, queue_timeout: 5s, connect_timeout: 2s}"))

	type M = pgproto3.FrontendMessage
	steps := []protoStep{
		{msgs: []M{&pgproto3.Parse{Query: `SELECT count(*) FROM downparse WHERE k = $1`}, &pgproto3.Sync{}}},
		{msgs: []M{&pgproto3.Bind{Parameters: [][]byte{[]byte(itoa64(key))}}, &pgproto3.Execute{}, &pgproto3.Sync{}}},
		{msgs: []M{&pgproto3.Parse{Name: "s", Query: `SELECT count(*) FROM downparse WHERE k = $1`}, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte(itoa64(key))}}, &pgproto3.Execute{}, &pgproto3.Sync{}}},
	}
	got := protocolTranscript(ctx, t, p.DSN("app", "app-secret"), steps)
	for i, want := range []string{" 1 Z[I]", " 2 D[1] C[SELECT 1] Z[I]", " 1 2 D[1] C[SELECT 1] Z[I]"} {
		if got[i] != want {
			t.Errorf("%s: got%s, want%s", steps[i], got[i], want)
		}
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// A table never sharded may live on the default shard alone (a database
// put behind pgshard as it was): a Parse naming it, in a transaction that
// holds a connection to another shard, must not be checked there, where
// the table does not exist.
func TestParseCheckOnlyOnTheDefaultShard(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	mustExec(ctx, t, connect(t, sharded.Shards[0].Primary.DSN()),
		`DROP TABLE IF EXISTS legacy_only`, `CREATE TABLE legacy_only (n int)`, `INSERT INTO legacy_only VALUES (7)`)
	t.Cleanup(func() { mustExec(ctx, t, connect(t, sharded.Shards[0].Primary.DSN()), `DROP TABLE legacy_only`) })
	key := keysOnShards(150000)[1]
	mustExec(ctx, t, connect(t, sharded.Shards[1].Primary.DSN()),
		`DROP TABLE IF EXISTS downparse`, `CREATE TABLE downparse (k bigint)`)
	t.Cleanup(func() { mustExec(ctx, t, connect(t, sharded.Shards[1].Primary.DSN()), `DROP TABLE downparse`) })

	type M = pgproto3.FrontendMessage
	steps := []protoStep{
		{msgs: []M{&pgproto3.Query{String: "BEGIN"}}},
		{msgs: []M{&pgproto3.Query{String: "SELECT count(*) FROM downparse WHERE k = " + itoa64(key)}}},
		{msgs: []M{&pgproto3.Parse{Name: "l", Query: `SELECT n FROM legacy_only WHERE n > $1`}, &pgproto3.Bind{PreparedStatement: "l", Parameters: [][]byte{[]byte("1")}}, &pgproto3.Execute{}, &pgproto3.Sync{}}},
		{msgs: []M{&pgproto3.Query{String: "COMMIT"}}},
	}
	got := protocolTranscript(ctx, t, p.DSN("app", "app-secret"), steps)
	for i, want := range []string{" C[BEGIN] Z[T]", " T[count/20/8/-1/0] D[0] C[SELECT 1] Z[T]", " 1 2 D[7] C[SELECT 1] Z[T]", " C[COMMIT] Z[I]"} {
		if got[i] != want {
			t.Errorf("%s: got%s, want%s", steps[i], got[i], want)
		}
	}
}
