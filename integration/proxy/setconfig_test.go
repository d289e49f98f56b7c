package proxy_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSetConfigFollowsTheClient: set_config(name, value, false) changes a
// setting for the rest of the session, as SET does. pg_dump's scripts
// start with one (search_path), and row-level security keys its policies
// on custom settings set this way. In transaction pooling such a setting
// must stay with its client: never reach the next client of the server
// connection (another tenant's rows), and follow the client to its next
// connection. With a pool of one connection the two clients take turns on
// the same server session.
func TestSetConfigFollowsTheClient(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1"})
	ctx := ctxFor(t, time.Minute)
	a := connect(t, p.DSN("app", "app-secret"))
	b := connect(t, p.DSN("app", "app-secret"))
	simple := pgx.QueryExecModeSimpleProtocol
	run := func(conn *pgx.Conn, q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	run(a, `SELECT pg_catalog.set_config('search_path', 'pg_catalog, public', false)`, simple)
	run(a, `SELECT set_config('app.tenant', '4', false), set_config('app.gone', 'x', 'off')`) // extended protocol
	// The value as a parameter, as drivers send it: known at each Bind.
	run(a, `SELECT set_config('app.tenant', $1, false)`, "42")
	run(a, `SELECT set_config('app.gone', $1, false)`, nil)
	run(a, `SELECT set_config('app.gone', NULL, false)`, simple)
	run(a, `BEGIN; SELECT set_config('app.rolled_back', 'x', false); ROLLBACK`, simple)
	run(a, `SELECT set_config('app.local', 'x', true)`, simple)
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run(tx.Conn(), `SELECT set_config('app.committed', 'yes', false)`)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	settings := func(conn *pgx.Conn) (out [6]string) {
		t.Helper()
		err := conn.QueryRow(ctx, `SELECT current_setting('search_path'),
			coalesce(current_setting('app.tenant', true), ''), coalesce(current_setting('app.gone', true), ''),
			coalesce(current_setting('app.rolled_back', true), ''), coalesce(current_setting('app.local', true), ''),
			coalesce(current_setting('app.committed', true), '')`).
			Scan(&out[0], &out[1], &out[2], &out[3], &out[4], &out[5])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wantA := [6]string{"pg_catalog, public", "42", "", "", "", "yes"}
	wantB := [6]string{`"$user", public`, "", "", "", "", ""}
	for i := range 5 {
		if got := settings(b); got != wantB {
			t.Fatalf("round %d: client b sees %q, want %q", i, got, wantB)
		}
		if got := settings(a); got != wantA {
			t.Fatalf("round %d: client a sees %q, want %q", i, got, wantA)
		}
	}
	// A later SET of the same setting replaces it; RESET ALL drops them all.
	run(a, `SET search_path = public`)
	run(b, `SELECT 1`)
	wantA[0] = "public"
	if got := settings(a); got != wantA {
		t.Fatalf("after SET: client a sees %q, want %q", got, wantA)
	}
	run(a, `RESET ALL`)
	run(b, `SELECT 1`)
	if got := settings(a); got != wantB {
		t.Fatalf("after RESET ALL: client a sees %q, want %q", got, wantB)
	}
}

// TestSetConfigThatCannotBeCarriedIsRefused: a set_config whose setting
// pgshard cannot read from the statement, or that changes the role (which
// RESET ALL does not undo), is refused in transaction pooling like SET
// ROLE; so is SELECT ... INTO TEMP. Transaction-local calls run.
func TestSetConfigThatCannotBeCarriedIsRefused(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	refused := []struct {
		q    string
		args []any
	}{
		{`SELECT set_config('role', 'monitor', false)`, nil},
		{`SELECT set_config('session_authorization', 'monitor', false)`, nil},
		{`SELECT set_config('app.tenant', current_user, false)`, nil},
		{`SELECT set_config($1, 'x', false)`, []any{"role"}},
		{`SELECT set_config('app.tenant', 'x', false) FROM generate_series(1, 2)`, nil},
		{`SELECT * INTO TEMP tt FROM generate_series(1, 2)`, nil},
		{`CREATE LOCAL TEMP TABLE tt (i int)`, nil},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		for _, r := range refused {
			if r.args != nil && mode == pgx.QueryExecModeSimpleProtocol {
				continue // pgx would send the value as a literal, which is carried
			}
			_, err := conn.Exec(ctx, r.q, append([]any{mode}, r.args...)...)
			if sqlState(err) != "0A000" {
				t.Errorf("%s (%v): got %v, want 0A000", r.q, mode, err)
			}
		}
	}
	var tenant string
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.tenant', $1, true)`, "7"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT current_setting('app.tenant')`).Scan(&tenant)
	})
	if err != nil || tenant != "7" {
		t.Fatalf("transaction-local set_config: %q %v", tenant, err)
	}
}
