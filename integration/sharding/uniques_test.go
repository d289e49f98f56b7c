package sharding_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/internal/admin"

	"github.com/pgshard/pgshard/shard"
)

// TestUniqueIndexesWithoutTheKeyAreReported: a unique index of a sharded
// table that leaves out the shard key is enforced per shard, so the same
// value can be stored on two shards (shown here: one PostgreSQL refuses
// the second row, pgshard's shards take it); pgshard counts such indexes
// in pgshard_sharded_unique_without_key after the DDL that makes or drops
// them, and not those that include the key; ON CONFLICT on such an index,
// by its columns or its constraint's name, or a bare ON CONFLICT DO
// NOTHING while the table has one, is refused (0A000); /status lists such
// indexes among the database's schema warnings.
func TestUniqueIndexesWithoutTheKeyAreReported(t *testing.T) {
	ctx := ctxFor(t, time.Minute)
	p := startPgshard(t)
	c := connect(t, p.DSN("app", "app-secret"))
	const series = `pgshard_sharded_unique_without_key{database="app"}`
	base := -1.0
	reported := func(what string, delta float64) {
		t.Helper()
		eventually(t, 15*time.Second, func() error {
			got := p.Metric(t, series)
			if base < 0 {
				base = got
			}
			if got != base+delta {
				return fmt.Errorf("%s = %v %s, want %v", series, got, what, base+delta)
			}
			return nil
		})
	}
	mustExec(ctx, t, c, "DROP TABLE IF EXISTS gk_plain", "CREATE TABLE gk_plain (id bigint PRIMARY KEY, name text)")
	reported("with a primary key on the shard key", 0)
	mustExec(ctx, t, c, "ALTER TABLE gk_plain ADD CONSTRAINT gk_plain_name UNIQUE (name)", "CREATE UNIQUE INDEX gk_plain_id_name ON gk_plain (id, name)")
	reported("with a unique constraint on name (and an index on id, name)", 1)
	if w := warningsOf(p.Status(t), "unique_without_key"); !slices.Contains(w, "public.gk_plain gk_plain_name") || slices.Contains(w, "public.gk_plain gk_plain_id_name") {
		t.Errorf("/status lists unique indexes without the key %q, want public.gk_plain gk_plain_name alone of gk_plain's", w)
	}

	// The same name under two keys on different shards: accepted by
	// the shards, refused by one PostgreSQL.
	m := shard.EqualMap(len(sharded.Shards))
	other := int64(2)
	for m.Lookup(shard.HashInt(other)) == m.Lookup(shard.HashInt(1)) {
		other++
	}
	mustExec(ctx, t, c, fmt.Sprintf("INSERT INTO gk_plain VALUES (1, 'same'), (%d, 'same')", other))
	if n := textColumn(t, c, "SELECT count(*) FROM gk_plain WHERE name = 'same'"); len(n) != 1 || n[0] != "2" {
		t.Errorf("rows named 'same' through pgshard: %v, want 2 (one per shard)", n)
	}

	// An upsert on that index would miss the other shard's row: refused,
	// whether it names the columns or the constraint; one on the primary
	// key runs.
	code := func(sql string) string {
		_, err := c.Exec(ctx, sql)
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return pe.Code
		}
		return fmt.Sprint(err)
	}
	for _, target := range []string{"(name)", "ON CONSTRAINT gk_plain_name", ""} {
		if got := code(fmt.Sprintf("INSERT INTO gk_plain VALUES (%d, 'same') ON CONFLICT %s DO NOTHING", other+1, target)); got != "0A000" {
			t.Errorf("ON CONFLICT %s on a sharded table: %s, want 0A000", target, got)
		}
	}
	if got := code("INSERT INTO gk_plain VALUES (1, 'other') ON CONFLICT ON CONSTRAINT gk_plain_pkey DO UPDATE SET name = excluded.name"); got != "<nil>" {
		t.Errorf("ON CONFLICT ON CONSTRAINT gk_plain_pkey: %s, want it run", got)
	}

	mustExec(ctx, t, c, "ALTER TABLE gk_plain DROP CONSTRAINT gk_plain_name")
	reported("after DROP CONSTRAINT", 0)
	if w := warningsOf(p.Status(t), "unique_without_key"); slices.Contains(w, "public.gk_plain gk_plain_name") {
		t.Errorf("/status still lists the dropped constraint: %q", w)
	}
	// Known gone: the servers now answer that it does not exist, and a
	// bare DO NOTHING has only indexes with the key as arbiters.
	if got := code("INSERT INTO gk_plain VALUES (1, 'x') ON CONFLICT ON CONSTRAINT gk_plain_name DO NOTHING"); got != "42704" {
		t.Errorf("ON CONFLICT ON CONSTRAINT after the constraint was dropped: %s, want 42704 from the server", got)
	}
	if got := code("INSERT INTO gk_plain VALUES (1, 'x') ON CONFLICT DO NOTHING"); got != "<nil>" {
		t.Errorf("ON CONFLICT DO NOTHING after the constraint was dropped: %s, want it run", got)
	}
	mustExec(ctx, t, c, "DROP TABLE gk_plain")
}

// warningsOf lists the objects of database app's schema warnings of kind.
func warningsOf(st admin.Status, kind string) []string {
	var out []string
	for _, d := range st.Databases {
		for _, w := range d.Warnings {
			if d.Name == "app" && w.Kind == kind {
				out = append(out, w.Object)
			}
		}
	}
	return out
}
