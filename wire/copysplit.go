package wire

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// COPY ... FROM STDIN into a sharded table: every shard runs the COPY, and
// each data row the client sends goes to the shard owning its key. Rows are
// cut from the CopyData stream (a row may span messages) and batched per
// shard.

const copyBatch = 64 << 10

// copySplit runs a split COPY FROM STDIN (or a move) sent as a simple
// query, and answers it.
func (s *session) copySplit(ctx context.Context, st *router.Statement) error {
	if s.txStatus == 'E' {
		return s.refuse(&pgError{Code: codeInFailedTransaction, Message: "current transaction is aborted, commands ignored until end of transaction block"})
	}
	tag, pe, err := s.splitCopy(ctx, st.Route, st.Text)
	switch {
	case err != nil:
		return err
	case pe != nil:
		return s.refuse(pe)
	}
	if err := writeMsg(s.w, &s.scratch, &pgproto3.CommandComplete{CommandTag: []byte(tag)}); err != nil {
		return errClientGone
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// splitCopy runs a split COPY: the client's COPY data (text), or a move's
// rows, each to the shard owning its key. It returns the command tag, or
// the error to answer (pe), or a failure that ends the session (err). It
// writes to the client only to start a client's COPY.
func (s *session) splitCopy(ctx context.Context, rt *router.Route, text string) (string, *pgError, error) {
	ci := rt.Plan.Copy
	// Inside the client's transaction every shard the COPY reaches joins
	// it (pg_restore --single-transaction, psql -1, a driver's CopyFrom in
	// a transaction), and COMMIT commits them together; outside, the COPY
	// is a transaction of its own over its shards.
	inTx := s.txStatus == 'T'
	// Where the rows come from: the client's COPY data, or for INSERT ...
	// SELECT of rows that are not sharded (Plan.Move) the SELECT's rows,
	// read first on the shard holding them.
	next := s.r.next
	tagOf := func(rows int) string {
		if ci.Broadcast {
			// Every shard counted every row; one Postgres would count
			// each once.
			return fmt.Sprintf("COPY %d", rows)
		}
		return ""
	}
	mv := rt.Plan.Move
	var source *serverConn // a move's, while its rows stream
	if mv != nil {
		rows, src, done, pe := s.moveSource(ctx, mv, inTx)
		if pe != nil {
			return "", pe, nil
		}
		defer done()
		next, text, source = rows, mv.Target, src
		tagOf = func(rows int) string { return fmt.Sprintf("INSERT 0 %d", rows) }
	}
	// A write: the primaries, whatever the read policy.
	conns, release, err := s.acquireShards(ctx, rt.Shards, true, false)
	if err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return "", pe, nil
		}
		return "", nil, err
	}
	defer release()
	// A CancelRequest (and shutdown's deadline) reaches what runs here.
	busy := slices.Clone(conns)
	if source != nil {
		busy = append(busy, multiConn{id: s.shardOf(source), sc: source})
	}
	defer s.busyOn(busy)()
	for _, c := range conns {
		s.noteWrite(c.id) // read-your-writes: later reads wait for these rows
	}
	// One transaction over every shard: the COPY commits everywhere with
	// two-phase commit, or nowhere.
	for _, c := range conns {
		if inTx {
			break
		}
		if err := s.hiddenQuery(c.sc, "BEGIN", 1); err != nil {
			c.sc.broken = true
			return "", s.lostShard(c, err), nil
		}
	}
	keyCol := ci.KeyCol
	if keyCol < 0 && !ci.Broadcast {
		if keyCol, err = s.columnIndex(conns[0].sc, ci); err != nil {
			s.undoCopy(conns[:1], conns, inTx)
			var pe *pgError
			if errors.As(err, &pe) {
				return "", pe, nil
			}
			conns[0].sc.broken = true
			return "", &pgError{Code: codeConnectionFailure, Message: "pgshard: reading the columns of " + ci.Name + ": " + err.Error()}, nil
		}
	}
	var keys *copyKeys
	if ci.GenKey {
		var pe *pgError
		if keys, text, pe = newCopyKeys(s, ci, text); pe != nil {
			s.undoCopy(nil, conns, inTx)
			return "", pe, nil
		}
	}
	// Start the COPY everywhere; each shard answers CopyInResponse.
	var first []byte
	var startErr *pgError
	started := make([]bool, len(conns))
	for _, c := range conns {
		c.sc.unnamed = ""
		if err := writeMsg(c.sc.w, &s.scratch, &pgproto3.Query{String: text}); err != nil {
			c.sc.broken = true
			startErr = s.lostShard(c, err)
		} else if err := c.sc.w.Flush(); err != nil {
			c.sc.broken = true
			startErr = s.lostShard(c, err)
		}
	}
	for i, c := range conns {
		if c.sc.broken {
			continue
		}
		typ, body, err := s.untilCopyIn(c.sc)
		switch {
		case err != nil:
			c.sc.broken = true
			startErr = s.lostShard(c, err)
		case typ == 'G':
			started[i] = true
			if first == nil {
				first = append([]byte(nil), body...)
			}
		default: // an error, and the shard's ReadyForQuery was read
			if startErr == nil {
				startErr = serverError(body)
			}
		}
	}
	if startErr != nil {
		s.endCopies(conns, started, "pgshard: COPY did not start on every shard")
		s.undoCopy(conns, conns, inTx)
		return "", startErr, nil
	}
	if mv == nil {
		if err := writeFrame(s.w, 'G', first); err != nil {
			return "", nil, errClientGone
		}
		if err := s.w.Flush(); err != nil {
			return "", nil, errClientGone
		}
	}

	m := s.db.router.Map()
	var split copyRows = &rowSplitter{ci: ci, keyCol: keyCol}
	if ci.Binary {
		split = &binarySplitter{ci: ci, keyCol: keyCol}
	}
	out := make([][]byte, len(conns))
	index := map[shard.ShardID]int{}
	for i, c := range conns {
		index[c.id] = i
	}
	send := func(i int) error {
		if len(out[i]) == 0 {
			return nil
		}
		err := writeFrame(conns[i].sc.w, 'd', out[i])
		out[i] = out[i][:0]
		return err
	}
	rows := 0
	// add queues a row for shard i and sends the shard's batch once it is
	// big enough.
	add := func(i int, row []byte) *pgError {
		out[i] = append(out[i], row...)
		if len(out[i]) >= copyBatch {
			if err := send(i); err != nil {
				conns[i].sc.broken = true
				return s.lostShard(conns[i], err)
			}
		}
		return nil
	}
	place := func(row []byte, everywhere bool) *pgError {
		if !everywhere {
			rows++
		}
		if everywhere || ci.Broadcast {
			for i := range out {
				if pe := add(i, row); pe != nil {
					return pe
				}
			}
			return nil
		}
		id, pe := split.shardOf(row, m, rows)
		if pe != nil {
			return pe
		}
		return add(index[id], row)
	}
	var abort *pgError
	for {
		typ, body, err := next()
		var sourceErr *pgError
		if errors.As(err, &sourceErr) {
			// A move's SELECT failed midway: nothing of it is kept.
			return s.finishCopy(ctx, conns, out, send, sourceErr, "", inTx)
		}
		if err != nil {
			// The client left mid-COPY: the shards roll the COPY back.
			for i := range conns {
				conns[i].sc.broken = true
			}
			return "", nil, errClientGone
		}
		switch typ {
		case 'd':
			if abort != nil {
				continue
			}
			split.feed(body)
			if keys != nil {
				abort = keys.place(ctx, split, place)
				continue
			}
			for abort == nil {
				row, everywhere, ok, pe := split.next()
				if pe != nil {
					abort = pe
				}
				if !ok {
					break
				}
				abort = place(row, everywhere)
			}
		case 'c', 'f':
			if typ == 'c' && abort == nil {
				if row, everywhere, pe := split.end(); pe != nil {
					abort = pe
				} else if row != nil {
					if keys != nil {
						abort = keys.placeRows(ctx, []copyRow{{row, everywhere}}, place)
					} else {
						abort = place(row, everywhere)
					}
				}
			}
			if typ == 'f' && abort == nil {
				msg, _, _ := cutCString(body)
				abort = &pgError{Code: "57014", Message: "COPY from stdin failed: " + msg}
			}
			return s.finishCopy(ctx, conns, out, send, abort, tagOf(rows), inTx)
		case 'H', 'S':
			// Flush and Sync mean nothing during COPY.
		default:
			for i := range conns {
				conns[i].sc.broken = true
			}
			return "", nil, fatalf(codeProtocolViolation, fmt.Sprintf("unexpected message type %q during COPY from stdin", typ))
		}
	}
}

// finishCopy ends the COPY on every shard (CopyDone, or CopyFail after an
// error) and returns splitCopy's answer; a non-empty tag replaces the
// shards' added-up one.
func (s *session) finishCopy(ctx context.Context, conns []multiConn, out [][]byte, send func(int) error, abort *pgError, tag string, inTx bool) (string, *pgError, error) {
	results := make([]*shardResult, len(conns))
	for i, c := range conns {
		results[i] = &shardResult{id: c.id}
		if c.sc.broken {
			results[i].err = s.lostShard(c, errors.New("connection failed during COPY"))
			continue
		}
		var err error
		if abort != nil {
			err = writeMsg(c.sc.w, &s.scratch, &pgproto3.CopyFail{Message: "pgshard: " + abort.Message})
		} else if err = send(i); err == nil {
			err = writeFrame(c.sc.w, 'c', nil)
		}
		if err == nil {
			err = c.sc.w.Flush()
		}
		if err != nil {
			c.sc.broken = true
			results[i].err = s.lostShard(c, err)
		}
	}
	for i, c := range conns {
		if results[i].err != nil {
			continue
		}
		if err := s.readMulti(c, results[i], false); err != nil {
			c.sc.broken = true
			results[i].err = s.lostShard(c, err)
		}
	}
	if abort != nil {
		s.undoCopy(conns, conns, inTx)
		return "", abort, nil
	}
	if inTx {
		if slices.ContainsFunc(results, func(r *shardResult) bool { return r.err != nil }) {
			// As one server's COPY error would: the transaction fails.
			s.undoCopy(conns, conns, inTx)
		}
	} else {
		results = s.commitMulti(ctx, conns, results)
	}
	rt := &router.Route{Plan: &router.Plan{Command: "COPY"}}
	a := s.combine(rt, results)
	if a.err != nil {
		return "", a.err, nil
	}
	if tag == "" {
		tag = a.tag
	}
	return tag, nil, nil
}

// undoCopy ends a split COPY that failed. Outside a transaction the
// COPY's own transaction rolls back on every shard. Inside the client's,
// the transaction fails on every shard it has reached, as one server's
// would after an error: failed are the connections already failed by the
// error (the COPY's own, once their COPY ended in an error).
func (s *session) undoCopy(failed, conns []multiConn, inTx bool) {
	if !inTx {
		for _, c := range conns {
			s.hiddenOrBreak(c.sc, "ROLLBACK")
		}
		return
	}
	s.failParticipants(func(sc *serverConn) bool {
		return slices.ContainsFunc(failed, func(c multiConn) bool { return c.sc == sc })
	})
}

// endCopies ends the COPYs that started, when another shard could not.
func (s *session) endCopies(conns []multiConn, started []bool, why string) {
	for i, c := range conns {
		if !started[i] || c.sc.broken {
			continue
		}
		if writeMsg(c.sc.w, &s.scratch, &pgproto3.CopyFail{Message: why}) != nil || c.sc.w.Flush() != nil {
			c.sc.broken = true
			continue
		}
		if err := s.readMulti(c, &shardResult{}, false); err != nil {
			c.sc.broken = true
		}
	}
}

// untilCopyIn reads a shard's answer to the COPY statement: CopyInResponse,
// or an ErrorResponse (then its ReadyForQuery is consumed too).
func (s *session) untilCopyIn(sc *serverConn) (byte, []byte, error) {
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			return 0, nil, err
		}
		switch typ {
		case 'G':
			return typ, body, nil
		case 'E':
			body = append([]byte(nil), body...)
			for {
				t, _, err := sc.r.next()
				if err != nil {
					return 0, nil, err
				}
				if t == 'Z' {
					return 'E', body, nil
				}
			}
		}
	}
}

// columnIndex finds the key's position among the table's columns, for a
// COPY without a column list.
func (s *session) columnIndex(sc *serverConn, ci *router.CopyIn) (int, error) {
	cols, err := s.hiddenRows(sc, columnsQuery(ci.Schema, ci.Name))
	if err != nil {
		return -1, err
	}
	i, pe := keyIndex(cols, ci.Table)
	if pe != nil {
		return -1, pe
	}
	return i, nil
}

// hiddenRows runs a one-column query the client never sees.
func (s *session) hiddenRows(sc *serverConn, q string) ([]string, error) {
	var out []string
	err := s.hiddenEach(sc, q, func(typ byte, body []byte) error {
		if typ != 'D' {
			return nil
		}
		row, err := dataRow(body)
		if err == nil && len(row) > 0 {
			out = append(out, string(row[0]))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hiddenEach runs a simple query the client never sees, passing each
// message of the answer but the last to f, up to ReadyForQuery. Its error
// is the connection's, or f's, or the server's first ErrorResponse.
func (s *session) hiddenEach(sc *serverConn, q string, f func(typ byte, body []byte) error) error {
	sc.unnamed = ""
	if err := writeMsg(sc.w, &s.scratch, &pgproto3.Query{String: q}); err != nil {
		return err
	}
	if err := sc.w.Flush(); err != nil {
		return err
	}
	var first error
	for {
		typ, body, err := sc.r.next()
		switch {
		case err != nil:
			return err
		case typ == 'Z':
			return first
		case typ == 'E' && first == nil:
			first = serverError(body)
		case first == nil:
			first = f(typ, body)
		}
	}
}
