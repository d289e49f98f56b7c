package sharding_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestMistypedKeyColumnsAreRefused: a sharded table whose key column on
// the shards is not of the configured key type (numeric where bigint is
// configured, text under a case-insensitive collation) would be hashed
// by values the server does not hold equal, and keyed statements would
// silently miss rows. pgshard reads the key columns after DDL (and every
// minute), refuses keyed statements on such a table with 42804 naming the
// column, keeps reads over every shard working, and routes again once the
// column is fixed.
func TestMistypedKeyColumnsAreRefused(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	conn := connect(t, p.DSN("app", "app-secret"))
	mustExec(ctx, t, conn, `DROP TABLE IF EXISTS mistyped`, `DROP TABLE IF EXISTS mistyped_text`, `DROP COLLATION IF EXISTS ci`,
		`CREATE TABLE mistyped (k numeric PRIMARY KEY, v int)`,
		`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`CREATE TABLE mistyped_text (k text COLLATE ci PRIMARY KEY)`)
	refused := func(q string, want string) {
		t.Helper()
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42804" || !strings.Contains(pe.Message, want) {
			t.Errorf("%s: %v, want 42804 saying %q", q, err, want)
		}
	}
	refused(`SELECT * FROM mistyped WHERE k = 42`, "mistyped.k is numeric")
	refused(`INSERT INTO mistyped (k, v) VALUES (1, 1), (2, 2)`, "mistyped.k is numeric")
	refused(`SELECT * FROM mistyped_text WHERE k = 'Abc'`, "nondeterministic collation")
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM mistyped`, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
		t.Errorf("a read over every shard of the mistyped table: %v", err)
	}
	if got := p.Metric(t, `pgshard_key_column_mismatches{database="app"}`); got != 2 {
		t.Errorf("pgshard_key_column_mismatches = %v, want 2", got)
	}
	// Fixed through pgshard: keyed statements route again.
	mustExec(ctx, t, conn, `ALTER TABLE mistyped ALTER COLUMN k TYPE bigint`)
	if _, err := conn.Exec(ctx, `INSERT INTO mistyped (k, v) VALUES (1, 1), (2, 2)`); err != nil {
		t.Errorf("after the column was fixed: %v", err)
	}
	mustExec(ctx, t, conn, `DROP TABLE mistyped`, `DROP TABLE mistyped_text`, `DROP COLLATION ci`)
}

// TestClientEncodingInADatabaseWithTextKeys: text keys are hashed from
// their UTF-8 bytes, so a client of a database sharded by a text key
// (mistyped_text here) may not ask for an encoding the server would
// convert from: refused at login (options -c too) and at SET, with 0A000;
// so is standard_conforming_strings off, in any database.
func TestClientEncodingInADatabaseWithTextKeys(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	var pe *pgconn.PgError
	for dsn, want := range map[string]string{
		"&client_encoding=LATIN1":                         "client_encoding must stay UTF8",
		"&options=-c%20client_encoding%3DWIN1252":         "client_encoding must stay UTF8",
		"&options=-c%20standard_conforming_strings%3Doff": "standard_conforming_strings must stay on",
	} {
		_, err := pgconn.Connect(ctx, p.DSN("app", "app-secret")+dsn)
		if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, want) {
			t.Errorf("login with %s: %v, want 0A000 saying %q", dsn, err, want)
		}
	}
	conn := connect(t, p.DSN("app", "app-secret"))
	if _, err := conn.Exec(ctx, `SET client_encoding = 'LATIN1'`); !errors.As(err, &pe) || pe.Code != "0A000" {
		t.Errorf("SET client_encoding = 'LATIN1': %v, want 0A000", err)
	}
	if _, err := conn.Exec(ctx, `SET client_encoding = 'UTF8'`); err != nil {
		t.Errorf("SET client_encoding = 'UTF8': %v", err)
	}
}

// TestUnreadableSettingReportedByTheServer: set_config with a Bind
// parameter changes client_encoding or standard_conforming_strings where
// pgshard cannot read the value first. The server reports the change, and
// pgshard ends the session before its next statement with FATAL naming the
// setting, rather than hash the client's strings as they no longer are. A
// value pgshard can route with, set the same way, changes nothing.
func TestUnreadableSettingReportedByTheServer(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	for _, tc := range []struct{ name, value string }{
		{"client_encoding", "LATIN1"},
		{"standard_conforming_strings", "off"},
	} {
		conn := connect(t, p.DSN("app", "app-secret"))
		var got string
		if err := conn.QueryRow(ctx, "SELECT set_config('"+tc.name+"', $1, false)", tc.value).Scan(&got); err != nil {
			t.Fatalf("set_config(%s, $1 = %s): %v", tc.name, tc.value, err)
		}
		_, err := conn.Exec(ctx, "SELECT 1")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Severity != "FATAL" || pe.Code != "0A000" || !strings.Contains(pe.Message, tc.name+" = ") {
			t.Errorf("after set_config(%s, $1 = %s): %v, want FATAL 0A000 naming it", tc.name, tc.value, err)
		}
	}
	conn := connect(t, p.DSN("app", "app-secret"))
	var got string
	if err := conn.QueryRow(ctx, "SELECT set_config('client_encoding', $1, false)", "UTF8").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("after set_config(client_encoding, $1 = UTF8): %v", err)
	}
}
