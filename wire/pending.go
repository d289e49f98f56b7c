package wire

// pendingResp is one response the session expects from the server (or must
// make up itself) for a message of the current batch, in protocol order.
// Because pgshard virtualises prepared statements, some client messages are
// answered by pgshard (synthetic), and some server responses answer messages
// the client never sent (hidden). Keeping both in one queue keeps the order
// the client sees identical to what one Postgres would send.
type pendingResp struct {
	kind   byte   // the client message type this answers: 'P','B','D','E','C'
	action action // what to do with the response
	synth  byte   // for actSynthetic: the message type to send ('1' or '3')
	server string // for a hidden named Parse: server statement to mark prepared
	err    *pgError
	// fallback: an error answering this message means the server refused
	// pgshard's server form of a simple query (serverform.go), which then
	// runs as sent; the client never sees that error.
	fallback bool
	// restore: what handling the message changed in the session, put
	// back if the message is dropped unanswered (dropPending).
	restore restore
}

// restore is what a client message changed in the session's own
// bookkeeping as pgshard handled it. pgshard answers some messages itself
// (a Parse, a Close of a statement, a Bind of a portal it runs) while the
// server may still fail one sent before them in the same batch; PostgreSQL
// then skips everything up to Sync, so the change must not stay either:
// a statement parsed after the error must not exist, a statement closed
// after it must still exist.
type restore struct {
	stmt, portal bool // which of the session's maps changed
	name         string
	prevStmt     *statement
	prevPortal   *vportal
	prevCursor   *vcursor
	prevSQL      *sqlStatement // a PREPARE\'s statement a Close removed
}

// apply puts back what r records.
func (r *restore) apply(s *session) {
	if r.stmt {
		if r.prevStmt == nil {
			delete(s.stmts, r.name)
		} else {
			s.stmts[r.name] = r.prevStmt
		}
	}
	if r.prevSQL != nil {
		s.sqlStmts[r.name] = r.prevSQL
	}
	if r.portal {
		if r.prevPortal == nil {
			delete(s.portals, r.name)
		} else {
			if s.portals == nil {
				s.portals = map[string]*vportal{}
			}
			s.portals[r.name] = r.prevPortal
		}
		if r.prevCursor != nil {
			s.vcursors[r.name] = r.prevCursor
		}
	}
}

// failed is what stays of r's change when its message ran and failed:
// PostgreSQL drops the unnamed statement at a Parse, and the unnamed
// portal at a Bind, before it can fail, and keeps nothing new; a named
// one it had stays.
func (r *restore) failed(s *session) {
	if r.name != "" {
		r.apply(s)
		return
	}
	if r.stmt {
		delete(s.stmts, "")
	}
	if r.portal {
		delete(s.portals, "")
	}
}

// dropPending forgets the responses still owed for the batch, which will
// never come (the server skips to Sync after an error, or is gone), and
// undoes, latest first, what handling their messages changed. headFailed:
// the first of them answers the message that failed, which ran.
func (s *session) dropPending(headFailed bool) {
	for i := len(s.pending) - 1; i >= 0; i-- {
		if i == 0 && headFailed {
			s.pending[i].restore.failed(s)
		} else {
			s.pending[i].restore.apply(s)
		}
		s.pending[i] = pendingResp{}
	}
	s.pending = s.pending[:0]
}

type action uint8

const (
	actRelay          action = iota // pass the server's response to the client
	actHidden                       // swallow the server's response (pgshard's own message)
	actSynthetic                    // no server message: send synth to the client in its turn
	actInjected                     // swallow the server's error and send err instead
	actRowDescription               // pass a RowDescription, swallow NoData (a simple query's answer has none)
)

// completes reports whether a server message of type typ is the last
// response to a message of kind k.
func completes(k, typ byte) bool {
	switch k {
	case 'P':
		return typ == '1'
	case 'B':
		return typ == '2'
	case 'C':
		return typ == '3'
	case 'D':
		return typ == 'T' || typ == 'n'
	case 'E':
		return typ == 'C' || typ == 'I' || typ == 's'
	}
	return false
}
