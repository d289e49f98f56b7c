package replicas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestReadOverrides: a target=primary hint and SET pgshard.target keep
// reads on the primary; SET pgshard.min_lsn past every replica's position
// keeps them off the replicas until they replay it; bad values are clear
// errors.
func TestReadOverrides(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t, "max_lag: 10s")
	conn := connect(t, p.DSN("app", "app-secret"))
	simple := pgx.QueryExecModeSimpleProtocol
	waitFor(t, 10*time.Second, "replicas serving", func() bool {
		n, err := servedBy(ctx, conn, whoAmI, simple)
		return err == nil && strings.Contains(n, "replica")
	})
	onPrimary := func(sql string, mode pgx.QueryExecMode) bool {
		t.Helper()
		for range 20 {
			n, err := servedBy(ctx, conn, sql, mode)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(n, "_primary") {
				return false
			}
		}
		return true
	}
	if !onPrimary(`/* pgshard: target=primary */ `+whoAmI, simple) || !onPrimary(`SELECT /* pgshard: target=primary */ current_setting('cluster_name')`, pgx.QueryExecModeCacheStatement) {
		t.Error("a target=primary hint did not keep the read on the primary")
	}
	exec := func(sql string) error { _, err := conn.Exec(ctx, sql, simple); return err }
	if err := exec(`SET pgshard.target = primary`); err != nil {
		t.Fatal(err)
	}
	if !onPrimary(whoAmI, simple) {
		t.Error("SET pgshard.target = primary did not keep reads on the primary")
	}
	if err := exec(`RESET pgshard.target`); err != nil {
		t.Fatal(err)
	}
	if onPrimary(whoAmI, simple) {
		t.Error("after RESET pgshard.target reads stayed on the primary")
	}
	// A floor far ahead of any replica: reads fall back to the primary.
	if err := exec(`SET pgshard.min_lsn = 'FFFF/0'`); err != nil {
		t.Fatal(err)
	}
	if !onPrimary(whoAmI, simple) {
		t.Error("a min_lsn no replica has reached still let reads go to a replica")
	}
	// A floor every replica has passed: replicas again.
	var lsn string
	if err := connect(t, pg.Shards[0].Primary.DSN()).QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	if err := exec(`SET pgshard.min_lsn = '` + lsn + `'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "replicas past the floor serving", func() bool { return !onPrimary(whoAmI, simple) })
	var pe *pgconn.PgError
	if err := exec(`SET pgshard.target = sideways`); !errors.As(err, &pe) || pe.Code != "22023" {
		t.Errorf("bad pgshard.target: want 22023, got %v", err)
	}
	if err := exec(`SET pgshard.nonsense = 1`); !errors.As(err, &pe) || pe.Code != "42704" {
		t.Errorf("unknown pgshard setting: want 42704, got %v", err)
	}
}
