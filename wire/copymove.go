package wire

import (
	"context"
	"fmt"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// maxMove bounds the rows one INSERT ... SELECT of rows that are not
// sharded reads before splitting them (router.Move): they are held in
// memory, since inside a transaction the shard they come from may also be
// one they go to, over the same connection.
const maxMove = 64 << 20

// moveSource reads the rows of a Move's SELECT, as COPY text data, on the
// shard holding them: the default shard for unsharded tables, the
// session's shard for reference tables and functions. Inside a
// transaction that shard joins it, so the SELECT sees the transaction's
// own writes; an error there fails the transaction on every shard.
func (s *session) moveSource(ctx context.Context, mv *router.Move) ([]byte, *pgError) {
	id := s.db.router.Schema().Default
	if mv.SourceKind == router.KindAny {
		id = s.currentShard()
	}
	conns, release, err := s.acquireShards(ctx, []shard.ShardID{id}, true)
	if err != nil {
		return nil, toPgError(err)
	}
	defer release()
	sc := conns[0].sc
	data, err := s.hiddenCopyOut(sc, mv.Source, maxMove)
	if err == nil {
		return data, nil
	}
	pe, ok := err.(*pgError)
	if !ok {
		sc.broken = true
		return nil, s.lostShard(conns[0], err)
	}
	if s.txStatus == 'T' {
		// A server error failed the transaction on sc already; pgshard's
		// own (too many rows) did not.
		serverFailed := pe.Code != codeProgramLimitExceeded
		s.failParticipants(func(other *serverConn) bool { return serverFailed && other == sc })
	}
	return nil, pe
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
