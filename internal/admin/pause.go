package admin

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// PauseResult is the answer of POST /pause.
type PauseResult struct {
	Databases []PausedDatabase `json:"databases"`
}

// PausedDatabase is one database a pause holds.
type PausedDatabase struct {
	Name string `json:"name"`
	// OpenTransactions counts the sessions still in a transaction (or
	// running a statement) when the answer was given; 0 means the
	// database is quiet: no server connection is in use for it.
	OpenTransactions int `json:"open_transactions"`
	// Until is when the pause ends by itself if not resumed.
	Until time.Time `json:"until"`
}

// ResumeResult is the answer of POST /resume.
type ResumeResult struct {
	Resumed []string `json:"resumed"` // databases that were paused
}

// Pauser is what /pause and /resume drive (wire.Server). Names empty means
// every database.
type Pauser interface {
	Pause(ctx context.Context, names []string, wait, max time.Duration) ([]PausedDatabase, error)
	Resume(names []string) ([]string, error)
}

// DefaultPauseMax is how long a pause lasts when the request does not say:
// long enough for a switchover, short enough that a forgotten pause does
// not hold clients for good.
const DefaultPauseMax = 5 * time.Minute

// HandlePause serves POST /pause and POST /resume, authenticated as
// /status is. /pause?database=NAME&wait=DURATION&max=DURATION holds the
// database's new transactions back (every database without database=),
// then waits up to wait (default 0) for those open to end and answers
// with how many still are; max (default DefaultPauseMax) ends the pause
// by itself. /resume?database=NAME lets the held transactions go. A bad
// parameter or an unknown database is 400. Call it before Serve.
func (s *Server) HandlePause(p Pauser) {
	s.pauser = p
	s.mux.Handle("POST /pause", s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		wait, err := durationParam(q.Get("wait"), 0)
		if err != nil {
			plain(w, http.StatusBadRequest, "wait: "+err.Error())
			return
		}
		max, err := durationParam(q.Get("max"), DefaultPauseMax)
		if err != nil || max <= 0 {
			plain(w, http.StatusBadRequest, "max: want a positive duration such as 2m")
			return
		}
		dbs, err := p.Pause(r.Context(), q["database"], wait, max)
		if err != nil {
			plain(w, http.StatusBadRequest, err.Error())
			return
		}
		s.log.Info("databases paused through the admin listener", "databases", len(dbs), "wait", wait, "max", max)
		s.writeJSON(w, http.StatusOK, PauseResult{Databases: dbs})
	})))
	s.mux.Handle("POST /resume", s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resumed, err := p.Resume(r.URL.Query()["database"])
		if err != nil {
			plain(w, http.StatusBadRequest, err.Error())
			return
		}
		if resumed == nil {
			resumed = []string{}
		}
		s.writeJSON(w, http.StatusOK, ResumeResult{Resumed: resumed})
	})))
}

func durationParam(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d < 0 {
		return 0, errNegative
	}
	return d, err
}

var errNegative = errors.New("negative duration")
