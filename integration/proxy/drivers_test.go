package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Every pgx query mode, 50 clients at once through a transaction pool of 5
// server connections: statements prepared by one client on a server
// connection must work for whichever client gets that connection next.
func TestPgxEveryExecModeWith50ConcurrentClients(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, 2*time.Minute)
	setup := connect(t, p.DSN("app", "app-secret"))
	if _, err := setup.Exec(ctx, "DROP TABLE IF EXISTS modes; CREATE TABLE modes (client int, mode text, i int, PRIMARY KEY (client, mode, i))"); err != nil {
		t.Fatal(err)
	}
	modes := []pgx.QueryExecMode{
		pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol,
	}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for c := range 50 {
				wg.Go(func() {
					cfg, err := pgx.ParseConfig(p.DSN("app", "app-secret"))
					if err != nil {
						errs <- err
						return
					}
					cfg.DefaultQueryExecMode = mode
					conn, err := pgx.ConnectConfig(ctx, cfg)
					if err != nil {
						errs <- err
						return
					}
					defer conn.Close(context.Background())
					for i := range 10 {
						if _, err := conn.Exec(ctx, "INSERT INTO modes VALUES ($1, $2, $3)", c, mode.String(), i); err != nil {
							errs <- fmt.Errorf("client %d insert %d: %w", c, i, err)
							return
						}
						var sum int64
						var text string
						err := conn.QueryRow(ctx, "SELECT sum(i), $2::text FROM modes WHERE client = $1 AND mode = $2", c, mode.String()).Scan(&sum, &text)
						if err != nil {
							errs <- fmt.Errorf("client %d select %d: %w", c, i, err)
							return
						}
						if want := int64(i * (i + 1) / 2); sum != want || text != mode.String() {
							errs <- fmt.Errorf("client %d: sum %d text %q, want %d %q", c, sum, text, want, mode.String())
							return
						}
					}
					// A transaction keeps its server connection throughout.
					tx, err := conn.Begin(ctx)
					if err != nil {
						errs <- err
						return
					}
					var pid1, pid2 int
					_ = tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid1)
					_ = tx.QueryRow(ctx, "SELECT pg_backend_pid() + 0*$1::int", 1).Scan(&pid2)
					if err := tx.Commit(ctx); err != nil {
						errs <- err
						return
					}
					if pid1 == 0 || pid1 != pid2 {
						errs <- fmt.Errorf("client %d: transaction moved from backend %d to %d", c, pid1, pid2)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			var n int
			if err := setup.QueryRow(ctx, "SELECT count(*) FROM modes WHERE mode = $1", mode.String()).Scan(&n); err != nil || n != 500 {
				t.Fatalf("rows for %s: %d (%v), want 500", mode, n, err)
			}
		})
	}
}

func TestPsqlThroughProxy(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	cmd := exec.Command("psql", p.DSN("app", "app-secret"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-")
	cmd.Stdin = strings.NewReader(`
CREATE TABLE IF NOT EXISTS psql_t (id int, note text);
TRUNCATE psql_t;
INSERT INTO psql_t SELECT g, 'n' || g FROM generate_series(1, 3) g;
\copy psql_t FROM stdin
4	four
\.
SELECT count(*), string_agg(note, ',' ORDER BY id) FROM psql_t;
BEGIN;
SELECT 'in tx';
ROLLBACK;
\copy (SELECT id FROM psql_t ORDER BY id) TO stdout
`)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	want := "4|n1,n2,n3,four\nin tx\n1\n2\n3\n4\n"
	if !strings.Contains(string(out), want) {
		t.Fatalf("psql output:\n%s\nwant to contain:\n%s", out, want)
	}
}

func TestCopyInAndOut(t *testing.T) {
	p := startProxy(t, proxyOptions{})
	ctx := ctxFor(t, time.Minute)
	conn := connect(t, p.DSN("app", "app-secret"))
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS copy_t; CREATE TABLE copy_t (id int, v text)"); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, 5000)
	for i := range rows {
		rows[i] = []any{i, fmt.Sprintf("value %d", i)}
	}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"copy_t"}, []string{"id", "v"}, pgx.CopyFromRows(rows))
	if err != nil || n != 5000 {
		t.Fatalf("copy from (binary): %d %v", n, err)
	}
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("5000\tlast\n"), "COPY copy_t FROM STDIN")
	if err != nil {
		t.Fatalf("copy from (text): %v", err)
	}
	var buf bytes.Buffer
	tag, err := conn.PgConn().CopyTo(ctx, &buf, "COPY (SELECT id, v FROM copy_t ORDER BY id) TO STDOUT WITH (FORMAT csv)")
	if err != nil || tag.RowsAffected() != 5001 {
		t.Fatalf("copy to: %v %v", tag, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5001 || lines[0] != "0,value 0" || lines[5000] != "5000,last" {
		t.Fatalf("copy to: %d lines, first %q last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	// A failing COPY leaves the session usable.
	_, err = conn.PgConn().CopyFrom(ctx, strings.NewReader("not a number\tx\n"), "COPY copy_t FROM STDIN")
	if err == nil || !strings.Contains(err.Error(), "22P02") {
		t.Fatalf("bad copy: %v, want 22P02", err)
	}
	var count int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM copy_t").Scan(&count); err != nil || count != 5001 {
		t.Fatalf("after failed copy: %d %v", count, err)
	}
}

// pgbench's three protocols, initialisation included, with no failed
// transaction. -M prepared is what PgBouncer 1.18 fails with "prepared
// statement P_0 already exists".
func TestPgbenchAllProtocols(t *testing.T) {
	pgbench, err := exec.LookPath("pgbench")
	if err != nil {
		pgbench = "/usr/lib/postgresql/15/bin/pgbench"
	}
	p := startProxy(t, proxyOptions{})
	dsn := p.DSN("app", "app-secret")
	if out, err := exec.Command(pgbench, "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	// Session pooling too, where the default TPC-B script's BEGIN ... END
	// runs on each client's own connection.
	session := startProxy(t, proxyOptions{pool: "mode: session\nsize: 8"}).DSN("app", "app-secret")
	for _, mode := range []string{"simple", "extended", "prepared", "session-extended"} {
		t.Run(mode, func(t *testing.T) {
			dsn := dsn
			if m, ok := strings.CutPrefix(mode, "session-"); ok {
				mode, dsn = m, session
			}
			out, err := exec.Command(pgbench, "-n", "-M", mode, "-c", "8", "-j", "2", "-t", "200", dsn).CombinedOutput()
			if err != nil {
				t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
			}
			s := string(out)
			if !strings.Contains(s, "number of transactions actually processed: 1600/1600") {
				t.Fatalf("pgbench -M %s did not process 1600/1600:\n%s", mode, s)
			}
			if strings.Contains(s, "number of failed transactions: ") && !strings.Contains(s, "number of failed transactions: 0 ") {
				t.Fatalf("pgbench -M %s had failures:\n%s", mode, s)
			}
		})
	}
}

// pgx prepares the statements of a batch in a pipeline (Parse, Describe,
// Sync) and requires the answers in order. When the server connection
// already holds the statement, pgshard's own ParseComplete must still come
// before the server's ParameterDescription. One server connection, two
// clients preparing the same text: the second finds it prepared.
func TestBatchPreparesAStatementTheServerConnectionHolds(t *testing.T) {
	p := startProxy(t, proxyOptions{pool: "size: 1"})
	ctx := ctxFor(t, time.Minute)
	for client := range 2 {
		conn := connect(t, p.DSN("app", "app-secret"))
		b := &pgx.Batch{}
		b.Queue("SELECT $1::int + 1", client)
		b.Queue("SELECT $1::text || 'x'", "a")
		br := conn.SendBatch(ctx, b)
		var n int
		var s string
		if err := br.QueryRow().Scan(&n); err != nil {
			t.Fatalf("client %d: first query: %v", client, err)
		}
		if err := br.QueryRow().Scan(&s); err != nil {
			t.Fatalf("client %d: second query: %v", client, err)
		}
		if err := br.Close(); err != nil {
			t.Fatalf("client %d: %v", client, err)
		}
		if n != client+1 || s != "ax" {
			t.Fatalf("client %d: got %d %q", client, n, s)
		}
	}
}
