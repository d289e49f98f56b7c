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
	if sc := s.sc; sc != nil && s.mayCheckOn(sc) {
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

// mayCheckOn says whether a Parse may be checked on sc, the connection
// the session holds. Not on a replica serving a read that may run again
// on the primary (the retry replays the client's messages, not this one);
// not where the client's BEGIN has not gone yet (the Parse would run
// outside its transaction); and only on the default shard, the one shard
// that holds every table (one never sharded may live there alone, as in
// a database put behind pgshard as it was).
func (s *session) mayCheckOn(sc *serverConn) bool {
	return !s.onReplica && !s.recording && s.deferred == "" && !s.localTx &&
		s.shardOf(sc) == s.db.router.Schema().Default
}

// checkParseDuplicate checks a Parse whose name is taken before pgshard
// refuses the name: on the held connection, a hidden Parse of the unnamed
// statement pipelined ahead of that refusal, whose error (if any) the
// client gets in its place; else as checkParseAlone.
func (s *session) checkParseDuplicate(ctx context.Context, query string, oids []uint32) (*pgError, error) {
	sc := s.sc
	if sc == nil || !s.mayCheckOn(sc) {
		return s.checkParseAlone(ctx, query, oids), nil
	}
	if s.db.parsed.keys.Contains(statementKey(query, oids)) {
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

// checkParseAlone is checkParse on a connection that is not in the
// session's batch: between transactions, a connection of pgshard's own to
// the default shard in transaction pooling, or the session's own idle one
// there in session pooling. nil (unchecked) when there is none to spare,
// inside a transaction block, after DDL in the batch (what it created is
// not visible elsewhere until the batch commits), or when it fails to run.
func (s *session) checkParseAlone(ctx context.Context, query string, oids []uint32) *pgError {
	key := statementKey(query, oids)
	if s.txStatus != 'I' || s.batchUsed && s.ranDDL || s.db.parsed.keys.Contains(key) {
		// A transaction that has not reached a server yet may have set
		// what resolves names (SET LOCAL search_path): checked at its
		// Bind, in the transaction.
		return nil
	}
	def := s.db.router.Schema().Default
	var sc *serverConn
	lost := func() { sc.broken = true }
	if s.mode == config.PoolTransaction && !s.pinned {
		// The check is worth neither a wait for a busy pool nor an
		// error of its own: a shard down, or every connection in use,
		// and the statement is checked at its Bind, wherever that
		// runs, as before.
		p, err := s.shardPool(def)
		if err != nil {
			return nil
		}
		if sc = p.tryAcquire(); sc == nil {
			if p.busy() >= p.settings().Size {
				return nil
			}
			if sc, err = p.acquire(ctx); err != nil {
				return nil
			}
		}
		defer p.release(sc)
	} else {
		// Session pooling: no connection but the session's own.
		if sc = s.parked[def]; sc == nil {
			return nil
		}
		lost = func() { s.dropParked(def) }
	}
	if err := s.applySettings(sc); err != nil {
		lost()
		return nil
	}
	sc.unnamed = ""
	for _, m := range []encoder{&pgproto3.Parse{Query: query, ParameterOIDs: oids}, &pgproto3.Sync{}} {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			lost()
			return nil
		}
	}
	if err := sc.w.Flush(); err != nil {
		lost()
		return nil
	}
	var failed *pgError
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			lost()
			return nil
		}
		switch typ {
		case 'E':
			if isFatal(body) {
				// The server ended the connection (a restart): its
				// error is no answer to the statement.
				lost()
				return nil
			}
			if failed == nil {
				failed = serverError(body)
			}
		case 'Z':
			if failed == nil {
				s.db.parsed.keys.Add(key, struct{}{})
			}
			return failed
		}
	}
}
