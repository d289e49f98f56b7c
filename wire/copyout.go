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
	conns, release, err := s.acquireShards(ctx, st.Route.Shards, false, false)
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
	join := newCopyOutJoin(st.Route.Plan.Copy)
	for i, c := range conns {
		join.startShard(i == 0)
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
				if failed != nil {
					break
				}
				data, pe := join.data(body)
				if pe != nil {
					failed = pe
					break
				}
				if len(data) > 0 {
					if err := writeFrame(s.w, typ, data); err != nil {
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
	if trailer := join.end(); trailer != nil {
		if err := writeFrame(s.w, 'd', trailer); err != nil {
			return errClientGone
		}
	}
	if err := writeFrame(s.w, 'c', nil); err != nil {
		return errClientGone
	}
	return s.complete("COPY " + strconv.FormatInt(total, 10))
}

// copyOutJoin makes one COPY stream of several shards' COPY TO output. Text
// and CSV rows pass through untouched; a HEADER line is kept from the first
// shard only; in binary format, the header is kept from the first shard,
// each shard's trailer dropped and one trailer sent at the end.
type copyOutJoin struct {
	ci     *router.CopyIn
	first  bool
	header bool // text: this shard's header line is still to be dropped
	lines  rowSplitter
	bin    binaryRows
	buf    []byte
}

func newCopyOutJoin(ci *router.CopyIn) *copyOutJoin {
	return &copyOutJoin{ci: ci}
}

// startShard resets the state for the next shard's stream.
func (j *copyOutJoin) startShard(first bool) {
	j.first = first
	if j.ci == nil {
		return
	}
	j.header = j.ci.Header && !j.ci.Binary && !first
	j.lines = rowSplitter{ci: j.ci}
	j.bin = binaryRows{}
}

// data returns what of a shard's CopyData payload goes to the client.
func (j *copyOutJoin) data(body []byte) ([]byte, *pgError) {
	switch {
	case j.ci == nil:
		return body, nil
	case j.ci.Binary:
		j.bin.feed(body)
		j.buf = j.buf[:0]
		for {
			part, kind, ok, pe := j.bin.next()
			if pe != nil {
				return nil, pe
			}
			if !ok {
				return j.buf, nil
			}
			if kind == binaryTuple || kind == binaryHeader && j.first {
				j.buf = append(j.buf, part...)
			}
		}
	case j.header:
		j.lines.feed(body)
		if _, _, ok, _ := j.lines.next(); !ok {
			return nil, nil
		}
		j.header = false
		return j.lines.buf, nil
	}
	return body, nil
}

// end returns the binary trailer, once, after every shard.
func (j *copyOutJoin) end() []byte {
	if j.ci == nil || !j.ci.Binary {
		return nil
	}
	return []byte{0xff, 0xff}
}
