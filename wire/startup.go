package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/metrics"
	"github.com/pgshard/pgshard/router"
)

// startupTimeout bounds the handshake and authentication, like Postgres's
// authentication_timeout.
const startupTimeout = 60 * time.Second

// handshake runs a new client connection from its first byte to
// ReadyForQuery and returns its session, or nil when the connection ended
// (refused, or a cancel or encryption request). Encryption and cancel
// requests are answered here.
func (srv *Server) handshake(ctx context.Context, conn net.Conn) *session {
	_ = conn.SetDeadline(time.Now().Add(startupTimeout))
	// One configuration serves the whole start-up, even if a reload
	// happens meanwhile: the certificate channel binding hashes must be
	// the one the handshake presented.
	l := srv.live.Load()
	st := srv.startupMessage(ctx, conn, l, true)
	if st == nil {
		return nil
	}
	conn, be, tlsState, startup := st.conn, st.be, st.tlsState, st.msg

	s, err := srv.login(ctx, conn, be, l, tlsState, startup)
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = fatalf(codeProtocolViolation, err.Error())
		}
		pe.Severity = "FATAL"
		be.Send(pe.response())
		_ = be.Flush()
		srv.metrics.Refused(loginRefusal(err, pe.Code)).Inc()
		srv.log.Info("connection refused", "remote", clientAddress(conn), "user", startup.Parameters["user"], "code", pe.Code, "reason", pe.Message)
		_ = conn.Close()
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	return s
}

// startup is a connection that has sent its StartupMessage: over TLS
// when it asked for it.
type startup struct {
	conn     net.Conn
	be       *pgproto3.Backend
	tlsState *tls.ConnectionState
	msg      *pgproto3.StartupMessage
}

// startupMessage answers a new connection's encryption requests until its
// StartupMessage comes, and returns it; nil when the connection ended (it
// is closed then). A CancelRequest ends the connection too, once acted on
// if cancels says so.
func (srv *Server) startupMessage(ctx context.Context, conn net.Conn, l *loaded, cancels bool) *startup {
	be := pgproto3.NewBackend(conn, conn)
	var tlsState *tls.ConnectionState
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			srv.log.Debug("startup", "remote", clientAddress(conn), "err", err)
			_ = conn.Close()
			return nil
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if l.tls == nil || tlsState != nil {
				if _, err := conn.Write([]byte{'N'}); err != nil {
					_ = conn.Close()
					return nil
				}
				continue
			}
			if _, err := conn.Write([]byte{'S'}); err != nil {
				_ = conn.Close()
				return nil
			}
			tc := tls.Server(conn, l.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				srv.log.Info("TLS handshake failed", "remote", clientAddress(conn), "err", err)
				_ = conn.Close()
				return nil
			}
			st := tc.ConnectionState()
			tlsState = &st
			conn = tc
			be = pgproto3.NewBackend(conn, conn)
		case *pgproto3.GSSEncRequest:
			if _, err := conn.Write([]byte{'N'}); err != nil {
				_ = conn.Close()
				return nil
			}
		case *pgproto3.CancelRequest:
			if cancels {
				srv.cancel(ctx, m.ProcessID, m.SecretKey)
			}
			_ = conn.Close()
			return nil
		case *pgproto3.StartupMessage:
			return &startup{conn: conn, be: be, tlsState: tlsState, msg: m}
		}
	}
}

// admitClient takes one of the max client sessions, or says none is left.
// The slot is given back when the session ends (session.end) or its login
// fails.
func (srv *Server) admitClient(max int) bool {
	if srv.clients.Add(1) > int64(max) {
		srv.clients.Add(-1)
		return false
	}
	return true
}

// loginAllowed checks where u connects from and how (users[].networks,
// require_tls) before authentication, as PostgreSQL reads pg_hba.conf
// before it asks for a password: a client that may not connect is not
// told whether its password was right. Unknown users are left to
// authentication, which fails them as it fails a wrong password.
func loginAllowed(u *config.User, conn net.Conn, tlsState *tls.ConnectionState) error {
	if u == nil {
		return nil
	}
	if u.RequireTLS && tlsState == nil {
		return &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
			Message: fmt.Sprintf("pgshard: user %q must connect over TLS", u.Name),
			Hint:    "Connect with sslmode=require (or verify-full); users[].require_tls is set for this user in pgshard's configuration."}
	}
	if isUnixSocket(conn) {
		if !u.AllowsLocal() {
			return &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
				Message: fmt.Sprintf("pgshard: user %q may not connect over the Unix socket", u.Name),
				Hint:    "users[].networks in pgshard's configuration lists where this user may connect from; add local for the Unix socket."}
		}
	} else if len(u.Networks) > 0 {
		var addr netip.Addr
		if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			addr = ta.AddrPort().Addr()
		}
		if !addr.IsValid() || !u.AllowsFrom(addr) {
			return &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
				Message: fmt.Sprintf("pgshard: user %q may not connect from %s", u.Name, addr.Unmap()),
				Hint:    "users[].networks in pgshard's configuration lists the addresses this user may connect from."}
		}
	}
	if u.ClientCert != "" {
		// Before the password, as PostgreSQL checks clientcert; after
		// the address, so a client from elsewhere learns no more.
		return certNames(tlsState, u.Name, u.ClientCert == config.ClientCertVerifyFull)
	}
	return nil
}

// loginRefused is a login refused for a reason its SQLSTATE does not tell
// apart.
type loginRefused struct {
	reason metrics.LoginRefusal
	pe     *pgError
}

func (e *loginRefused) Error() string { return e.pe.Error() }
func (e *loginRefused) Unwrap() error { return e.pe }

// userClients is the count of name's client sessions, logged in or
// logging in.
func (srv *Server) userClients(name string) *atomic.Int64 {
	if n, ok := srv.perUser.Load(name); ok {
		return n.(*atomic.Int64)
	}
	n, _ := srv.perUser.LoadOrStore(name, new(atomic.Int64))
	return n.(*atomic.Int64)
}

// loginRefusal is the metric's reason for a refused login.
func loginRefusal(err error, code string) metrics.LoginRefusal {
	if lr := (*loginRefused)(nil); errors.As(err, &lr) {
		return lr.reason
	}
	switch code {
	case codeTooManyConnections:
		return metrics.RefusedMaxClients
	case codeInvalidPassword, codeInvalidAuthorization:
		return metrics.RefusedAuth
	}
	return metrics.RefusedOther
}

// login authenticates the client and greets it as Postgres would.
func (srv *Server) login(ctx context.Context, conn net.Conn, be *pgproto3.Backend, l *loaded, tlsState *tls.ConnectionState, startup *pgproto3.StartupMessage) (*session, error) {
	params := startup.Parameters
	if params["replication"] != "" && params["replication"] != "false" && params["replication"] != "off" {
		return nil, fatalf(codeFeatureNotSupported, "pgshard does not proxy replication connections; connect to the server directly")
	}
	name := params["user"]
	if name == "" {
		return nil, fatalf(codeInvalidAuthorization, "no PostgreSQL user name specified in startup packet")
	}
	if startup.ProtocolVersion != pgproto3.ProtocolVersion30 {
		// pgshard speaks 3.0 to servers; 3.2's longer cancel keys are not relayed.
		be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	// The limit is checked before authentication, as PostgreSQL checks
	// max_connections, so a flood of connections costs no SCRAM work.
	if !srv.admitClient(l.cfg.MaxClientConn) {
		return nil, &pgError{Severity: "FATAL", Code: codeTooManyConnections,
			Message: "sorry, too many clients already",
			Detail:  fmt.Sprintf("pgshard serves at most %d client sessions at once (max_client_conn).", l.cfg.MaxClientConn),
			Hint:    "Close idle connections or pool them in the application, or raise max_client_conn in pgshard's configuration."}
	}
	admitted := false
	defer func() {
		if !admitted {
			srv.clients.Add(-1)
		}
	}()
	dbName := params["database"]
	if dbName == "" {
		dbName = name
	}
	u := l.cfg.User(name)
	if u == nil && l.cfg.PassthroughAuth != config.PassthroughOff {
		var err error
		if u, err = srv.passthroughLogin(ctx, be, l, tlsState != nil, name, dbName); err != nil {
			return nil, err
		}
	} else {
		if err := loginAllowed(u, conn, tlsState); err != nil {
			return nil, err
		}
		if err := srv.authenticate(be, l, tlsState, name, u); err != nil {
			return nil, err
		}
	}
	userSlot := srv.userClients(name)
	if n := userSlot.Add(1); u != nil && u.MaxClientConn > 0 && n > int64(u.MaxClientConn) {
		userSlot.Add(-1)
		return nil, &loginRefused{reason: metrics.RefusedUserMaxClients, pe: &pgError{Severity: "FATAL", Code: codeTooManyConnections,
			Message: fmt.Sprintf("too many connections for role %q", name),
			Detail:  fmt.Sprintf("pgshard serves at most %d sessions of this user at once (its max_client_conn).", u.MaxClientConn),
			Hint:    "Close idle connections of this user, or raise the user's max_client_conn in pgshard's configuration."}}
	}
	defer func() {
		if !admitted {
			userSlot.Add(-1)
		}
	}()
	db := srv.database(dbName)
	if db == nil {
		return nil, fatalf(codeInvalidCatalogName, fmt.Sprintf("database %q does not exist", dbName))
	}
	if e := startupRefusal(db.router.Schema(), params); e != nil {
		return nil, &pgError{Severity: "FATAL", Code: e.Code, Message: e.Message, Hint: e.Hint}
	}
	s := &session{
		srv:      srv,
		userSlot: userSlot,
		conn:     conn,
		r:        newClientFrameReader(conn, l.cfg.MaxMessageSize),
		db:       db,
		dbSlot:   srv.dbs[dbName],
		user:     u,
		mode:     l.cfg.PoolFor(u).Mode,
		txStatus: 'I',
		stmts:    map[string]*statement{},
		settings: newSessionSettings(params),
		ryw:      l.cfg.Reads.ReadYourWrites,
		dbm:      db.dbm,
	}
	s.log = srv.log.With("user", name, "database", dbName)
	s.lendBuffers()
	s.about = clientAbout{since: time.Now(), database: dbName, appName: params["application_name"], tls: tlsState != nil, mode: s.mode}
	srv.register(s)

	be.Send(&pgproto3.AuthenticationOk{})
	s.told = srv.parameterStatus(ctx, s, params)
	for k, v := range s.told {
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: s.key.pid, SecretKey: s.key.secret[:]})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		srv.forget(s)
		return nil, err
	}
	admitted = true
	if l.cfg.LogConnections {
		s.log.Info("client connected", "pid", s.key.pid, "remote", clientAddress(conn),
			"application_name", params["application_name"], "tls", tlsState != nil)
	}
	return s, nil
}

// fallbackParams are reported when no server could be reached at login, so
// drivers that insist on these values still connect; the session's first
// query reports errors properly.
var fallbackParams = map[string]string{
	"server_version":              "15.0",
	"server_encoding":             "UTF8",
	"client_encoding":             "UTF8",
	"DateStyle":                   "ISO, MDY",
	"IntervalStyle":               "postgres",
	"TimeZone":                    "UTC",
	"integer_datetimes":           "on",
	"standard_conforming_strings": "on",
	"is_superuser":                "off",
}

// parameterStatus is what the client is told at login: the servers' own
// report, with the client's startup values in place of the servers'.
func (srv *Server) parameterStatus(ctx context.Context, s *session, params map[string]string) map[string]string {
	base := fallbackParams
	if p, err := srv.route(s.db, s.user); err == nil {
		if got := p.serverParams(); got != nil {
			base = got
		} else if sc, err := p.acquire(ctx); err == nil {
			base = sc.params
			p.release(sc)
		}
	}
	out := make(map[string]string, len(base)+2)
	for k, v := range base {
		out[k] = v
	}
	for k, v := range params {
		for name := range out {
			if strings.EqualFold(name, k) {
				out[name] = v
			}
		}
	}
	out["session_authorization"] = params["user"]
	return out
}

// startupRefusal is why a client's startup parameters (options -c ...
// included) set what the database cannot serve, or nil: a client_encoding
// pgshard would hash text keys wrongly in, standard_conforming_strings off.
func startupRefusal(schema *router.Schema, params map[string]string) *router.Error {
	for name, value := range params {
		if e := schema.SettingRefusal(name, value); e != nil {
			return e
		}
	}
	for name, value := range parseOptions(params["options"]) {
		if e := schema.SettingRefusal(name, value); e != nil {
			return e
		}
	}
	return nil
}
