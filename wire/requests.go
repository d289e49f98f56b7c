package wire

import (
	"time"

	"github.com/pgshard/pgshard/internal/metrics"
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
}

// beginRequest marks a request's first message; later messages of the same
// batch leave it.
func (s *session) beginRequest() {
	if s.req.start.IsZero() {
		s.req.start = time.Now()
	}
}

// noteRoute records a statement of the request as routed by rt; nil
// stands for a statement refused before its route was made.
func (s *session) noteRoute(rt *router.Route) {
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
		s.dbm.Observe(s.req.kinds[0], time.Since(s.req.start))
	}
	s.req.start, s.req.kinds, s.req.replica = time.Time{}, s.req.kinds[:0], false
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
