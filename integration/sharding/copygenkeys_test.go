package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestCopyWithoutTheKeyMatchesOnePostgres: COPY into a sharded table whose
// column list leaves out a serial or identity key (psql's \copy users
// (name) from file) gives each row the key one PostgreSQL's COPY would
// give, in text and in CSV with HEADER MATCH, across several CopyData
// messages and with a last row lacking its newline; the sequence goes on
// from there for the next INSERT; rolled back, the rows are gone and the
// keys used up, as on one server; every row sits on its key's shard.
// Binary COPY (pgx's CopyFrom) too, each key written in the column's
// binary form. A key column with no usable default is refused with 0A000,
// nothing written.
func TestCopyWithoutTheKeyMatchesOnePostgres(t *testing.T) {
	ctx := ctxFor(t, 3*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	both := []*pgx.Conn{through, ref}
	execOnEach(ctx, t, both, genkeyTables...)

	// About 90 KB: pgconn sends it in 64 KB CopyData messages, so a row
	// is cut between two of them.
	var text strings.Builder
	for i := range 4000 {
		fmt.Fprintf(&text, "name %d with\\ttab\t%d\n", i, i%7)
	}
	text.WriteString("last\t\\N") // no newline
	csv := "name,note\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n,3\nplain,\n"
	tables := []string{"SELECT * FROM gk_serial ORDER BY id", "SELECT * FROM gk_identity ORDER BY id"}
	steps := []struct{ sql, data string }{
		{"COPY gk_serial (name, note) FROM STDIN", text.String()},
		{"COPY public.gk_identity (name, note) FROM STDIN WITH (FORMAT csv, HEADER match)", csv},
	}
	for _, c := range both {
		mustExec(ctx, t, c, "ALTER TABLE gk_serial ADD COLUMN note int", "ALTER TABLE gk_identity ADD COLUMN note int")
	}
	for _, s := range steps {
		got, want := copyAnswer(ctx, through, s.sql, s.data), copyAnswer(ctx, ref, s.sql, s.data)
		if got != want {
			t.Errorf("%s: pgshard %s, PostgreSQL %s", s.sql, got, want)
		}
	}
	next := "INSERT INTO gk_serial (name) VALUES ('after') RETURNING id"
	if got, want := orderedAnswer(ctx, through, pgx.QueryExecModeExec, next), orderedAnswer(ctx, ref, pgx.QueryExecModeExec, next); got != want {
		t.Errorf("the INSERT after the COPY: pgshard %s, PostgreSQL %s", got, want)
	}
	for _, c := range both {
		mustExec(ctx, t, c, "BEGIN")
		if got := copyAnswer(ctx, c, steps[0].sql, "r1\t1\nr2\t2\n"); got != "COPY 2" {
			t.Errorf("COPY in a transaction: %s", got)
		}
		mustExec(ctx, t, c, "ROLLBACK")
	}
	for _, q := range tables {
		if got, want := textRows(ctx, t, through, q), textRows(ctx, t, ref, q); got != want {
			t.Errorf("%s:\n pgshard:    %.300s\n PostgreSQL: %.300s", q, got, want)
		}
	}
	if keys := placedKeys(ctx, t, "gk_serial", "id"); len(keys) != 4002 {
		t.Errorf("%d rows of gk_serial on the shards, want 4002", len(keys))
	}
	placedKeys(ctx, t, "gk_identity", "id")

	// A uuid from gen_random_uuid(): placed by its value.
	if got := copyAnswer(ctx, through, "COPY gk_uuid (name) FROM STDIN", "u1\nu2\nu3\nu4\nu5\nu6\n"); got != "COPY 6" {
		t.Errorf("COPY into gk_uuid: %s", got)
	}
	checkUUIDPlacement(t, 6)

	// Binary COPY, as pgx's CopyFrom sends it: each tuple gets its key as
	// a first field in the column's binary form (int8 here, uuid below).
	var binRows [][]any
	for i := range 300 {
		binRows = append(binRows, []any{fmt.Sprint("bin ", i), int32(i % 5)})
	}
	for _, c := range both {
		if n, err := c.CopyFrom(ctx, pgx.Identifier{"gk_serial"}, []string{"name", "note"}, pgx.CopyFromRows(binRows)); err != nil || n != 300 {
			t.Errorf("binary COPY: %d rows, %v", n, err)
		}
	}
	if got, want := textRows(ctx, t, through, tables[0]), textRows(ctx, t, ref, tables[0]); got != want {
		t.Errorf("after a binary COPY: %s:\n pgshard:    %.300s\n PostgreSQL: %.300s", tables[0], got, want)
	}
	placedKeys(ctx, t, "gk_serial", "id")
	if n, err := through.CopyFrom(ctx, pgx.Identifier{"gk_uuid"}, []string{"name"}, pgx.CopyFromRows([][]any{{"v1"}, {"v2"}, {"v3"}})); err != nil || n != 3 {
		t.Errorf("binary COPY into gk_uuid: %d rows, %v", n, err)
	}
	checkUUIDPlacement(t, 9)

	// A table created in the open transaction: the keys are taken on
	// another connection, which cannot see it; said so, and the
	// transaction fails as after any error.
	mustExec(ctx, t, through, "BEGIN", "CREATE TABLE gk_later (id bigserial PRIMARY KEY, name text)")
	_, err := through.PgConn().CopyFrom(ctx, strings.NewReader("x\n"), "COPY gk_later (name) FROM STDIN")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "0A000" || !strings.Contains(pe.Message, "open transaction") {
		t.Errorf("COPY without the key into a table the transaction created: %v, want 0A000 about the open transaction", err)
	}
	mustExec(ctx, t, through, "ROLLBACK")

	// No default to take a key from.
	if got := copyAnswer(ctx, through, "COPY gk_plain (name) FROM STDIN", "x\ny\n"); got != "ERROR 0A000" {
		t.Errorf("COPY leaving out a key without a default: %s, want ERROR 0A000", got)
	}
	if got := strings.TrimSpace(textRows(ctx, t, through, "SELECT count(*) FROM gk_plain")); got != "0" {
		t.Errorf("gk_plain holds %s rows after a refused COPY", got)
	}
}

// copyAnswer runs COPY ... FROM STDIN with data and returns its command
// tag, or "ERROR <SQLSTATE>".
func copyAnswer(ctx context.Context, c *pgx.Conn, sql, data string) string {
	tag, err := c.PgConn().CopyFrom(ctx, strings.NewReader(data), sql)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe):
		return "ERROR " + pe.Code
	case err != nil:
		return "error: " + err.Error()
	}
	return tag.String()
}
