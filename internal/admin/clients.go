package admin

import (
	"net/http"
	"strconv"
	"time"
)

// ClientStatus is one client session, as GET /clients lists it: who is
// connected, what state the session is in, and which server backends it
// holds, so a backend pid seen in pg_stat_activity or pg_locks on a shard
// can be traced to its client (PgBouncer's SHOW CLIENTS and SHOW SERVERS).
type ClientStatus struct {
	// PID is the process ID pgshard gave the client in BackendKeyData
	// (libpq's PQbackendPID); pg_backend_pid() run through pgshard
	// answers the server's instead.
	PID      uint32 `json:"pid"`
	User     string `json:"user"`
	Database string `json:"database"`
	Address  string `json:"address"`
	// ApplicationName is the one the client sent at login.
	ApplicationName string `json:"application_name"`
	TLS             bool   `json:"tls"`
	PoolMode        string `json:"pool_mode"`
	// Pinned: a transaction-pooling session that took session state and
	// keeps its server connections (pool.session_state: pin).
	Pinned bool `json:"pinned,omitempty"`
	// Listening is how many channels pgshard listens on for the session
	// (LISTEN in transaction pooling).
	Listening int `json:"listening,omitempty"`
	// State is pg_stat_activity's: active, idle, idle in transaction,
	// idle in transaction (aborted); or paused, for a session whose next
	// transaction a pause holds back.
	State       string    `json:"state"`
	ConnectedAt time.Time `json:"connected_at"`
	// TransactionSince is when the client's open transaction block began,
	// as pgshard saw it; absent outside one.
	TransactionSince *time.Time `json:"transaction_since,omitempty"`
	// Servers are the server connections the session holds now.
	Servers []ClientServer `json:"servers"`
}

// ClientServer is a server connection a client session holds.
type ClientServer struct {
	Shard      string `json:"shard"`
	Node       string `json:"node"`
	Address    string `json:"address"`
	BackendPID uint32 `json:"backend_pid"`
}

// HandleClients serves GET /clients, authenticated as /status is, with
// what clients returns: every open client session. Call it before Serve.
func (s *Server) HandleClients(clients func() []ClientStatus) {
	s.clients = clients
	s.mux.Handle("GET /clients", s.auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		list := clients()
		if list == nil {
			list = []ClientStatus{}
		}
		s.writeJSON(w, http.StatusOK, list)
	})))
}

// HandleTerminate serves POST /clients/terminate?pid=N, authenticated as
// /status is: terminate ends that client session (as pg_terminate_backend
// ends a backend). 404 when no session has the pid, 400 for a pid that is
// not a number. Call it before Serve.
func (s *Server) HandleTerminate(terminate func(pid uint32) error) {
	s.terminate = terminate
	s.mux.Handle("POST /clients/terminate", s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pid, err := strconv.ParseUint(r.URL.Query().Get("pid"), 10, 32)
		if err != nil {
			plain(w, http.StatusBadRequest, "pid: want the process ID /clients lists")
			return
		}
		if err := terminate(uint32(pid)); err != nil {
			plain(w, http.StatusNotFound, err.Error())
			return
		}
		s.writeJSON(w, http.StatusOK, map[string]uint32{"terminated": uint32(pid)})
	})))
}

// ServerStatus is one server connection of the pools, as GET /servers
// and the console's SHOW SERVERS list it (PgBouncer's SHOW SERVERS): which
// backend on which node, and whether a client holds it.
type ServerStatus struct {
	Database string `json:"database"`
	User     string `json:"user"`
	Shard    string `json:"shard"`
	Node     string `json:"node"`
	Address  string `json:"address"`
	// BackendPID is the server's process ID, as pg_stat_activity.pid.
	BackendPID uint32 `json:"backend_pid"`
	// State is ServerInUse or ServerIdle.
	State string `json:"state"`
	// ClientPID is the process ID of the client session holding it (as
	// /clients lists it); 0 when idle.
	ClientPID uint32    `json:"client_pid,omitempty"`
	OpenedAt  time.Time `json:"opened_at"`
	// IdleSince is when it went back to its pool; absent in use.
	IdleSince *time.Time `json:"idle_since,omitempty"`
	// PreparedStatements counts the statements pgshard keeps prepared on
	// it (pool.prepared_cache).
	PreparedStatements int `json:"prepared_statements"`
}

// Server connection states.
const (
	ServerInUse = "in use"
	ServerIdle  = "idle"
)

// HandleServers serves GET /servers, authenticated as /status is, with
// what servers returns: the pools' server connections. Call it before
// Serve.
func (s *Server) HandleServers(servers func() []ServerStatus) {
	s.servers = servers
	s.mux.Handle("GET /servers", s.auth(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		list := servers()
		if list == nil {
			list = []ServerStatus{}
		}
		s.writeJSON(w, http.StatusOK, list)
	})))
}
