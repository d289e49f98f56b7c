package wire

import (
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
)

// Server forms (pool.prepare_simple): a simple query that is one SELECT,
// INSERT, UPDATE or DELETE runs as Bind, Describe, Execute and Sync of a
// server-side prepared statement whose parameters are its literals
// (router.ServerForm), prepared on the connection the first time it runs
// there. The server then parses and plans each shape once per connection
// instead of once per query, which is most of what a short query costs
// it. The client sees what the simple protocol gives: ParseComplete,
// BindComplete and NoData are swallowed.
//
// A server may refuse a form the client's text would not have failed
// (SELECT 'a': a parameter's type cannot be inferred there; a SELECT *
// prepared before ALTER TABLE changed its columns). Outside a transaction
// the refusal is swallowed, since nothing ran, and the query is sent as it
// came; a shape refused at Parse while the query as sent works is not
// tried again. Inside a transaction block the refusal would have aborted
// the client's transaction, so there a form runs only when it cannot be
// refused that way: already prepared on the connection (so no Parse), and
// returning no rows (so DDL cannot change its result type).

// formRefusal is a server's error for a server form, and the message it
// answered: 'P' (Parse) or 'B' (Bind).
type formRefusal struct {
	*pgError
	at byte
}

// refusesForm reports whether an error at Parse or Bind of a server form
// may be the form's own doing, so the query should run as sent: syntax or
// semantics (42: a parameter where the grammar wants a constant, a type
// it cannot infer), 0A000 (cached plan must not change result type),
// 26000 (statement gone), or data (22: a literal the parameter's type
// rejects, which the query as sent reports in its own words). Anything
// else (a cancel, a lack of resources) is the query's answer either way.
func refusesForm(code string) bool {
	switch {
	case strings.HasPrefix(code, "42"), strings.HasPrefix(code, "22"):
		return true
	}
	return code == codeFeatureNotSupported || code == codeInvalidSQLStatementName
}

// useServerForm reports whether a simple query's statements run as a
// server form, which it then holds in s.form.
func (s *session) useServerForm(routed []router.Statement) bool {
	if len(routed) != 1 || s.deferred != "" || s.batchOpen || s.sc == nil {
		return false
	}
	pool := &s.srv.conf().Pool
	p := routed[0].Route.Plan
	if !pool.PrepareSimple || pool.PreparedCache == 0 || !p.HasServerForm() {
		return false
	}
	switch {
	case s.txStatus == 'I':
		return s.db.router.ServerFormOf(&routed[0], &s.form)
	case s.txStatus == 'T' && !p.ServerFormReturnsRows():
		if !s.db.router.ServerFormOf(&routed[0], &s.form) {
			return false
		}
		_, prepared := s.sc.prepared.Peek(s.form.Name)
		return prepared
	}
	return false
}

// runServerForm runs the attached statement's server form (in s.form) on
// the attached server and relays the answer as runQuery would; a form the
// server refuses runs as the client sent it.
func (s *session) runServerForm(body []byte, st *router.Statement) error {
	sc := s.sc
	f := &s.form
	s.lastNode = sc.pool.node
	s.readRetry = s.onReplica && s.txStatus == 'I'
	s.relayed = 0
	defer func() { s.readRetry = false }()
	// Inside a transaction an error must reach the client as it is: the
	// transaction is aborted, and the query as sent would only say so.
	fallback := s.txStatus == 'I'
	s.beginServerBatch()
	if _, ok := sc.prepared.Get(f.Name); !ok {
		name := strings.Clone(f.Name)
		sc.prepared.Add(name, struct{}{})
		if err := writeMsg(sc.w, &s.scratch, &pgproto3.Parse{Name: name, Query: f.Text, ParameterOIDs: f.OIDs}); err != nil {
			return s.serverLost(err, true)
		}
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actHidden, server: name, fallback: fallback})
		s.dbm.ServerForm(metrics.FormPrepared)
	}
	for _, m := range [...]encoder{
		&pgproto3.Bind{PreparedStatement: f.Name, Parameters: f.Params},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	} {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			return s.serverLost(err, true)
		}
	}
	s.pending = append(s.pending,
		pendingResp{kind: 'B', action: actHidden, fallback: fallback},
		pendingResp{kind: 'D', action: actRowDescription},
		pendingResp{kind: 'E', action: actRelay})
	if err := sc.w.Flush(); err != nil {
		return s.serverLost(err, true)
	}
	s.holdForm = fallback
	err := s.relay(true)
	s.holdForm = false
	refused := s.formRefused
	s.formRefused, s.swallowRFQ = nil, false
	if err != nil || refused == nil || s.sc == nil {
		if err == nil && refused == nil {
			s.dbm.ServerForm(metrics.FormExecuted)
		}
		return err
	}
	s.dbm.ServerForm(metrics.FormRefused)
	s.log.Debug("server refused a statement's server form; running it as sent", "code", refused.Code, "err", refused.Message)
	if refused.Code == codeFeatureNotSupported || refused.Code == codeInvalidSQLStatementName {
		// "cached plan must not change result type" after DDL, or the
		// statement is gone: close it (the LRU's eviction does) and
		// prepare it again next time.
		sc.prepared.Remove(f.Name)
	}
	if err := s.runQuery(body); err != nil {
		return err
	}
	if refused.at == 'P' && !s.sawError {
		// The query as sent worked where its form could not be prepared
		// (SELECT 'a'): the form is at fault, not the schema, and this
		// shape runs as sent from now on. Had it failed the same way (a
		// table not created yet), the form may work later.
		st.Route.Plan.RefuseServerForm()
	}
	return nil
}
