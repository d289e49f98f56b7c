package wire

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/router"
)

// copyOut runs COPY ... TO STDOUT of a sharded table: the COPY runs on
// every shard, and their data rows reach the client one shard after the
// other, framed as one COPY (one CopyOutResponse, one CopyDone, the row
// counts added up).
func (s *session) copyOut(ctx context.Context, st *router.Statement) error {
	conns, release, err := s.acquireShards(ctx, st.Route.Shards, false)
	if err != nil {
		var pe *pgError
		if errors.As(err, &pe) && pe.Severity != "FATAL" {
			return s.refuse(pe)
		}
		return err
	}
	defer release()
	for _, c := range conns {
		c.sc.unnamed = ""
		if err := writeMsg(c.sc.w, &s.scratch, &pgproto3.Query{String: st.Text}); err != nil {
			c.sc.broken = true
			return s.refuse(s.lostShard(c, err))
		}
		if err := c.sc.w.Flush(); err != nil {
			c.sc.broken = true
			return s.refuse(s.lostShard(c, err))
		}
	}
	var total int64
	started := false
	var failed *pgError
	for _, c := range conns {
		// Every shard is read to its ReadyForQuery, so each connection
		// goes back clean whatever happened on another.
		for {
			typ, body, err := c.sc.r.next()
			if err != nil {
				c.sc.broken = true
				if failed == nil {
					failed = s.lostShard(c, err)
				}
				break
			}
			switch typ {
			case 'H':
				if !started && failed == nil {
					started = true
					if err := writeFrame(s.w, typ, body); err != nil {
						return s.clientLost()
					}
				}
			case 'd':
				if failed == nil {
					if err := writeFrame(s.w, typ, body); err != nil {
						return s.clientLost()
					}
				}
			case 'C':
				tag := strings.TrimRight(string(body), "\x00")
				if n, err := strconv.ParseInt(strings.TrimPrefix(tag, "COPY "), 10, 64); err == nil {
					total += n
				}
			case 'E':
				if failed == nil {
					failed = serverError(body)
				}
			case 'N':
				if err := writeFrame(s.w, typ, body); err != nil {
					return s.clientLost()
				}
			}
			if typ == 'Z' {
				break
			}
		}
	}
	if failed != nil {
		// An ErrorResponse ends a COPY OUT the client is in, as it would
		// from one server.
		if err := writeMsg(s.w, &s.scratch, failed.response()); err != nil {
			return errClientGone
		}
		return writeMsg(s.w, &s.scratch, &pgproto3.ReadyForQuery{TxStatus: s.txStatus})
	}
	if err := writeFrame(s.w, 'c', nil); err != nil {
		return errClientGone
	}
	return s.complete("COPY " + strconv.FormatInt(total, 10))
}
