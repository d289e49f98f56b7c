package wire

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
)

// simpleQuery runs a Query message: one or more statements, answered up to
// ReadyForQuery.
func (s *session) simpleQuery(ctx context.Context, body []byte) error {
	q, _, ok := cutCString(body)
	if !ok {
		return fatalf(codeProtocolViolation, "invalid Query message")
	}
	stmts := sqltext.Split(q)
	if s.mode == config.PoolTransaction {
		for _, st := range stmts {
			if pe := unsupportedInTransactionMode(st); pe != nil {
				return s.refuse(pe)
			}
		}
	}
	if err := s.attach(ctx); err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.refuse(pe)
		}
		return err
	}
	sc := s.sc
	s.beginServerBatch()
	if err := writeFrame(sc.w, 'Q', body); err != nil {
		return s.serverLost(err, true)
	}
	if err := sc.w.Flush(); err != nil {
		return s.serverLost(err, true)
	}
	if err := s.relay(true); err != nil {
		return err
	}
	if s.sc == nil {
		return nil // the server was lost; the client has been told
	}
	s.batchUsed = false
	// A simple query replaces the unnamed prepared statement.
	sc.unnamed = ""
	s.observe(sc, stmts)
	s.maybeDetach()
	return nil
}

// refuse answers a Query with an error, as Postgres would: inside a
// transaction the transaction fails too, so pgshard makes the server fail
// it and reports its own error instead.
func (s *session) refuse(pe *pgError) error {
	if s.sc != nil && s.txStatus != 'I' {
		s.beginServerBatch()
		if err := writeMsg(s.sc.w, &s.scratch, &pgproto3.Query{String: "pgshard: injected error"}); err != nil {
			return s.serverLost(err, true)
		}
		s.pending = append(s.pending, pendingResp{kind: 'P', action: actInjected, err: pe})
		if err := s.sc.w.Flush(); err != nil {
			return s.serverLost(err, true)
		}
		err := s.relay(true)
		s.batchUsed = false
		return err
	}
	if err := writeMsg(s.w, &s.scratch, pe.response()); err != nil {
		return errClientGone
	}
	return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
}

// sendFatal tells the client why its session ends.
func (s *session) sendFatal(pe *pgError) {
	pe.Severity = "FATAL"
	_ = writeMsg(s.w, &s.scratch, pe.response())
	_ = s.w.Flush()
}
