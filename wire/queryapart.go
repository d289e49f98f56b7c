package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// A query string of several statements is one implicit transaction on one
// server. When its statements need different shards — a migration tool
// sending a file of DDL as one query (golang-migrate, dbmate), a script's
// "BEGIN; UPDATE ... WHERE user_id IN (...); COMMIT", "SET ...; SELECT
// count(*) FROM users" — pgshard runs them one by one, as if each were a
// query of its own, inside a transaction it opens and ends itself where
// PostgreSQL wraps the string in one: an error stops the string and undoes
// what it did, and the client sees one answer with one ReadyForQuery. A
// transaction over several shards commits with two-phase commit, as any
// other.

// apartShape says whether the statements of a query string should run
// apart: some statement needs other shards than the rest, or, when
// control is set (in a transaction: its shards must all get them, and
// the string's statements may need another shard than the transaction's
// so far), some statement is transaction control, a savepoint or a SET;
// and its
// transaction control is what runApart follows (a BEGIN with options only
// first, as PostgreSQL refuses them once a statement has run; no COMMIT
// AND CHAIN or PREPARE TRANSACTION).
func apartShape(routed []router.Statement, control bool) bool {
	if len(routed) < 2 {
		return false
	}
	shard, spread := -1, false
	for i := range routed {
		rt := routed[i].Route
		switch {
		case rt.Staging() != nil || rt.NeedKeys != nil:
			spread = true
		case rt.Err != nil || rt.Kind == router.KindCopyIn || rt.Kind == router.KindCopyOut:
			return false // answered as before: refused, or COPY's own protocol
		case rt.Kind == router.KindSession || rt.Kind == router.KindAny:
		case rt.Single():
			if shard >= 0 && shard != int(rt.Shards[0]) {
				spread = true
			}
			shard = int(rt.Shards[0])
		default:
			spread = true
		}
		if txControl(routed[i].Text) == "other" || i > 0 && isBegin(routed[i].Text) && !plainBegin(routed[i].Text) {
			return false
		}
		if control && (txControl(routed[i].Text) != "" || everywhereTag(sqltext.FirstWords(routed[i].Text)) != "") {
			spread = true
		}
	}
	return spread
}

// savepointCommand names a savepoint statement as PostgreSQL's errors do.
var savepointCommand = map[string]string{"SAVEPOINT": "SAVEPOINT", "RELEASE": "RELEASE SAVEPOINT", "ROLLBACK": "ROLLBACK TO SAVEPOINT"}

func isBegin(stmt string) bool {
	w := sqltext.FirstWords(stmt)
	return w.Is(0, "begin") || w.Is(0, "start")
}

// plainBegin says whether a BEGIN sets nothing about the transaction.
func plainBegin(stmt string) bool {
	switch strings.Join(strings.Fields(strings.ToLower(strings.TrimRight(stmt, "; \t\r\n"))), " ") {
	case "begin", "begin transaction", "begin work", "start transaction":
		return true
	}
	return false
}

// runApart runs routed, the statements of query string q, one by one, as
// PostgreSQL runs a string: a statement run while no transaction is open
// opens an implicit one, which a BEGIN turns into the client's and a
// COMMIT or ROLLBACK ends (with PostgreSQL's warning); the first error
// stops the string and rolls back the implicit transaction (a client's
// stays failed); the implicit transaction left at the end commits.
func (s *session) runApart(ctx context.Context, q string, routed []router.Statement) error {
	orig := s.w
	f := &answerFilter{out: orig}
	s.w = bufio.NewWriterSize(f, clientWriteBufSize)
	defer func() { s.w = orig }()
	run := func(text string, offset int) error {
		f.offset = offset
		if err := s.simpleQuery(ctx, append([]byte(text), 0)); err != nil {
			return err
		}
		if err := s.w.Flush(); err != nil {
			return errClientGone
		}
		return nil
	}
	// pgshard's own BEGIN and COMMIT answer nothing but their errors.
	quietly := func(text string) error {
		f.mute = true
		defer func() { f.mute = false }()
		return run(text, 0)
	}
	implicit := false
	for i := range routed {
		text := routed[i].Text
		control := txControl(text)
		var err error
		switch {
		case isBegin(text) && implicit:
			// The implicit transaction becomes the client's.
			implicit = false
			err = s.complete(beginTag(sqltext.FirstWords(text)))
		case (control == "COMMIT" || control == "ROLLBACK") && implicit:
			implicit = false
			if err = writeMsg(s.w, &s.scratch, &pgproto3.NoticeResponse{Severity: "WARNING", SeverityUnlocalized: "WARNING",
				Code: "25P01", Message: "there is no transaction in progress"}); err == nil {
				err = run(text, utf8.RuneCountInString(q[:routed[i].At]))
			}
		case control == "SAVEPOINT" && implicit:
			// The error ends the string, whose transaction is rolled back:
			// no server needs to fail it first.
			pe := &pgError{Code: "25P01", Message: savepointCommand[savepointTag(sqltext.FirstWords(text))] + " can only be used in transaction blocks"}
			err = writeMsg(s.w, &s.scratch, pe.response())
		default:
			if s.txStatus == 'I' && !isBegin(text) && control == "" {
				if err := quietly("BEGIN"); err != nil {
					return err
				}
				implicit = true
			}
			err = run(text, utf8.RuneCountInString(q[:routed[i].At]))
		}
		if err != nil {
			return err
		}
		if err := s.w.Flush(); err != nil {
			return errClientGone
		}
		if f.sawError {
			break
		}
	}
	if implicit && s.txStatus != 'I' {
		end := "COMMIT"
		if f.sawError || s.txStatus == 'E' {
			end = "ROLLBACK"
		}
		if err := quietly(end); err != nil {
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		return errClientGone
	}
	s.w = orig
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// answerFilter passes the answers of statements run apart to the client's
// writer as the answer to one query: without their ReadyForQuery, with
// error positions counted from the start of the whole string, and, while
// mute (pgshard's own BEGIN and COMMIT), with only errors, notices and
// parameter changes. It notes whether an error went by.
type answerFilter struct {
	out      *bufio.Writer
	mute     bool
	offset   int // characters before the running statement in the string
	sawError bool

	hdr   [5]byte
	nhdr  int
	left  int  // body bytes of the current message still to come
	keep  bool // the current message goes to the client
	held  []byte
	whole bool // the current message is held whole, to be rewritten
}

func (f *answerFilter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if f.nhdr < len(f.hdr) {
			c := copy(f.hdr[f.nhdr:], p)
			f.nhdr += c
			p = p[c:]
			if f.nhdr < len(f.hdr) {
				break
			}
			f.start()
			if f.left == 0 {
				if err := f.end(); err != nil {
					return 0, err
				}
			}
			continue
		}
		c := min(f.left, len(p))
		switch {
		case f.whole:
			f.held = append(f.held, p[:c]...)
		case f.keep:
			if _, err := f.out.Write(p[:c]); err != nil {
				return 0, err
			}
		}
		f.left -= c
		p = p[c:]
		if f.left == 0 {
			if err := f.end(); err != nil {
				return 0, err
			}
		}
	}
	// What the session flushes reaches the client then, as it would.
	return n, f.out.Flush()
}

// start decides what to do with the message whose header is complete.
func (f *answerFilter) start() {
	typ := f.hdr[0]
	f.left = int(binary.BigEndian.Uint32(f.hdr[1:])) - 4
	if typ == 'E' {
		f.sawError = true
	}
	f.keep = typ != 'Z' && (!f.mute || typ == 'E' || typ == 'N' || typ == 'S')
	f.whole = f.keep && typ == 'E' && f.offset > 0
	f.held = f.held[:0]
	if f.keep && !f.whole {
		_, _ = f.out.Write(f.hdr[:])
	}
}

// end finishes the current message: an error held whole is written with
// its position moved.
func (f *answerFilter) end() error {
	f.nhdr = 0
	if !f.whole {
		return nil
	}
	var e pgproto3.ErrorResponse
	if err := e.Decode(f.held); err != nil {
		return err
	}
	if e.Position > 0 {
		e.Position += int32(f.offset)
	}
	b, err := e.Encode(nil)
	if err != nil {
		return err
	}
	_, err = f.out.Write(b)
	return err
}
