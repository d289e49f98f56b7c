package wire

import (
	"context"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
)

// A server checks a statement when it parses it: the tables and columns
// it names must exist, its parameters must fit where they stand (42P01,
// 42846, 42P18). pgshard prepares a client's statement only where a later
// Bind runs it, so without a check of its own a Parse the server would
// refuse is acknowledged, and fails a call later — after libpq's
// PQprepare has reported success, and, in a transaction block, after the
// point where the transaction should have failed. checkParse has a server
// parse the statement at the client's Parse instead: on the connection
// the session holds, pipelined with the rest of the batch (its
// ParseComplete or error is the client's answer), or, with none, once on a
// connection of its own, remembered per database for every session until
// DDL passes through pgshard.

// parsedStatements are the statements (statementKey) a server has parsed
// without error on a connection of pgshard's own.
type parsedStatements struct {
	keys *lru.Cache[string, struct{}]
}

func newParsedStatements(size int) *parsedStatements {
	c, _ := lru.New[string, struct{}](size)
	return &parsedStatements{keys: c}
}

// checkParse checks st as the server would at its Parse. eager says the
// Parse went to the attached server, which answers it in its turn (the
// caller queues no answer of its own); pe is the server's refusal, when
// the check ran on a connection of its own.
func (s *session) checkParse(ctx context.Context, st *statement, dropped restore) (eager bool, pe *pgError, err error) {
	if s.db.parsed.keys.Contains(st.key) {
		return false, nil, nil
	}
	if sc := s.sc; sc != nil {
		if s.onReplica || s.recording || s.deferred != "" || s.localTx {
			// A read that may run again on the primary replays the
			// client's messages, not this one; a transaction whose
			// BEGIN has not gone to this connection would have the
			// Parse run outside it: checked at the Bind.
			return false, nil, nil
		}
		if st.server == "" && sc.unnamed == st.key {
			return false, nil, nil
		}
		if _, ok := sc.prepared.Get(st.server); ok && st.server != "" {
			return false, nil, nil
		}
		s.beginServerBatch()
		if err := writeMsg(sc.w, &s.scratch, &pgproto3.Parse{Name: st.server, Query: st.query, ParameterOIDs: st.oids}); err != nil {
			return false, nil, s.serverLost(err, false)
		}
		if st.server == "" {
			sc.unnamed = st.key
		} else {
			sc.prepared.Add(st.server, struct{}{}) // failBatch unmarks it
		}
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actRelay, server: st.server, restore: dropped})
		return true, nil, nil
	}
	return false, s.checkParseAlone(ctx, st.query, st.oids), nil
}

// checkParseDuplicate checks a Parse whose name is taken before pgshard
// refuses the name: on the held connection, a hidden Parse of the unnamed
// statement pipelined ahead of that refusal, whose error (if any) the
// client gets in its place; else as checkParseAlone.
func (s *session) checkParseDuplicate(ctx context.Context, query string, oids []uint32) (*pgError, error) {
	sc := s.sc
	if sc == nil {
		return s.checkParseAlone(ctx, query, oids), nil
	}
	if s.onReplica || s.recording || s.deferred != "" || s.localTx || s.db.parsed.keys.Contains(statementKey(query, oids)) {
		return nil, nil
	}
	s.beginServerBatch()
	if err := writeMsg(sc.w, &s.scratch, &pgproto3.Parse{Query: query, ParameterOIDs: oids}); err != nil {
		return nil, s.serverLost(err, false)
	}
	sc.unnamed = "" // replaced by this one
	s.pending = append(s.pending, pendingResp{kind: 'P', action: actHidden})
	return nil, nil
}

// checkParseAlone is checkParse on a connection of pgshard's own, when
// the session holds none; nil (unchecked) when it holds one, or is in a
// transaction block.
func (s *session) checkParseAlone(ctx context.Context, query string, oids []uint32) *pgError {
	key := statementKey(query, oids)
	if s.sc != nil || s.txStatus != 'I' || s.mode != config.PoolTransaction || s.pinned || s.db.parsed.keys.Contains(key) {
		// A transaction that has not reached a server yet may have set
		// what resolves names (SET LOCAL search_path): checked at its
		// Bind, in the transaction. A session of session pooling uses
		// no connection but its own.
		return nil
	}
	// The check is worth neither a wait for a busy pool nor an error of
	// its own: a shard down, or every connection in use, and the
	// statement is checked at its Bind, wherever that runs, as before.
	p, perr := s.shardPool(s.currentShard())
	if perr != nil {
		return nil
	}
	sc := p.tryAcquire()
	if sc == nil {
		if p.busy() >= p.settings().Size {
			return nil
		}
		var aerr error
		if sc, aerr = p.acquire(ctx); aerr != nil {
			return nil
		}
	}
	defer p.release(sc)
	if err := s.applySettings(sc); err != nil {
		// Checked at the Bind instead, as before; the connection may
		// be in any state.
		sc.broken = true
		return nil
	}
	sc.unnamed = ""
	for _, m := range []encoder{&pgproto3.Parse{Query: query, ParameterOIDs: oids}, &pgproto3.Sync{}} {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			sc.broken = true
			return nil
		}
	}
	if err := sc.w.Flush(); err != nil {
		sc.broken = true
		return nil
	}
	var failed *pgError
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			sc.broken = true
			return nil
		}
		switch typ {
		case 'E':
			if failed == nil {
				failed = serverError(body)
			}
			if isFatal(body) {
				// The server ended the connection (a restart): its
				// error is no answer to the statement.
				sc.broken = true
				return nil
			}
		case 'Z':
			if failed == nil {
				s.db.parsed.keys.Add(key, struct{}{})
			}
			return failed
		}
	}
}
