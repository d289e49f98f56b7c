package sharding_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/shard"
)

// genkeyTables are sharded by a key the INSERTs below leave to the
// column's default: a bigserial, an identity GENERATED ALWAYS, a uuid from
// gen_random_uuid(), and one without a default.
var genkeyTables = []string{
	"DROP TABLE IF EXISTS gk_serial, gk_identity, gk_uuid, gk_plain, gk_legacy, gk_later",
	"CREATE TABLE gk_legacy (name text)", // not sharded: on the default shard
	"INSERT INTO gk_legacy VALUES ('m'), ('k'), ('z'), ('a'), ('q')",
	"CREATE TABLE gk_serial (id bigserial PRIMARY KEY, name text NOT NULL)",
	"CREATE TABLE gk_identity (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)",
	"CREATE TABLE gk_uuid (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text)",
	"CREATE TABLE gk_plain (id bigint PRIMARY KEY, name text)",
}

// TestGeneratedKeysMatchOnePostgres: an INSERT that leaves a serial or
// identity shard key to its default — no key column, as every ORM inserts
// a new row, or DEFAULT in its place, as Sequelize writes, or an INSERT ...
// SELECT from rows that are not sharded, or DEFAULT VALUES, or values from
// subqueries over other shards (staged), or rows from arrays (unnest), or
// INSERT ... SELECT of sharded rows — gets the keys
// one PostgreSQL would give (pgshard takes them from the default shard's
// sequence), the same RETURNING rows in the same order and the same
// tables, in three protocol modes, with every row on the shard owning its
// key, ON CONFLICT on the key included; a uuid key from gen_random_uuid()
// is placed by its value; a key column with no usable default is refused
// with 0A000, nothing written.
func TestGeneratedKeysMatchOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	writes := []swriteStep{
		{"INSERT INTO gk_serial (name) VALUES ($1) RETURNING id, name", []any{"one"}},
		{"INSERT INTO gk_serial (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f') RETURNING id, name", nil},
		{`INSERT INTO "gk_serial" ("id","name") VALUES (DEFAULT,$1), (500,$2), (DEFAULT,$3) RETURNING "id","name"`, []any{"s1", "s2", "s3"}},
		{"INSERT INTO gk_identity (name) VALUES ($1), ($2), ($3) RETURNING id, name", []any{"i1", "i2", "i3"}},
		{"INSERT INTO gk_identity (name) VALUES ('j') RETURNING *", nil},
		// DEFAULT VALUES (Rails's create with no attributes): the key from
		// its default like every other column; the serial table's NOT NULL
		// name fails on the row's shard as on one server, its key taken.
		{"INSERT INTO gk_identity DEFAULT VALUES RETURNING *", nil},
		{"INSERT INTO gk_serial DEFAULT VALUES", nil},
		// ON CONFLICT on the key (GORM's OnConflict{DoNothing: true}, an
		// upsert by id): a new key conflicts on its own shard as on one
		// server; a bare DO NOTHING, with no unique index but the key's.
		{"INSERT INTO gk_serial (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id", []any{"c1"}},
		{"INSERT INTO gk_identity (name) VALUES ('c2'), ('c3') ON CONFLICT (id) DO UPDATE SET name = excluded.name || '!' RETURNING id, name", nil},
		// Subqueries over other shards, or the default shard's tables:
		// run first (staged), then the keys taken.
		{"INSERT INTO gk_serial (name) VALUES ((SELECT max(name) FROM gk_identity)) RETURNING id, name", nil},
		{"INSERT INTO gk_serial (name) VALUES ((SELECT min(name) FROM gk_identity WHERE name > $1)), ((SELECT max(name) FROM gk_legacy)), ($2) RETURNING id, name", []any{"i", "p"}},
		// A driver's batch from arrays, and INSERT ... SELECT of sharded
		// rows (staged, then inserted the same way).
		{"INSERT INTO gk_serial (name) SELECT * FROM unnest($1::text[]) RETURNING id, name", []any{[]string{"u1", "u2", "u3", "u4", "u5"}}},
		{"INSERT INTO gk_identity (name) SELECT unnest($1::text[]) RETURNING *", []any{[]string{"v1", "v2", "v3"}}},
		{"INSERT INTO gk_serial (name) SELECT name || '-copy' FROM gk_identity WHERE name IS NOT NULL ORDER BY id RETURNING id, name", nil},
		// From rows that are not sharded: keys in the SELECT's order.
		{"INSERT INTO gk_serial (name) SELECT name FROM gk_legacy ORDER BY name", nil},
		{"INSERT INTO gk_identity (name) SELECT 'g' || g FROM generate_series(1, 7) g", nil},
	}
	tables := []string{"SELECT * FROM gk_serial ORDER BY id", "SELECT * FROM gk_identity ORDER BY id"}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
		execOnEach(ctx, t, []*pgx.Conn{through, ref}, genkeyTables...)
		for _, w := range writes {
			got, want := orderedAnswer(ctx, through, mode, w.sql, w.args...), orderedAnswer(ctx, ref, mode, w.sql, w.args...)
			if got != want {
				t.Errorf("%v: %s:\n pgshard:    %s\n PostgreSQL: %s", mode, w.sql, got, want)
			}
		}
		for _, q := range tables {
			if got, want := textRows(ctx, t, through, q), textRows(ctx, t, ref, q); got != want {
				t.Errorf("%v: %s:\n pgshard:    %s\n PostgreSQL: %s", mode, q, got, want)
			}
		}
		placedKeys(ctx, t, "gk_serial", "id")
		placedKeys(ctx, t, "gk_identity", "id")
	}

	// A pipelined batch (pgx's SendBatch, JDBC's executeBatch): each
	// INSERT takes its keys in the middle of the pipeline.
	for _, c := range []*pgx.Conn{through, ref} {
		b := &pgx.Batch{}
		for i := range 5 {
			b.Queue("INSERT INTO gk_serial (name) VALUES ($1), ($2) RETURNING id", fmt.Sprint("b", i), fmt.Sprint("c", i))
		}
		b.Queue("INSERT INTO gk_identity (name) VALUES ($1) RETURNING id", "bi")
		if err := c.SendBatch(ctx, b).Close(); err != nil {
			t.Fatalf("batch: %v", err)
		}
	}
	for _, q := range tables {
		if got, want := textRows(ctx, t, through, q), textRows(ctx, t, ref, q); got != want {
			t.Errorf("after a batch: %s:\n pgshard:    %s\n PostgreSQL: %s", q, got, want)
		}
	}

	// In transactions: rolled back, the rows are gone and the sequence
	// has moved on (as on one server); committed, the rows are kept, on
	// their shards, atomically across them.
	for _, end := range []string{"ROLLBACK", "COMMIT"} {
		for _, c := range []*pgx.Conn{through, ref} {
			mustExec(ctx, t, c, "BEGIN",
				"INSERT INTO gk_serial (name) VALUES ('t1'), ('t2'), ('t3')",
				"INSERT INTO gk_identity (name) VALUES ('t4')",
				"INSERT INTO gk_serial (id, name) VALUES (DEFAULT, 't5')",
				end)
		}
		for _, q := range tables {
			if got, want := textRows(ctx, t, through, q), textRows(ctx, t, ref, q); got != want {
				t.Errorf("after %s: %s:\n pgshard:    %s\n PostgreSQL: %s", end, q, got, want)
			}
		}
	}
	placedKeys(ctx, t, "gk_serial", "id")
	// Two such INSERTs in one query string run apart, each taking its
	// keys, in one transaction (wire/queryapart.go).
	for _, c := range []*pgx.Conn{through, ref} {
		mustExec(ctx, t, c, "INSERT INTO gk_serial (name) VALUES ('m1'); INSERT INTO gk_serial (name) VALUES ('m2'), ('m3')")
	}
	for _, q := range tables {
		if got, want := textRows(ctx, t, through, q), textRows(ctx, t, ref, q); got != want {
			t.Errorf("after a query string of two INSERTs: %s:\n pgshard:    %s\n PostgreSQL: %s", q, got, want)
		}
	}
	placedKeys(ctx, t, "gk_serial", "id")
	// SQL-level PREPARE: EXECUTE cannot carry the keys into the server's
	// statement, so it is refused, naming what works.
	mustExec(ctx, t, through, "PREPARE gk_ins AS INSERT INTO gk_serial (name) VALUES ($1)")
	if _, err := through.Exec(ctx, "EXECUTE gk_ins('e')"); err == nil || !strings.Contains(err.Error(), "EXECUTE gk_ins") {
		t.Errorf("EXECUTE of an INSERT leaving its key to the default: %v, want it refused by name", err)
	}
	mustExec(ctx, t, through, "DEALLOCATE gk_ins")

	// A uuid from gen_random_uuid(): each row on the shard of its key.
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		if got := writeAnswer(ctx, through, mode, "INSERT INTO gk_uuid (name) VALUES ('u1'), ('u2'), ('u3'), ('u4'), ('u5'), ('u6')"); got != " INSERT 0 6" {
			t.Errorf("%v: uuid INSERT: %s", mode, got)
		}
	}
	checkUUIDPlacement(t, 12)

	// A table the transaction itself created: its sequence is seen on the
	// transaction's own connection to the default shard.
	for _, c := range []*pgx.Conn{through, ref} {
		mustExec(ctx, t, c, "DROP TABLE IF EXISTS gk_plain", "BEGIN", "CREATE TABLE gk_plain (id bigserial PRIMARY KEY, name text)",
			"INSERT INTO gk_plain (name) VALUES ('p1'), ('p2'), ('p3'), ('p4')", "COMMIT")
	}
	if got, want := textRows(ctx, t, through, "SELECT * FROM gk_plain ORDER BY id"), textRows(ctx, t, ref, "SELECT * FROM gk_plain ORDER BY id"); got != want {
		t.Errorf("a table created in the transaction:\n pgshard:    %s\n PostgreSQL: %s", got, want)
	}
	placedKeys(ctx, t, "gk_plain", "id")
	execOnEach(ctx, t, []*pgx.Conn{through, ref}, genkeyTables[0], "CREATE TABLE gk_plain (id bigint PRIMARY KEY, name text)")

	_, err := through.Exec(ctx, "INSERT INTO gk_plain (name) VALUES ('x')")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "default") {
		t.Errorf("INSERT leaving a key without a default: %v, want 0A000 about its default", err)
	}
	if got := strings.TrimSpace(textRows(ctx, t, through, "SELECT count(*) FROM gk_plain")); got != "0" {
		t.Errorf("gk_plain holds %s rows after the refused INSERT", got)
	}
}

// checkUUIDPlacement checks that gk_uuid holds want rows on the shards,
// each on the shard owning its key.
func checkUUIDPlacement(t *testing.T, want int) {
	t.Helper()
	m := shard.EqualMap(len(sharded.Shards))
	n := 0
	for i, sh := range sharded.Shards {
		for _, id := range textColumn(t, connect(t, sh.Primary.DSN()), "SELECT id::text FROM gk_uuid") {
			pt, err := shard.PointFromText(shard.KeyUUID, id)
			if err != nil || int(m.Lookup(pt)) != i {
				t.Errorf("uuid key %s is on shard %d (%v)", id, i, err)
			}
			n++
		}
	}
	if n != want {
		t.Errorf("%d uuid rows on the shards, want %d", n, want)
	}
}

// TestSequenceCacheKeysTakenAhead: a key sequence with CACHE 10 gives
// pgshard ten keys at a time, which the next INSERTs use without a round
// trip (counted in pgshard_generated_keys_total by source; the sequence on
// the default shard does not move while they last), still in order and
// each row on its key's shard; TRUNCATE ... RESTART IDENTITY through
// pgshard drops them, and the keys start again from 1.
func TestSequenceCacheKeysTakenAhead(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	def := connect(t, sharded.Shards[0].Primary.DSN())
	mustExec(ctx, t, through, genkeyTables...)
	mustExec(ctx, t, through, "ALTER SEQUENCE gk_serial_id_seq CACHE 10")
	lastValue := func() string {
		return strings.TrimSpace(textRows(ctx, t, def, "SELECT last_value FROM gk_serial_id_seq"))
	}
	insert := func(mode pgx.QueryExecMode, names ...string) string {
		var ids []string
		for _, n := range names {
			ids = append(ids, writeAnswer(ctx, through, mode, "INSERT INTO gk_serial (name) VALUES ($1) RETURNING id", n))
		}
		return strings.Join(ids, ",")
	}
	counted := func(when string, query, cache float64) {
		t.Helper()
		q := p.Metric(t, `pgshard_generated_keys_total{database="app",source="query"}`)
		c := p.Metric(t, `pgshard_generated_keys_total{database="app",source="cache"}`)
		if q != query || c != cache {
			t.Errorf("%s: keys counted %v by query, %v from the cache; want %v and %v", when, q, c, query, cache)
		}
	}
	if got := insert(pgx.QueryExecModeExec, "a", "b", "c"); got != "1 INSERT 0 1,2 INSERT 0 1,3 INSERT 0 1" {
		t.Errorf("first inserts: %s", got)
	}
	if got := lastValue(); got != "10" {
		t.Errorf("last_value after the first block: %s, want 10", got)
	}
	counted("after 3 inserts", 1, 2)
	if got := insert(pgx.QueryExecModeSimpleProtocol, "d", "e", "f", "g", "h", "i", "j", "k"); !strings.HasPrefix(got, "4 ") || !strings.Contains(got, ",11 ") {
		t.Errorf("inserts through the block's end: %s, want 4 ... 11", got)
	}
	if got := lastValue(); got != "20" {
		t.Errorf("last_value after the second block: %s, want 20", got)
	}
	counted("after 11 inserts", 2, 9)
	placedKeys(ctx, t, "gk_serial", "id")

	mustExec(ctx, t, through, "TRUNCATE gk_serial RESTART IDENTITY")
	if got := insert(pgx.QueryExecModeExec, "z"); got != "1 INSERT 0 1" {
		t.Errorf("after TRUNCATE ... RESTART IDENTITY: %s, want key 1", got)
	}
}
