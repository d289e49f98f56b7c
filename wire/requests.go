package wire

import (
	"strconv"
	"strings"
	"time"

	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/internal/sqltext"
	"github.com/pgshard/pgshard/router"
)

// request is the client request a session is answering, for
// pgshard_route_statements_total and pgshard_statement_duration_seconds:
// a Query, or an extended-protocol batch from its first message to its
// Sync. Each statement routed in it is counted once by its route's kind;
// the request's time, from its first message to its answer, is observed
// under its first statement's kind.
type request struct {
	start time.Time
	kinds []metrics.RouteKind
	// replica: a statement of the request ran on a replica.
	replica bool
	// text is the request's first statement, for the slow-request log.
	text string
}

// beginRequest marks a request's first message; later messages of the same
// batch leave it.
func (s *session) beginRequest() {
	if s.req.start.IsZero() {
		s.req.start = time.Now()
	}
}

// noteRoute records statement text of the request as routed by rt.
func (s *session) noteRoute(rt *router.Route, text string) {
	if len(s.req.kinds) == 0 {
		s.req.text = text
	}
	s.req.kinds = append(s.req.kinds, routeKind(rt))
}

// endRequest counts the request's statements and observes its time once
// it has been answered.
func (s *session) endRequest() {
	if len(s.req.kinds) > 0 && !s.req.start.IsZero() {
		target := metrics.TargetPrimary
		if s.req.replica {
			target = metrics.TargetReplica
		}
		for _, k := range s.req.kinds {
			s.dbm.Statement(k, target)
		}
		took := time.Since(s.req.start)
		s.dbm.Observe(s.req.kinds[0], took)
		if slow := s.srv.conf().LogSlowRequests; slow > 0 && took >= slow {
			s.log.Warn("slow request", "pid", s.key.pid, "duration", took.Round(time.Microsecond), "kind", s.req.kinds[0].String(),
				"target", target.String(), "statements", len(s.req.kinds), "statement", abbreviate(withoutLiterals(s.req.text)))
		}
	}
	s.req.start, s.req.kinds, s.req.replica, s.req.text = time.Time{}, s.req.kinds[:0], false, ""
}

// withoutLiterals is text with each constant replaced by a $n parameter
// numbered after the statement's own, as pg_stat_statements shows
// statements: the log keeps the statement's shape and none of its values.
func withoutLiterals(text string) string {
	n := sqltext.Normalize(text)
	var b strings.Builder
	at, param := 0, n.Params
	for _, l := range n.Literals {
		start := l.Pos
		if l.Minus >= 0 {
			start = l.Minus
		}
		if start < at {
			continue
		}
		param++
		b.WriteString(text[at:start])
		b.WriteString("$" + strconv.Itoa(param))
		at = l.End
	}
	b.WriteString(text[at:])
	return b.String()
}

// routeKind is the metrics' name for rt's routing: a statement answered
// in stages or a cursor over shards runs on several shards, as a scatter.
func routeKind(rt *router.Route) metrics.RouteKind {
	switch {
	case rt == nil || rt.Err != nil && rt.Staging() == nil:
		return metrics.KindRefuse
	case rt.Staging() != nil || rt.Kind == router.KindCursor:
		return metrics.KindScatter
	case rt.Kind == router.KindCopyIn:
		return metrics.KindCopySplit
	}
	return metrics.RouteKind(rt.Kind)
}
