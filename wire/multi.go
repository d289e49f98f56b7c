package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/router/merge"
	"github.com/pgshard/pgshard/shard"
)

const codeInFailedTransaction = "25P02"

// A statement the router sends to several shards runs on one connection per
// shard, all sent before any is read so the shards work in parallel; the
// answers are read whole, merged (router/merge) and sent to the client as
// the one answer a single server would have given.

// shardResult is one shard's answer.
type shardResult struct {
	id    shard.ShardID
	cols  []pgproto3.FieldDescription
	rows  []merge.Row
	tag   string
	err   *pgError
	txEnd byte // the ReadyForQuery status, 0 if none was read
}

// multiJob is what to send: per shard a text (and for the extended protocol
// the client's Bind, cut to the parameters that text takes).
type multiJob struct {
	route *router.Route
	sql   []string
	bind  *pgproto3.Bind // nil: simple protocol
	oids  []uint32
	// pullUp: the client's own simple query, which may be answered by
	// pulling its table's rows up when their merge is refused.
	pullUp bool
}

// stateful says whether the job leaves state in the server sessions it
// runs in: a LISTEN or UNLISTEN, or a temporary object made on every
// shard.
func (j *multiJob) stateful() bool {
	return listenCommand(j.route.Plan) || len(j.sql) > 0 && createsTemp(sqltext.FirstWords(j.sql[0]))
}

func newMultiJob(rt *router.Route, text string) *multiJob {
	j := &multiJob{route: rt, sql: rt.SQL}
	if j.sql == nil {
		// The text rewritten for merging (LIMIT n+m without the OFFSET,
		// avg as sum and count) only where rows of several shards are
		// merged: one shard answers the statement itself (combine).
		if rt.Plan != nil && rt.Plan.ShardSQL != "" && len(rt.Shards) > 1 {
			text = rt.Plan.ShardSQL
		}
		j.sql = make([]string, len(rt.Shards))
		for i := range j.sql {
			j.sql[i] = text
		}
	}
	return j
}

// multiConn is a connection used for one multi-shard statement.
type multiConn struct {
	id       shard.ShardID
	sc       *serverConn
	borrowed bool // the session's attached connection, not checked out here
}

// busyOn lists conns as what the session runs on, where a CancelRequest,
// the shutdown deadline and the deadlock detector look, until the
// returned function is called.
func (s *session) busyOn(conns []multiConn) (done func()) {
	s.mu.Lock()
	s.multi = conns
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.multi = nil
		s.mu.Unlock()
	}
}

// runMulti runs a job and returns each shard's answer, in shard order.
func (s *session) runMulti(ctx context.Context, j *multiJob) ([]*shardResult, error) {
	write := j.route.Plan == nil || !j.route.Plan.Read
	conns, release, err := s.acquireShards(ctx, j.route.Shards, write, j.stateful())
	if err != nil {
		return nil, err
	}
	if write && !listenCommand(j.route.Plan) {
		// A LISTEN's registration is no write: a transaction that ran one
		// on every shard (session pooling) commits on each in one phase,
		// as PostgreSQL refuses to prepare it.
		for _, c := range conns {
			s.noteWrite(c.id)
		}
	}
	defer release()
	// A data change on several shards outside a transaction is one
	// transaction: it commits everywhere with two-phase commit, or nowhere.
	// DDL runs shard by shard (VACUUM, CREATE INDEX CONCURRENTLY... cannot
	// run in a transaction), and a partial failure names the shards.
	atomic := write && s.txStatus == 'I' && len(conns) > 1 && isDML(j.route.Plan)
	if atomic {
		for _, c := range conns {
			if err := s.hiddenQuery(c.sc, "BEGIN", 1); err != nil {
				for _, c := range conns {
					c.sc.broken = true // some are in a transaction: close them all
				}
				return nil, err
			}
		}
	}
	defer s.busyOn(conns)()
	// A statement every shard runs whole (DDL, a reference-table write)
	// raises the same notices on each (DROP ... IF EXISTS, say); one server
	// would have raised each once. Shards reading or writing their own rows
	// raise their own, all passed on.
	if j.route.Kind == router.KindAll {
		s.notices = map[string]struct{}{}
		defer func() { s.notices = nil }()
	}

	var results []*shardResult
	if j.route.KeyMove != nil {
		results = s.runKeyMove(conns, j)
	} else {
		results = s.runEach(conns, j)
	}
	if atomic {
		return s.cutIfTerminated(s.commitMulti(ctx, conns, results))
	}
	if !write && s.txStatus == 'I' {
		s.retryOnPrimaries(ctx, j, conns, results)
	}
	failed := false
	failedOn := func(sc *serverConn) bool {
		i := slices.IndexFunc(conns, func(c multiConn) bool { return c.sc == sc })
		return i >= 0 && (results[i].err != nil || results[i].txEnd == 'E')
	}
	for i, c := range conns {
		if c.borrowed {
			failed = failed || failedOn(c.sc)
			if c.sc.broken && c.sc == s.sc {
				s.detach()
			}
		} else if results[i].txEnd != 'I' {
			c.sc.broken = true
		}
	}
	if s.txStatus != 'I' && failed {
		s.failParticipants(failedOn)
	}
	return s.cutIfTerminated(results)
}

// cutIfTerminated ends the session when Terminate's cancel stopped the
// statement on its shards: the client gets FATAL 57P01 alone, as from
// pg_terminate_backend, not each shard's 57014 (the session's end rolls
// back what is open).
func (s *session) cutIfTerminated(results []*shardResult) ([]*shardResult, error) {
	if s.terminated.Load() {
		for _, r := range results {
			if r.err != nil && r.err.Code == codeQueryCanceled {
				return nil, terminatedError()
			}
		}
	}
	return results, nil
}

// runEach sends j to each of conns, all before reading any answer, so
// the shards work in parallel.
func (s *session) runEach(conns []multiConn, j *multiJob) []*shardResult {
	results := make([]*shardResult, len(conns))
	for i, c := range conns {
		results[i] = &shardResult{id: c.id}
		if err := s.sendMulti(c, j, i); err != nil {
			c.sc.broken = true
			results[i].err = s.lostShard(c, err)
		}
	}
	for i, c := range conns {
		if results[i].err != nil {
			continue
		}
		if err := s.readMulti(c, results[i], j.bind != nil && s.midBatch(c)); err != nil {
			c.sc.broken = true
			results[i].err = s.lostShard(c, err)
		}
	}
	return results
}

// retryOnPrimaries runs again, on its shard's primary, each part of a
// multi-shard read that a replica failed: its connection was lost, or the
// replica cancelled the query for a recovery conflict (40001). Nothing of
// a multi-shard answer reaches the client before every shard has answered,
// so the retry is invisible to it, as for a single-shard read
// (relay.go). A lost replica is banned as when a connect fails.
func (s *session) retryOnPrimaries(ctx context.Context, j *multiJob, conns []multiConn, results []*shardResult) {
	for i, c := range conns {
		res := results[i]
		if c.borrowed || res.err == nil || c.sc.pool.node.Name == s.db.cfg.Shards[c.id].Primary.Name {
			continue
		}
		lost := c.sc.broken
		if !lost && res.err.Code != "40001" {
			continue // an error the primary would give too
		}
		node := c.sc.pool.node
		if lost {
			s.banNode(c.id, node, errors.New(res.err.Message))
		}
		s.log.Info("replica failed a multi-shard read; running its part on the primary",
			"shard", c.sc.pool.shard, "node", node.Name, "err", res.err.Message)
		p, err := s.shardPool(c.id)
		if err != nil {
			continue
		}
		sc, err := p.acquire(ctx)
		if err != nil {
			continue // the replica's error stands
		}
		if err := s.applySettings(sc); err != nil {
			sc.broken = true
			p.release(sc)
			continue
		}
		retry := multiConn{id: c.id, sc: sc}
		// The primary's connection takes the replica's place, for cancel
		// and for the caller's release; the replica's goes back now.
		s.mu.Lock()
		conns[i] = retry
		s.mu.Unlock()
		c.sc.pool.release(c.sc)
		results[i] = &shardResult{id: c.id}
		if err := s.sendMulti(retry, j, i); err != nil {
			sc.broken = true
			results[i].err = s.lostShard(retry, err)
			continue
		}
		if err := s.readMulti(retry, results[i], false); err != nil {
			sc.broken = true
			results[i].err = s.lostShard(retry, err)
		}
	}
}

func isDML(p *router.Plan) bool {
	if p == nil {
		return false
	}
	if p.Replicated {
		return true // a reference table written from a WITH clause
	}
	switch p.Command {
	case "INSERT", "UPDATE", "DELETE", "MERGE", "COPY":
		return true
	}
	return false
}

func (s *session) lostShard(c multiConn, err error) *pgError {
	return &pgError{Code: codeConnectionFailure,
		Message: fmt.Sprintf("pgshard: lost the connection to shard %s node %s: %v", c.sc.pool.shard, c.sc.pool.node.Name, err)}
}

func (s *session) sendMulti(c multiConn, j *multiJob, i int) error {
	sc := c.sc
	sql := j.sql[i]
	sc.unnamed = ""
	if j.bind == nil {
		if err := writeMsg(sc.w, &s.scratch, &pgproto3.Query{String: sql}); err != nil {
			return err
		}
		return sc.w.Flush()
	}
	b := *j.bind
	b.DestinationPortal, b.PreparedStatement = "", ""
	if m := j.route.Merge; m != nil && m.Hidden > 0 && len(b.ResultFormatCodes) > 1 && (len(j.route.Shards) > 1 || j.route.SQL != nil) {
		// Per-column formats name the client's columns; the merge's own
		// trailing columns come as text.
		b.ResultFormatCodes = append(slices.Clip(b.ResultFormatCodes), make([]int16, m.Hidden)...)
	}
	oids := j.oids
	if j.route.Params != nil {
		keep := j.route.Params[i]
		b.Parameters = make([][]byte, len(keep))
		b.ParameterFormatCodes = make([]int16, len(keep))
		oids = make([]uint32, len(keep))
		for k, old := range keep {
			if old < 0 {
				// An array cut to this shard's rows, in place of the
				// client's.
				x := j.route.Extra[-1-old]
				b.Parameters[k], b.ParameterFormatCodes[k] = x.Value, x.Format
				if x.Of < len(j.oids) {
					oids[k] = j.oids[x.Of]
				}
				continue
			}
			b.Parameters[k] = j.bind.Parameters[old]
			b.ParameterFormatCodes[k] = formatOf(j.bind.ParameterFormatCodes, old)
			if old < len(j.oids) {
				oids[k] = j.oids[old]
			}
		}
	}
	msgs := []encoder{
		&pgproto3.Parse{Query: sql, ParameterOIDs: oids},
		&b,
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
	}
	if s.midBatch(c) {
		msgs = append(msgs, &pgproto3.Flush{})
	} else {
		msgs = append(msgs, &pgproto3.Sync{})
	}
	for _, m := range msgs {
		if err := writeMsg(sc.w, &s.scratch, m); err != nil {
			return err
		}
	}
	return sc.w.Flush()
}

// formatOf expands a Bind's format codes: none means text, one applies to
// all.
func formatOf(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// midBatch says whether c is the session's attached connection with the
// client's batch under way on it: the client's Sync will reach it, so an
// extended statement over several shards ends there with a Flush. Every
// other connection gets a Sync of its own: one left waiting for a Sync
// that never comes would, after an error, ignore all that follows.
func (s *session) midBatch(c multiConn) bool {
	return c.borrowed && c.sc == s.sc && s.batchUsed
}

// readMulti reads one shard's answer: up to ReadyForQuery, or, on a
// borrowed connection inside a client's batch, up to the Execute's end.
func (s *session) readMulti(c multiConn, res *shardResult, untilExecute bool) error {
	sc := c.sc
	for {
		typ, body, err := sc.r.next()
		if err != nil {
			return err
		}
		switch typ {
		case 'T':
			var rd pgproto3.RowDescription
			if err := rd.Decode(append([]byte(nil), body...)); err != nil {
				return err
			}
			res.cols = rd.Fields
		case 'D':
			if s.rowBudget > 0 {
				if s.rowBudget -= len(body); s.rowBudget <= 0 {
					s.rowBudget = -1 // spent: drop the rest as well
				}
			}
			if s.rowBudget < 0 {
				if res.err == nil {
					res.err = errStageOverBudget
				}
				break
			}
			row, err := dataRow(append([]byte(nil), body...))
			if err != nil {
				return err
			}
			res.rows = append(res.rows, row)
		case 'C':
			res.tag = strings.TrimRight(string(body), "\x00")
			if untilExecute {
				return nil
			}
		case 'I':
			if untilExecute {
				return nil
			}
		case 'E':
			if res.err == nil {
				res.err = serverError(body)
				if pe := deadlockError(&s.victim, sc, res.err); pe != nil {
					res.err = pe
				}
			}
			if isFatal(body) {
				sc.broken = true
				return errors.New(res.err.Message)
			}
			if untilExecute {
				return nil
			}
		case 'N':
			if s.notices != nil {
				if _, dup := s.notices[string(body)]; dup {
					break
				}
				s.notices[string(body)] = struct{}{}
			}
			if err := writeFrame(s.w, typ, body); err != nil {
				return s.clientLost()
			}
		case 'S':
			// A SET run on each shard of a transaction reports its
			// change from each: the client hears it once.
			s.noteParameterStatus(body)
			if s.tell(body) {
				if err := writeFrame(s.w, typ, body); err != nil {
					return s.clientLost()
				}
			}
		case 'Z':
			if len(body) == 1 {
				res.txEnd = body[0]
			}
			return nil
		case 'G', 'H', 'W':
			sc.broken = true
			return errors.New("COPY is not supported in a statement that runs on several shards")
		}
	}
}

// dataRow splits a DataRow body into its fields (nil for NULL), sharing
// the body's bytes.
func dataRow(b []byte) (merge.Row, error) {
	if len(b) < 2 {
		return nil, errors.New("short DataRow")
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	row := make(merge.Row, n)
	for i := range row {
		if len(b) < 4 {
			return nil, errors.New("short DataRow")
		}
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 {
			continue
		}
		if l > len(b) {
			return nil, errors.New("short DataRow")
		}
		row[i] = b[:l:l]
		b = b[l:]
	}
	return row, nil
}

// multiSimple runs a simple-protocol statement on several shards.
func (s *session) multiSimple(ctx context.Context, st *router.Statement) error {
	rt := st.Route
	if pe := s.multiAllowed(rt); pe != nil {
		return s.refuse(pe)
	}
	j := newMultiJob(rt, st.Text)
	j.pullUp = true
	return s.answerMulti(ctx, rt, j, st.Text)
}

// answerMulti runs job j over its shards and answers as a simple query:
// the merged result and ReadyForQuery.
func (s *session) answerMulti(ctx context.Context, rt *router.Route, j *multiJob, text string) error {
	results, err := s.runMulti(ctx, j)
	if err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.refuse(pe)
		}
		return err
	}
	a := s.combine(rt, results)
	if a.resort != nil {
		a = s.sortOnShard(ctx, a)
	}
	if a.unmerged && a.err != nil && j.pullUp {
		// The query of one table whose rows pgshard could not merge: its
		// table's rows pulled up to one shard, which runs the query.
		refusal := &router.Error{Code: a.err.Code, Message: a.err.Message, Hint: a.err.Hint}
		if st := s.db.router.PullUp(text, refusal); st != nil {
			if final, rt, params, pe := s.fillStages(ctx, st, nil, firstParam(st, 0), s.stageRoute(nil)); pe == nil {
				s.dbm.Helped(metrics.HelpedPulledUp)
				return s.answerFilled(ctx, final, rt, params)
			}
		}
	}
	if a.err != nil {
		if err := writeMsg(s.w, &s.scratch, a.err.response()); err != nil {
			return errClientGone
		}
	} else if err := s.writeAnswer(a, true, 0, len(a.rows)); err != nil {
		return err
	} else if rt.Plan != nil && (rt.Plan.Command == "LISTEN" || rt.Plan.Command == "UNLISTEN") {
		s.trackListen(text)
	}
	s.settleWrites()
	s.maybeDetach()
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// multiAllowed refuses statements in a failed transaction, as Postgres
// does.
func (s *session) multiAllowed(rt *router.Route) *pgError {
	if s.txStatus == 'E' {
		return errorf(codeInFailedTransaction, "current transaction is aborted, commands ignored until end of transaction block")
	}
	return nil
}

// commitMulti ends the implicit transaction of a write that ran on several
// shards: two-phase commit when every shard succeeded, else rollback
// everywhere. A commit failure becomes every shard's error.
func (s *session) commitMulti(ctx context.Context, conns []multiConn, results []*shardResult) []*shardResult {
	ps := make([]participant, len(conns))
	ok := true
	for i, c := range conns {
		ps[i] = participant{c.id, c.sc}
		ok = ok && results[i].err == nil && !c.sc.broken
	}
	if !ok {
		for _, p := range ps {
			s.hiddenOrBreak(p.sc, "ROLLBACK")
		}
		var first *pgError
		for _, r := range results {
			if r.err != nil {
				first = r.err
				break
			}
		}
		if first == nil {
			first = &pgError{Code: codeConnectionFailure, Message: "pgshard: a shard's connection failed"}
		}
		e := *first
		e.Detail = strings.TrimSpace(e.Detail + " pgshard: the statement was rolled back on every shard.")
		for _, r := range results {
			r.err = &e
		}
		return results
	}
	if pe := s.commitAll(ctx, ps); pe != nil {
		for _, r := range results {
			r.err = pe
		}
	}
	return results
}

// writeAnswer sends rows [from, to) of a, with its RowDescription if desc.
func (s *session) writeAnswer(a answer, desc bool, from, to int) error {
	if a.desc != nil && desc {
		if err := writeMsg(s.w, &s.scratch, a.desc); err != nil {
			return errClientGone
		}
	}
	for _, row := range a.rows[from:to] {
		if err := writeMsg(s.w, &s.scratch, &pgproto3.DataRow{Values: row}); err != nil {
			return errClientGone
		}
	}
	if to < len(a.rows) {
		return nil
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.CommandComplete{CommandTag: []byte(a.tag)})
}
