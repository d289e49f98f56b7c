package wire

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// maxMove bounds the rows one INSERT ... SELECT of rows that are not
// sharded (router.Move) holds in memory inside a transaction, where the
// shard they come from may also be one they go to, over the same
// connection, so they are read whole before the split COPY starts.
// Outside a transaction they stream from a connection of their own.
const maxMove = 64 << 20

// moveSource starts reading the rows of a Move's SELECT, as COPY text
// data, on the shard holding them: the default shard for unsharded
// tables, the session's shard for reference tables and functions. It
// returns them as a client's COPY data would come (next), and done, which
// gives the connection back. Outside a transaction the rows stream from a
// pooled connection of the primary while the split COPY runs; inside
// one, that shard joins the transaction, so the SELECT sees the
// transaction's own writes, and the rows are read first (at most
// maxMove); an error there fails the transaction on every shard. A
// failure of the SELECT midway comes out of next as a *pgError.
func (s *session) moveSource(ctx context.Context, mv *router.Move, inTx bool) (next func() (byte, []byte, error), src *serverConn, done func(), pe *pgError) {
	id := s.db.router.Schema().Default
	if mv.SourceKind == router.KindAny {
		id = s.currentShard()
	}
	if !inTx {
		p, err := s.shardPool(id)
		if err != nil {
			return nil, nil, nil, toPgError(err)
		}
		sc, err := p.acquire(ctx)
		if err != nil {
			return nil, nil, nil, toPgError(err)
		}
		if err := s.applySettings(sc); err != nil {
			sc.broken = true
			p.release(sc)
			return nil, nil, nil, toPgError(err)
		}
		next, ended, pe := s.streamCopyOut(sc, mv.Source)
		if pe != nil {
			p.release(sc)
			return nil, nil, nil, pe
		}
		return next, sc, func() {
			// Given back mid-COPY (the split COPY failed to start, the
			// client left): the connection is not reusable.
			sc.broken = sc.broken || !ended()
			p.release(sc)
		}, nil
	}
	conns, release, err := s.acquireShards(ctx, []shard.ShardID{id}, true, false)
	if err != nil {
		return nil, nil, nil, toPgError(err)
	}
	defer release()
	sc := conns[0].sc
	busy := s.busyOn(conns)
	data, err := s.hiddenCopyOut(sc, mv.Source, maxMove)
	busy()
	if err == nil {
		return framesOf(data), nil, func() {}, nil
	}
	pe, ok := err.(*pgError)
	if !ok {
		sc.broken = true
		return nil, nil, nil, s.lostShard(conns[0], err)
	}
	// A server error failed the transaction on sc already; pgshard's own
	// (too many rows) did not.
	serverFailed := pe.Code != codeProgramLimitExceeded
	s.failParticipants(func(other *serverConn) bool { return serverFailed && other == sc })
	return nil, nil, nil, pe
}

// streamCopyOut sends a COPY ... TO STDOUT to sc and, once the server has
// started it, returns its rows as a client's COPY FROM STDIN data: each
// CopyData, then CopyDone once the server is ready again. An error before
// any row is returned at once; one midway comes out of next as a
// *pgError, after the server's ReadyForQuery. A lost connection is marked
// broken.
func (s *session) streamCopyOut(sc *serverConn, q string) (next func() (byte, []byte, error), ended func() bool, pe *pgError) {
	lost := func(err error) *pgError {
		sc.broken = true
		return &pgError{Code: codeConnectionFailure, Message: "pgshard: lost the connection reading the rows to move: " + err.Error()}
	}
	sc.unnamed = ""
	err := writeMsg(sc.w, &s.scratch, &pgproto3.Query{String: q})
	if err == nil {
		err = sc.w.Flush()
	}
	if err != nil {
		return nil, nil, lost(err)
	}
	finish := func() *pgError { // after CopyDone or an error: up to ReadyForQuery
		var first *pgError
		for {
			typ, body, err := sc.r.next()
			switch {
			case err != nil:
				return lost(err)
			case typ == 'E' && first == nil:
				first = serverError(body)
			case typ == 'Z':
				return first
			}
		}
	}
	for started := false; !started; {
		typ, body, err := sc.r.next()
		switch {
		case err != nil:
			return nil, nil, lost(err)
		case typ == 'E':
			first := serverError(body)
			if pe := finish(); pe != nil && sc.broken {
				return nil, nil, pe
			}
			return nil, nil, first
		case typ == 'H':
			started = true
		}
	}
	done := false
	return func() (byte, []byte, error) {
		if done {
			return 'c', nil, nil
		}
		for {
			typ, body, err := sc.r.next()
			switch {
			case err != nil:
				return 0, nil, lost(err)
			case typ == 'd':
				return 'd', body, nil
			case typ == 'c':
				done = true
				if pe := finish(); pe != nil {
					return 0, nil, pe
				}
				return 'c', nil, nil
			case typ == 'E':
				done = true
				first := serverError(body)
				if pe := finish(); pe != nil && sc.broken {
					return 0, nil, pe
				}
				return 0, nil, first
			}
		}
	}, func() bool { return done }, nil
}

// hiddenCopyOut runs a COPY ... TO STDOUT on sc and returns its data, up
// to limit bytes: beyond that the rest is read and dropped, and the answer
// is an error.
func (s *session) hiddenCopyOut(sc *serverConn, q string, limit int) ([]byte, error) {
	var data []byte
	err := s.hiddenEach(sc, q, func(typ byte, body []byte) error {
		if typ != 'd' {
			return nil
		}
		if len(data)+len(body) > limit {
			return &pgError{Code: codeProgramLimitExceeded,
				Message: fmt.Sprintf("pgshard: INSERT ... SELECT moves at most %d MiB of rows in one statement", limit>>20),
				Hint:    "Move the rows in several statements (a WHERE on ranges of the key), or with COPY ... TO STDOUT and COPY ... FROM STDIN through pgshard."}
		}
		data = append(data, body...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// framesOf serves data as a client's COPY FROM STDIN would send it: one
// CopyData and CopyDone.
func framesOf(data []byte) func() (byte, []byte, error) {
	done := false
	return func() (byte, []byte, error) {
		if !done {
			done = true
			return 'd', data, nil
		}
		return 'c', nil, nil
	}
}
