package admin

import "net/http"

// ReloadResult is the answer of POST /reload.
type ReloadResult struct {
	Reloaded bool `json:"reloaded"`
	// Changed names the settings the reload changed (empty when the file
	// was the same).
	Changed []string `json:"changed"`
	// Error says why the running configuration stays in force.
	Error string `json:"error,omitempty"`
}

// HandleReload serves POST /reload, authenticated as /status is: reload
// reads the configuration file again and applies it, as SIGHUP does. The
// answer is 200 with the settings changed, or 409 with why nothing was
// (a file that does not load, or settings only a restart can change), so
// the caller learns the outcome without reading pgshard's log. Call it
// before Serve.
func (s *Server) HandleReload(reload func() ([]string, error)) {
	s.reload = reload
	s.mux.Handle("POST /reload", s.auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		changed, err := reload()
		res := ReloadResult{Reloaded: err == nil, Changed: changed}
		if res.Changed == nil {
			res.Changed = []string{}
		}
		code := http.StatusOK
		if err != nil {
			res.Error, code = err.Error(), http.StatusConflict
		}
		s.writeJSON(w, code, res)
	})))
}
