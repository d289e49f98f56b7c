package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/admin"
)

// consoleMaxSessions bounds the console's sessions, logged in or logging
// in, so a flood of connections to it costs a bounded amount of SCRAM
// work and cannot starve the data port.
const consoleMaxSessions = 16

// consoleMaxMessage caps a console client's message: its commands are
// short.
const consoleMaxMessage = 64 << 10

// ServeConsole serves the admin console (admin.console) on ln until ctx
// ends: a client logs in as to PostgreSQL, to database "pgshard" as a user
// with admin: true, over TLS when it asks and tls is configured, with the
// user's auth method; serve then answers its queries until it returns. The
// console's sessions end with ctx; ServeConsole returns once they have,
// with nil or the error that ended accepting early. It closes ln.
func (srv *Server) ServeConsole(ctx context.Context, ln net.Listener, serve func(context.Context, *admin.ConsoleSession)) error {
	var wg sync.WaitGroup
	var open atomic.Int64
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var err error
	for {
		conn, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil && retryableAccept(aerr) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if ctx.Err() == nil {
				err = fmt.Errorf("accept on the admin console: %w", aerr)
			}
			break
		}
		if open.Add(1) > consoleMaxSessions {
			open.Add(-1)
			refuseConsole(conn, &pgError{Severity: "FATAL", Code: codeTooManyConnections,
				Message: "sorry, too many clients already",
				Detail:  fmt.Sprintf("The admin console serves at most %d sessions at once.", consoleMaxSessions)})
			continue
		}
		wg.Go(func() {
			defer open.Add(-1)
			defer srv.recoverSession(conn)
			endConn := context.AfterFunc(ctx, func() { _ = conn.Close() })
			defer endConn()
			cs := srv.consoleLogin(ctx, conn)
			if cs == nil {
				return
			}
			srv.log.Info("admin console session", "user", cs.User, "remote", cs.Remote)
			serve(ctx, cs)
			_ = conn.Close()
		})
	}
	wg.Wait()
	return err
}

// consoleLogin runs a console connection's start-up and authentication,
// and returns the session ready for its first query, or nil when the
// connection ended (it is closed then, with the reason sent).
func (srv *Server) consoleLogin(ctx context.Context, conn net.Conn) *admin.ConsoleSession {
	_ = conn.SetDeadline(time.Now().Add(startupTimeout))
	l := srv.live.Load()
	st := srv.startupMessage(ctx, conn, l, false)
	if st == nil {
		return nil
	}
	conn, be := st.conn, st.be
	be.SetMaxBodyLen(consoleMaxMessage)
	params := st.msg.Parameters
	name := params["user"]
	err := func() error {
		if name == "" {
			return fatalf(codeInvalidAuthorization, "no PostgreSQL user name specified in startup packet")
		}
		if db := params["database"]; db != admin.ConsoleDatabase {
			if db == "" {
				db = name
			}
			return &pgError{Severity: "FATAL", Code: codeInvalidCatalogName,
				Message: fmt.Sprintf("database %q does not exist", db),
				Hint:    fmt.Sprintf("The admin console's database is %q, e.g. psql -h HOST -p PORT -U USER %s.", admin.ConsoleDatabase, admin.ConsoleDatabase)}
		}
		if st.msg.ProtocolVersion != pgproto3.ProtocolVersion30 {
			be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
		}
		u := l.cfg.User(name)
		if err := loginAllowed(u, conn, st.tlsState); err != nil {
			return err
		}
		if err := srv.authenticate(be, l, st.tlsState, name, u); err != nil {
			return err
		}
		// After the password, so that whoever does not know it learns
		// nothing about the user.
		if u == nil || !u.Admin {
			return &pgError{Severity: "FATAL", Code: codeInvalidAuthorization,
				Message: fmt.Sprintf("pgshard: user %q may not use the admin console", name),
				Hint:    "Set admin: true for this user in pgshard's configuration (users[])."}
		}
		return nil
	}()
	if err != nil {
		var pe *pgError
		if !errors.As(err, &pe) {
			pe = fatalf(codeProtocolViolation, err.Error())
		}
		pe.Severity = "FATAL"
		srv.log.Info("admin console login refused", "remote", clientAddress(conn), "user", name, "code", pe.Code, "reason", pe.Message)
		refuseConsole(conn, pe)
		return nil
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for k, v := range fallbackParams {
		be.Send(&pgproto3.ParameterStatus{Name: k, Value: v})
	}
	be.Send(&pgproto3.ParameterStatus{Name: "session_authorization", Value: name})
	be.Send(&pgproto3.ParameterStatus{Name: "application_name", Value: params["application_name"]})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := be.Flush(); err != nil {
		_ = conn.Close()
		return nil
	}
	_ = conn.SetDeadline(time.Time{})
	return &admin.ConsoleSession{Backend: be, User: name, Remote: clientAddress(conn)}
}

// refuseConsole sends pe and closes conn.
func refuseConsole(conn net.Conn, pe *pgError) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	if b, err := pe.response().Encode(nil); err == nil {
		_, _ = conn.Write(b)
	}
	_ = conn.Close()
}
