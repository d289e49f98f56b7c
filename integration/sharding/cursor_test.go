package sharding_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshard/pgshard/integration/pgshardtest"
	"github.com/pgshard/pgshard/shard"
)

// cursorScripts are transactions run statement by statement on pgshard and
// on one PostgreSQL; every answer (rows, command tag or SQLSTATE) must be
// the same. An error ends its script, as it ends the transaction.
var cursorScripts = [][]string{
	{"BEGIN", "DECLARE c SCROLL CURSOR FOR SELECT k, v FROM curs ORDER BY k",
		"FETCH 3 FROM c", "FETCH NEXT FROM c", "FETCH PRIOR FROM c", "FETCH FIRST FROM c", "FETCH LAST FROM c",
		"FETCH ABSOLUTE 10 FROM c", "FETCH ABSOLUTE -3 FROM c", "FETCH RELATIVE 2 FROM c", "FETCH RELATIVE -4 FROM c",
		"FETCH RELATIVE 0 FROM c", "FETCH 0 FROM c", "FETCH FORWARD ALL FROM c", "FETCH NEXT FROM c", "FETCH RELATIVE 0 FROM c",
		"FETCH BACKWARD 2 FROM c", "FETCH BACKWARD ALL FROM c", "FETCH PRIOR FROM c", "MOVE FORWARD 5 IN c", "FETCH c",
		"MOVE ABSOLUTE 100 IN c", "MOVE BACKWARD 3 IN c", "MOVE 0 IN c", "FETCH -2 FROM c", "FETCH ABSOLUTE 0 FROM c",
		"MOVE 0 IN c", "FETCH ABSOLUTE 51 FROM c", "FETCH ABSOLUTE -51 FROM c", "FETCH ABSOLUTE -50 FROM c",
		"MOVE ALL IN c", "MOVE BACKWARD ALL IN c", "MOVE RELATIVE 7 IN c", "FETCH RELATIVE 100 FROM c", "FETCH RELATIVE -100 FROM c",
		"CLOSE c", "FETCH NEXT FROM c"},
	// Aggregates, grouping and a LIMIT merged across shards, then read in pieces.
	{"BEGIN", "DECLARE a CURSOR FOR SELECT v % 4 AS g, count(*), sum(k), min(k) FROM curs GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 DESC",
		"FETCH 2 FROM a", "FETCH ALL FROM a", "FETCH 1 FROM a", "COMMIT"},
	{"BEGIN", "DECLARE l CURSOR FOR SELECT k FROM curs ORDER BY v DESC, k LIMIT 12 OFFSET 3", "FETCH 5 FROM l", "FETCH 10 FROM l", "ROLLBACK"},
	// NO SCROLL refuses every backward move, as PostgreSQL does.
	{"BEGIN", "DECLARE n NO SCROLL CURSOR FOR SELECT k FROM curs ORDER BY k DESC", "FETCH 2 FROM n", "MOVE 0 IN n", "FETCH PRIOR FROM n"},
	{"BEGIN", "DECLARE n NO SCROLL CURSOR FOR SELECT k FROM curs ORDER BY k", "FETCH ABSOLUTE 0 FROM n", "FETCH ABSOLUTE 3 FROM n", "FETCH ABSOLUTE 5 FROM n", "FETCH ABSOLUTE 5 FROM n"},
	{"BEGIN", "DECLARE n NO SCROLL CURSOR FOR SELECT k FROM curs ORDER BY k", "FETCH 1 FROM n", "FETCH 0 FROM n"},
	{"BEGIN", "DECLARE n NO SCROLL CURSOR FOR SELECT k FROM curs ORDER BY k", "FETCH LAST FROM n"},
	{"BEGIN", "DECLARE n NO SCROLL CURSOR FOR SELECT k FROM curs ORDER BY k", "FETCH ALL FROM n", "FETCH ABSOLUTE 50 FROM n"},
	// A cursor ends with its transaction; names are per session.
	{"BEGIN", "DECLARE e CURSOR FOR SELECT k FROM curs ORDER BY k", "FETCH 1 FROM e", "COMMIT", "BEGIN", "FETCH 1 FROM e"},
	{"BEGIN", "DECLARE d CURSOR FOR SELECT k FROM curs ORDER BY k", "DECLARE d CURSOR FOR SELECT k FROM curs ORDER BY k"},
	{"DECLARE o CURSOR FOR SELECT k FROM curs ORDER BY k"},
	{"BEGIN", "FETCH 1 FROM nosuch"},
	{"BEGIN", "DECLARE f CURSOR FOR SELECT k FROM curs ORDER BY k", "SELECT 1/0", "FETCH 1 FROM f"},
	// A cursor whose query stays on one shard is the shard's own.
	{"BEGIN", "DECLARE p SCROLL CURSOR FOR SELECT k, v FROM curs WHERE k = 7", "FETCH ALL FROM p", "FETCH PRIOR FROM p", "CLOSE p", "COMMIT"},
	{"BEGIN", "DECLARE i CURSOR FOR SELECT k FROM curs WHERE k IN (3, 4, 5, 6) ORDER BY k", "FETCH 3 FROM i", "FETCH 3 FROM i", "CLOSE ALL", "FETCH 1 FROM i"},
}

// TestCursorsOverShards: DECLARE over rows of several shards, then every
// form of FETCH and MOVE, answer exactly as one PostgreSQL holding the same
// rows; so do psql's FETCH_COUNT (which reads every query through a cursor)
// and pgx's extended protocol.
func TestCursorsOverShards(t *testing.T) {
	ctx, p, through, ref := cursScenario(t)

	for i, script := range cursorScripts {
		want, got := cursorTranscript(ctx, t, ref, script), cursorTranscript(ctx, t, through, script)
		for j := range max(len(want), len(got)) {
			w, g := lineAt(want, j), lineAt(got, j)
			if w != g {
				t.Errorf("script %d, %s:\n PostgreSQL: %s\n pgshard:    %s", i, lineAt(script, j), w, g)
				break
			}
		}
	}

	t.Run("WITH HOLD in session pooling", func(t *testing.T) {
		sp := startPgshard(t, "pool: {mode: session, size: 2, queue_timeout: 3s}")
		script := []string{"DECLARE h SCROLL CURSOR WITH HOLD FOR SELECT k, v FROM curs ORDER BY v DESC, k", "FETCH 3 FROM h",
			"BEGIN", "FETCH 2 FROM h", "COMMIT", "FETCH PRIOR FROM h", "BEGIN", "DECLARE t CURSOR FOR SELECT k FROM curs ORDER BY k",
			"ROLLBACK", "FETCH 1 FROM h", "CLOSE h", "FETCH 1 FROM h"}
		want, got := cursorTranscript(ctx, t, ref, script), cursorTranscript(ctx, t, connect(t, sp.DSN("app", "app-secret")), script)
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("transcripts differ:\n PostgreSQL:\n%s\n pgshard:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	})

	t.Run("psql FETCH_COUNT", func(t *testing.T) {
		if _, err := exec.LookPath("psql"); err != nil {
			t.Skip("psql is not installed on this machine")
		}
		q := `\set FETCH_COUNT 7` + "\n" + `SELECT k, v, k * v AS kv FROM curs ORDER BY v, k DESC;` + "\n"
		psql := func(dsn string) string {
			cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", dsn)
			cmd.Stdin = strings.NewReader(q)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
			return string(out)
		}
		if want, got := psql(single.Shards[0].Primary.DSN()), psql(p.DSN("app", "app-secret")); want != got {
			t.Errorf("psql output differs:\n PostgreSQL:\n%s\n pgshard:\n%s", want, got)
		}
	})

	t.Run("extended protocol", func(t *testing.T) {
		read := func(c *pgx.Conn) string {
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // the transaction only read
			if _, err := tx.Exec(ctx, `DECLARE x SCROLL CURSOR FOR SELECT k, v FROM curs WHERE v > $1 ORDER BY k DESC`, 4); err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, f := range []string{"FETCH 4 FROM x", "FETCH PRIOR FROM x", "MOVE 3 IN x", "FETCH ALL FROM x"} {
				rows, err := tx.Query(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var k, v int64
					if err := rows.Scan(&k, &v); err != nil {
						t.Fatal(err)
					}
					out = append(out, fmt.Sprintf("%d:%d", k, v))
				}
				if rows.Err() != nil {
					t.Fatalf("%s: %v", f, rows.Err())
				}
				out = append(out, rows.CommandTag().String())
			}
			return strings.Join(out, " ")
		}
		if want, got := read(ref), read(through); want != got {
			t.Errorf("extended protocol:\n PostgreSQL: %s\n pgshard:    %s", want, got)
		}
	})
}

// cursorTranscript runs a script by simple protocol and writes one line per

// cursScenario starts pgshard, connects through it and to one PostgreSQL,
// and loads curs (k 1..50, sharded by k) on both.
func cursScenario(t *testing.T) (context.Context, *pgshardtest.Proxy, *pgx.Conn, *pgx.Conn) {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	through := connect(t, p.DSN("app", "app-secret"))
	ref := connect(t, single.Shards[0].Primary.DSN())
	var rows []string
	for k := 1; k <= 50; k++ {
		rows = append(rows, fmt.Sprintf("(%d, %d)", k, (k*37)%11))
	}
	execOnEach(ctx, t, []*pgx.Conn{through, ref}, `DROP TABLE IF EXISTS curs`, `CREATE TABLE curs (k bigint PRIMARY KEY, v int)`,
		`INSERT INTO curs VALUES `+strings.Join(rows, ", "))
	return ctx, p, through, ref
}

// statement; an error ends the script with a ROLLBACK.
func cursorTranscript(ctx context.Context, t *testing.T, c *pgx.Conn, script []string) []string {
	t.Helper()
	var out []string
	for _, q := range script {
		res, err := c.PgConn().Exec(ctx, q).ReadAll()
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe):
			out = append(out, "ERROR "+pe.Code+" "+pe.Message)
			if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			return out
		case err != nil:
			t.Fatalf("%s: %v", q, err)
		}
		r := toResult(res[0].FieldDescriptions, res[0].Rows, res[0].CommandTag.String())
		out = append(out, fmt.Sprintf("%v %s %s", r.cols, strings.Join(lines(r.rows), "; "), r.tag))
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	return out
}

func lineAt(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(nothing)"
}

// TestHeldCursorGoesWithAFailedCommit: in transaction pooling pgshard holds
// a WITH HOLD cursor itself; declared in a transaction block, it outlives
// the block only if the block commits. A COMMIT refused by a deferred
// constraint rolls the transaction back, and the cursor goes with it, as
// on one PostgreSQL; a COMMIT that succeeds keeps it. Over several shards
// (two-phase commit) and on the default shard alone (the server's COMMIT).
// The same holds for a pipeline's implicit transaction: a later error in
// the batch takes the cursor declared in it away.
func TestHeldCursorGoesWithAFailedCommit(t *testing.T) {
	ctx, _, through, ref := cursScenario(t)
	execOnEach(ctx, t, []*pgx.Conn{through, ref},
		`DROP TABLE IF EXISTS held_deferred`, `CREATE TABLE held_deferred (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED)`)
	m := shard.EqualMap(len(sharded.Shards))
	onDefault := int64(1)
	for m.Lookup(shard.HashInt(onDefault)) != 0 { // the default shard, s0
		onDefault++
	}
	for _, c := range []struct{ name, declare string }{
		{"several shards", "DECLARE h CURSOR WITH HOLD FOR SELECT k FROM curs ORDER BY k"},
		{"default shard", fmt.Sprintf("DECLARE h CURSOR WITH HOLD FOR SELECT k FROM curs WHERE k = %d", onDefault)},
	} {
		for _, insert := range []string{"INSERT INTO held_deferred VALUES (1), (1)", "INSERT INTO held_deferred VALUES (2)"} {
			script := []string{"DELETE FROM held_deferred", "BEGIN", c.declare, insert, "COMMIT", "FETCH 2 FROM h", "CLOSE h"}
			want, got := scriptAnswers(ctx, ref, script), scriptAnswers(ctx, through, script)
			if want != got {
				t.Errorf("%s, %s:\n PostgreSQL: %s\n pgshard:    %s", c.name, insert, want, got)
			}
		}
	}
	pipelined := func(c *pgx.Conn) string {
		var out []string
		for _, batch := range [][]string{
			{"DECLARE gone CURSOR WITH HOLD FOR SELECT k FROM curs ORDER BY k", "SELECT 1/0"},
			{"DECLARE kept CURSOR WITH HOLD FOR SELECT k FROM curs ORDER BY k", "SELECT 1"},
			{"SELECT 1/0"},
		} {
			b := &pgx.Batch{}
			for _, q := range batch {
				b.Queue(q)
			}
			err := c.SendBatch(ctx, b).Close()
			var pe *pgconn.PgError
			if errors.As(err, &pe) {
				out = append(out, "ERROR "+pe.Code)
			} else {
				out = append(out, fmt.Sprint(err))
			}
		}
		return strings.Join(out, " | ") + " || " + scriptAnswers(ctx, c, []string{"FETCH 1 FROM gone", "FETCH 2 FROM kept", "CLOSE kept"})
	}
	if want, got := pipelined(ref), pipelined(through); want != got {
		t.Errorf("pipelines:\n PostgreSQL: %s\n pgshard:    %s", want, got)
	}
}

// scriptAnswers runs each statement as a simple query, going on after
// errors, and returns each one's command tag and rows, or SQLSTATE.
func scriptAnswers(ctx context.Context, c *pgx.Conn, script []string) string {
	var out []string
	for _, q := range script {
		res, err := c.PgConn().Exec(ctx, q).ReadAll()
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe):
			out = append(out, "ERROR "+pe.Code)
		case err != nil:
			out = append(out, err.Error())
		default:
			r := res[len(res)-1]
			out = append(out, fmt.Sprintf("%s %s", r.CommandTag, strings.Join(lines(toResult(r.FieldDescriptions, r.Rows, "").rows), ";")))
		}
	}
	return strings.Join(out, " | ")
}
