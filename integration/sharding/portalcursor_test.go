package sharding_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// A portal of the extended protocol is a cursor: PostgreSQL lets FETCH,
// MOVE and CLOSE name it (asyncpg moves through its cursors' portals with
// MOVE), forward only, FETCH answering in text whatever formats the Bind
// asked for. A portal whose rows pgshard merges from several shards must
// answer the same, and so must Describe of a held cursor's name as a
// portal. The whole exchange is compared message by message with one
// PostgreSQL holding the same rows.
func TestPortalsAreCursors(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t)
	loadedPair(ctx, t, p)
	const query = `SELECT user_id, name FROM users WHERE user_id <= $1 ORDER BY user_id DESC`
	steps := []portalStep{
		{query: "BEGIN"},
		{parse: query, portal: "p", maxRows: 2, binary: true, param: "20"},
		{query: "MOVE FORWARD 3 IN p"},
		{query: "FETCH 2 FROM p"},
		{execute: "p", maxRows: 1},
		{query: "FETCH ALL FROM p"},
		{query: "MOVE BACKWARD 1 IN p"}, // NO SCROLL: 55000, the transaction fails
		{query: "ROLLBACK"},
		{query: "BEGIN"},
		{parse: query, portal: "q", maxRows: 1, param: "9"},
		{query: "CLOSE q"},
		{execute: "q", maxRows: 1}, // 34000
		{query: "ROLLBACK"},
		{query: "BEGIN"},
		{query: "DECLARE c CURSOR FOR SELECT user_id, name FROM users ORDER BY user_id"},
		{describePortal: "c"},
		{query: "FETCH 2 FROM c"},
		{closePortal: "c"},
		{query: "FETCH 1 FROM c"}, // 34000
		{query: "ROLLBACK"},
	}
	want := portalTranscript(ctx, t, single.Shards[0].Primary.DSN(), steps)
	got := portalTranscript(ctx, t, p.DSN("app", "app-secret"), steps)
	if got != want {
		t.Errorf("through pgshard:\n%s\none PostgreSQL:\n%s", got, want)
	}
	for _, line := range []string{"MOVE FORWARD 3 IN p: C[MOVE 3]", "FETCH 2 FROM p: T[user_id/0 name/0] D[15 user 0015] D[14 user 0014] C[FETCH 2]", "execute p: D[13 user 0013] s", "E[55000]", "E[34000]", "describe c: T[user_id/0 name/0]"} {
		if !strings.Contains(want, line) {
			t.Errorf("PostgreSQL's transcript lacks %q:\n%s", line, want)
		}
	}
}

// portalStep is one exchange of TestPortalsAreCursors: a simple query, a
// Parse/Bind/Execute of query into a named portal, an Execute of a portal,
// or a Describe or Close of one; each ends with Sync.
type portalStep struct {
	query, parse, portal, param, execute string
	describePortal, closePortal          string
	maxRows                              uint32
	binary                               bool
}

func portalTranscript(ctx context.Context, t *testing.T, dsn string, steps []portalStep) string {
	t.Helper()
	hj := hijacked(ctx, t, dsn)
	f := hj.Frontend
	var b strings.Builder
	// Whether the rows coming are binary: the Bind's formats for an
	// Execute, the row description's otherwise.
	var binaryCols, portalBinary bool
	for _, s := range steps {
		var label string
		switch {
		case s.query != "":
			label = s.query
			f.Send(&pgproto3.Query{String: s.query})
		case s.parse != "":
			label = "bind " + s.portal
			portalBinary = s.binary
			formats := []int16{0}
			if s.binary {
				formats = []int16{1}
			}
			f.SendParse(&pgproto3.Parse{Query: s.parse})
			f.SendBind(&pgproto3.Bind{DestinationPortal: s.portal, Parameters: [][]byte{[]byte(s.param)}, ResultFormatCodes: formats})
			f.SendDescribe(&pgproto3.Describe{ObjectType: 'P', Name: s.portal})
			f.SendExecute(&pgproto3.Execute{Portal: s.portal, MaxRows: s.maxRows})
			f.SendSync(&pgproto3.Sync{})
		case s.execute != "":
			label = "execute " + s.execute
			binaryCols = portalBinary
			f.SendExecute(&pgproto3.Execute{Portal: s.execute, MaxRows: s.maxRows})
			f.SendSync(&pgproto3.Sync{})
		case s.describePortal != "":
			label = "describe " + s.describePortal
			f.SendDescribe(&pgproto3.Describe{ObjectType: 'P', Name: s.describePortal})
			f.SendSync(&pgproto3.Sync{})
		case s.closePortal != "":
			label = "close " + s.closePortal
			f.SendClose(&pgproto3.Close{ObjectType: 'P', Name: s.closePortal})
			f.SendSync(&pgproto3.Sync{})
		}
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:", label)
		for done := false; !done; {
			msg, err := f.Receive()
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			switch m := msg.(type) {
			case *pgproto3.RowDescription:
				b.WriteString(" T[")
				for i, fd := range m.Fields {
					if i > 0 {
						b.WriteByte(' ')
					}
					fmt.Fprintf(&b, "%s/%d", fd.Name, fd.Format)
				}
				b.WriteString("]")
				binaryCols = len(m.Fields) > 0 && m.Fields[0].Format == 1
			case *pgproto3.DataRow:
				first := string(m.Values[0])
				if binaryCols && len(m.Values[0]) == 8 {
					first = fmt.Sprint(int64(binary.BigEndian.Uint64(m.Values[0])))
				}
				fmt.Fprintf(&b, " D[%s %s]", first, m.Values[1])
			case *pgproto3.CommandComplete:
				fmt.Fprintf(&b, " C[%s]", m.CommandTag)
			case *pgproto3.ErrorResponse:
				fmt.Fprintf(&b, " E[%s]", m.Code)
			case *pgproto3.PortalSuspended:
				b.WriteString(" s")
			case *pgproto3.NoData:
				b.WriteString(" n")
			case *pgproto3.CloseComplete:
				b.WriteString(" 3")
			case *pgproto3.ReadyForQuery:
				fmt.Fprintf(&b, " Z[%c]", m.TxStatus)
				done = true
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// A cursor pgshard holds keeps its rows in memory, so pool.cursor_max_mib
// bounds them: a DECLARE whose rows pass it gets 54000 and holds nothing,
// the session goes on, and a smaller cursor still works. Both kinds it
// holds: one over several shards, and in transaction pooling a WITH HOLD
// one on one shard.
func TestHeldCursorsAreBounded(t *testing.T) {
	ctx := ctxFor(t, 2*time.Minute)
	p := startPgshard(t, "pool: {size: 8, queue_timeout: 10s, cursor_max_mib: 1}")
	c := connect(t, p.DSN("app", "app-secret"))
	for _, cursor := range []struct {
		declare string
		rows    int // with 100 in place of 2100
	}{
		// About 2 MiB from each of the three shards.
		{"DECLARE big CURSOR FOR SELECT repeat('x', 1000) FROM users, generate_series(1, 2100) WHERE user_id IN (1, 2, 8)", 300},
		{"DECLARE big CURSOR WITH HOLD FOR SELECT repeat('x', 1000) FROM users, generate_series(1, 2100) WHERE user_id = 1", 100},
	} {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exec(ctx, cursor.declare)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "54000" || !strings.Contains(pe.Message, "pool.cursor_max_mib (1 MiB)") {
			t.Fatalf("%s: %v, want 54000 naming pool.cursor_max_mib", cursor.declare, err)
		}
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		small := strings.Replace(cursor.declare, "2100", "100", 1)
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, small); err != nil {
			t.Fatalf("%s: %v", small, err)
		}
		if tag, err := c.Exec(ctx, "MOVE ALL IN big"); err != nil || tag.String() != fmt.Sprintf("MOVE %d", cursor.rows) {
			t.Fatalf("MOVE ALL after %s: %v %v, want MOVE %d", small, tag, err, cursor.rows)
		}
		if _, err := c.Exec(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, "CLOSE ALL"); err != nil {
			t.Fatal(err)
		}
	}
}
