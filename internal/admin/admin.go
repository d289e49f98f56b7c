// Package admin is pgshard's admin HTTP listener, separate from the data
// port: /metrics (Prometheus), /healthz, /readyz, /status (the topology
// as JSON, which `pgshard status` prints), /clients (the client sessions,
// which `pgshard clients` prints; POST /clients/terminate ends one), POST /reload (`pgshard reload`) and
// POST /pause and /resume (`pgshard pause`, `pgshard resume`), GET /config
// (the configuration in force, secrets redacted), GET /servers (the pools'
// server connections); and the
// commands of the admin console (console.go), an SQL face of the same for
// psql on an address of its own (admin.console).
//
// When a token is configured (config.Admin.Token), /metrics, /status,
// /config, /clients, /servers, /clients/terminate, /reload, /pause and /resume need "Authorization: Bearer <token>"; /healthz and
// /readyz are always open, so probes need no secret, and say no more than
// up/ready and why not. The token is compared in constant time and never
// logged.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
)

// StatusSource is what /readyz and /status report. Topology implements it
// from the configuration and the metrics sources; the methods are called
// per request from any goroutine and must not block on the network.
type StatusSource interface {
	// Ready reports whether pgshard should receive traffic and, when it
	// should not, a short reason (no secrets: /readyz is unauthenticated).
	Ready() (ready bool, reason string)
	// Status is the topology with each node's state, and the pools.
	Status() Status
}

// ShutdownTimeout bounds how long Serve waits for requests in flight once
// its context ends.
const ShutdownTimeout = 5 * time.Second

// Server serves the admin endpoints.
type Server struct {
	log     *slog.Logger
	token   *[sha256.Size]byte // nil: no authentication
	mux     *http.ServeMux
	handler http.Handler
	// What the endpoints report and drive, which the admin console
	// (console.go) answers from too; nil until the Handle method that
	// sets it is called.
	status    StatusSource
	reg       *metrics.Registry
	clients   func() []ClientStatus
	servers   func() []ServerStatus
	terminate func(pid uint32) error
	pauser    Pauser
	reload    func() ([]string, error)
	config    func() *config.Config
}

// New builds the admin server. reg may be nil (no /metrics), status may be
// nil (/readyz then reports ready while the process runs, /status 503).
func New(cfg config.Admin, reg *metrics.Registry, status StatusSource, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, status: status, reg: reg}
	if cfg.Token != "" {
		sum := sha256.Sum256([]byte(cfg.Token.Reveal()))
		s.token = &sum
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if status == nil {
			plain(w, http.StatusOK, "ready")
			return
		}
		if ok, reason := status.Ready(); !ok {
			plain(w, http.StatusServiceUnavailable, "not ready: "+reason)
			return
		}
		plain(w, http.StatusOK, "ready")
	})
	mux.Handle("GET /status", s.auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if status == nil {
			plain(w, http.StatusServiceUnavailable, "no status source")
			return
		}
		s.writeJSON(w, http.StatusOK, status.Status())
	})))
	if reg != nil {
		mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(reg.Gatherer(), promhttp.HandlerOpts{
			ErrorLog:            promLogger{log},
			ErrorHandling:       promhttp.ContinueOnError,
			Registry:            reg.Registerer(),
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
		})))
	}
	s.mux, s.handler = mux, mux
	return s
}

// Handler is the admin endpoints' handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx ends, then stops accepting and
// gives requests in flight up to ShutdownTimeout before closing them. It
// returns nil after such a stop, or the error that ended serving early. It
// closes ln. The serving goroutine it starts has ended when Serve returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("admin listener: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		s.log.Warn("admin listener: requests still running at shutdown; closing them", "err", err)
		_ = hs.Close()
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// auth requires the bearer token, when one is configured.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.token == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, given := bearer(r.Header.Get("Authorization"))
		// Hashing first makes the comparison constant-time in the length
		// of the token too.
		sum := sha256.Sum256([]byte(tok))
		if !given || subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
			challenge := `Bearer realm="pgshard"`
			if given {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			s.log.Debug("admin: unauthorized request", "path", r.URL.Path, "remote", r.RemoteAddr, "token_given", given)
			plain(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <admin.token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.log.Error("admin: encoding an answer", "err", err)
		plain(w, http.StatusInternalServerError, "cannot encode the answer")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

func plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintln(w, msg)
}

// promLogger passes promhttp's errors (a failed collection) to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) { l.log.Warn("admin: /metrics: " + fmt.Sprint(v...)) }
