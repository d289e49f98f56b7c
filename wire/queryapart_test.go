package wire

import (
	"bufio"
	"bytes"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// TestQueryStringsRunApart: strings whose statements need different
// shards run apart when their transaction control can be followed; the
// rest go as before.
func TestQueryStringsRunApart(t *testing.T) {
	schema, err := router.NewSchema(&config.Database{Shards: []config.Shard{{Name: "s0"}, {Name: "s1"}},
		Sharding: config.Sharding{Tables: []config.ShardedTable{{Name: "users", Key: "user_id", KeyType: "bigint"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(schema, shard.NewHolder(shard.EqualMap(2)), 64)
	m := shard.EqualMap(2)
	var key [2]string
	for k := int64(1); key[0] == "" || key[1] == ""; k++ {
		key[m.Lookup(shard.HashInt(k))] = strconv.FormatInt(k, 10)
	}
	on0, on1 := "SELECT * FROM users WHERE user_id = "+key[0], "SELECT * FROM users WHERE user_id = "+key[1]
	for _, c := range []struct {
		sql     string
		apart   bool
		control bool // in a transaction
	}{
		{"SELECT count(*) FROM users", false, false}, // one statement
		{on0 + "; " + on0, false, false},             // one shard: the server runs the string
		{"SET x.y = 1; " + on1 + "; SELECT 1", false, false},
		{on0 + "; " + on1, true, false},
		{"CREATE TABLE t (a int); CREATE INDEX ON t (a)", true, false},
		{"SET search_path = app; SELECT count(*) FROM users", true, false},
		{"BEGIN; UPDATE users SET a = 1 WHERE user_id IN (" + key[0] + ", " + key[1] + "); COMMIT", true, false},
		{on0 + "; BEGIN; " + on1 + "; COMMIT; " + on0, true, false},
		{on0 + "; BEGIN ISOLATION LEVEL SERIALIZABLE; " + on1, false, false}, // PostgreSQL refuses that once a statement ran
		{"BEGIN ISOLATION LEVEL SERIALIZABLE; " + on0 + "; " + on1, true, false},
		{on0 + "; " + on1 + "; COMMIT AND CHAIN", false, false},
		{on0 + "; " + on1 + "; PREPARE TRANSACTION 'x'", false, false},
		{"COPY users FROM STDIN; " + on1, false, false},
		// In a transaction: transaction control and savepoints in a string
		// must reach every shard of it, whichever shard the string needs.
		{on0 + "; COMMIT", false, false},
		{on0 + "; COMMIT", true, true},
		{"SAVEPOINT a; " + on0, true, true},
		{on0 + "; " + on0, false, true},
	} {
		if got := apartShape(r.Simple(c.sql), c.control); got != c.apart {
			t.Errorf("%s (in a transaction: %v): apart %v, want %v", c.sql, c.control, got, c.apart)
		}
	}
}

// TestAnswerFilter: the answers of statements run apart reach the client
// as one answer, whatever the writes' boundaries.
func TestAnswerFilter(t *testing.T) {
	var msgs []pgproto3.BackendMessage
	add := func(m pgproto3.BackendMessage) { msgs = append(msgs, m) }
	add(&pgproto3.CommandComplete{CommandTag: []byte("UPDATE 6")})
	add(&pgproto3.ReadyForQuery{TxStatus: 'T'})
	add(&pgproto3.NoticeResponse{Severity: "WARNING", Code: "01000", Message: "careful"})
	add(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "42703", Message: "column does not exist", Position: 8})
	add(&pgproto3.ReadyForQuery{TxStatus: 'E'})
	var stream []byte
	for _, m := range msgs {
		var err error
		if stream, err = m.Encode(stream); err != nil {
			t.Fatal(err)
		}
	}
	for _, mute := range []bool{false, true} {
		for step := 1; step <= len(stream); step++ {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			f := &answerFilter{out: w, mute: mute, offset: 60}
			for p := stream; len(p) > 0; {
				n := min(step, len(p))
				if _, err := f.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if !f.sawError {
				t.Fatalf("step %d: the error went unnoticed", step)
			}
			var want []byte
			for i, m := range msgs {
				switch {
				case i == 0 && !mute:
				case i == 2:
				case i == 3:
					e := *m.(*pgproto3.ErrorResponse)
					e.Position = 68
					m = &e
				default:
					continue
				}
				want, _ = m.Encode(want)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("mute %v, writes of %d bytes:\ngot  %q\nwant %q", mute, step, out.Bytes(), want)
			}
		}
	}
}

// TestEndsTransaction: what a failed transaction still parses, as
// PostgreSQL's IsTransactionExitStmt says.
func TestEndsTransaction(t *testing.T) {
	for stmt, ends := range map[string]bool{
		"ROLLBACK": true, "rollback work": true, "ABORT": true, "COMMIT": true, "END": true,
		"ROLLBACK TO SAVEPOINT a": true, "rollback to a": true, "PREPARE TRANSACTION 'x'": true, "": true, " ; ": true,
		"SAVEPOINT a": false, "RELEASE a": false, "BEGIN": false, "SELECT 1": false, "COMMIT PREPARED 'x'": false,
		"ROLLBACK PREPARED 'x'": false, "PREPARE p AS SELECT 1": false, "COMMIT AND CHAIN": true,
	} {
		if got := endsTransaction(stmt); got != ends {
			t.Errorf("%q: ends a failed transaction %v, want %v", stmt, got, ends)
		}
	}
}
