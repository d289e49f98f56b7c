package sharding_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestParameterStatusOverShards: a client hears each change of a reported
// setting (TimeZone, DateStyle, IntervalStyle, application_name) once, with
// the statement that made it, as from one PostgreSQL: also when the SET runs
// on every shard of a transaction, and when a ROLLBACK over several shards
// undoes it. Drivers act on these reports (pgjdbc refuses a DateStyle that
// does not start with ISO; pgx and libpq keep them for the application).
func TestParameterStatusOverShards(t *testing.T) {
	script := []string{
		`SET TimeZone = 'Asia/Tokyo'`,
		`SELECT 1`,
		`BEGIN`,
		`/* pgshard: shard=0 */ SELECT 1`, `/* pgshard: shard=2 */ SELECT 2`,
		`SET TimeZone = 'Europe/Paris'`,
		`SET DateStyle = 'SQL, DMY'`,
		`/* pgshard: shard=1 */ SELECT 3`,
		`COMMIT`,
		`/* pgshard: shard=0 */ SELECT 1`, `/* pgshard: shard=2 */ SELECT 2`,
		`BEGIN`,
		`/* pgshard: shard=0 */ SELECT 1`, `/* pgshard: shard=2 */ SELECT 2`,
		`SET IntervalStyle = 'iso_8601'`,
		`ROLLBACK`,
		`SET application_name = 'same'`,
		`SET application_name = 'same'`,
		`BEGIN`,
		`/* pgshard: shard=0 */ SELECT 1`, `/* pgshard: shard=2 */ SELECT 2`,
		`SET LOCAL TimeZone = 'America/Lima'`,
		`COMMIT`,
		`RESET ALL`,
		// SETs before the transaction's first statement are answered by
		// pgshard (no server has the transaction yet): the change is
		// heard with that statement, the one difference from PostgreSQL.
		`BEGIN`,
		`SET TimeZone = 'Europe/Rome'`,
		`/* pgshard: shard=1 */ SELECT 4`,
		`COMMIT`,
	}
	ctx := ctxFor(t, 2*time.Minute)
	for _, extended := range []bool{false, true} {
		want := reportTranscript(ctx, t, single.Shards[0].Primary.DSN(), script, extended)
		for _, mode := range []string{"transaction", "session"} {
			t.Run(fmt.Sprintf("%s pooling, extended %v", mode, extended), func(t *testing.T) {
				p := startPgshard(t, "pool: {mode: "+mode+", size: 8, queue_timeout: 10s}")
				got := reportTranscript(ctx, t, p.DSN("app", "app-secret"), script, extended)
				// The one known difference, fixed up: a SET before the
				// transaction's first statement is heard with it.
				got = strings.Replace(got, "SET TimeZone = 'Europe/Rome':\n/* pgshard: shard=1 */ SELECT 4: TimeZone=Europe/Rome", "SET TimeZone = 'Europe/Rome': TimeZone=Europe/Rome\n/* pgshard: shard=1 */ SELECT 4:", 1)
				if got != want {
					t.Errorf("ParameterStatus heard through pgshard:\n%s\nfrom one PostgreSQL:\n%s", got, want)
				}
			})
		}
	}
}

// reportTranscript runs script (as simple queries, or Parse, Bind,
// Execute and Sync each) and writes down, for each statement, the
// ParameterStatus messages of the settings it changes.
func reportTranscript(ctx context.Context, t *testing.T, dsn string, script []string, extended bool) string {
	t.Helper()
	hj := hijacked(ctx, t, dsn)
	watched := map[string]bool{"TimeZone": true, "DateStyle": true, "IntervalStyle": true, "application_name": true}
	var b strings.Builder
	for _, q := range script {
		if extended {
			hj.Frontend.SendParse(&pgproto3.Parse{Query: q})
			hj.Frontend.SendBind(&pgproto3.Bind{})
			hj.Frontend.SendExecute(&pgproto3.Execute{})
			hj.Frontend.SendSync(&pgproto3.Sync{})
		} else {
			hj.Frontend.Send(&pgproto3.Query{String: q})
		}
		if err := hj.Frontend.Flush(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:", q)
		for done := false; !done; {
			msg, err := hj.Frontend.Receive()
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			switch m := msg.(type) {
			case *pgproto3.ParameterStatus:
				if watched[m.Name] {
					fmt.Fprintf(&b, " %s=%s", m.Name, m.Value)
				}
			case *pgproto3.ErrorResponse:
				t.Fatalf("%s: %s", q, m.Message)
			case *pgproto3.ReadyForQuery:
				done = true
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// hijacked connects to dsn and hands over the connection to be driven
// message by message; it closes when the test ends, and fails a read or
// write that waits past a minute.
func hijacked(ctx context.Context, t *testing.T, dsn string) *pgconn.HijackedConn {
	t.Helper()
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	hj, err := conn.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hj.Conn.Close() })
	_ = hj.Conn.SetDeadline(time.Now().Add(time.Minute))
	return hj
}
