package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sys/unix"

	"github.com/pgshard/pgshard/internal/config"
)

// serverConn is one connection to a PostgreSQL server, opened and
// authenticated by pgconn and then driven message by message.
type serverConn struct {
	pool    *pool
	conn    net.Conn
	r       *frameReader
	w       *bufio.Writer
	pid     uint32
	secret  []byte
	params  map[string]string // ParameterStatus values reported at startup
	created time.Time
	idleAt  time.Time
	// budgets are those this connection holds a unit of (its pool's),
	// given back when it closes; none for connections opened outside the
	// pools.
	budgets budgets

	// settings is the fingerprint of the session settings last applied (see
	// session.applySettings); "" is the server's defaults.
	settings string
	// prepared holds the server-side statement names prepared on this
	// connection, least recently used first out. Evicted names are closed on
	// the server at the next opportunity.
	prepared *lru.Cache[string, struct{}]
	evicted  []string
	// unnamed is the key of the statement the unnamed prepared statement
	// holds, so a client's Bind("") after a pool switch can re-parse it.
	unnamed string
	// sqlStmts are the SQL-level prepared statements this connection's
	// server session holds, by name: the PREPARE that made each
	// (sqlprepared.go). A client's may be left over from another client.
	sqlStmts map[string]string
	// broken connections are closed instead of returned to the pool.
	broken bool
}

// dialServer opens and authenticates a server connection with pgconn (SCRAM,
// MD5, trust and TLS are pgconn's), then takes the socket over.
func dialServer(ctx context.Context, p *pool) (*serverConn, error) {
	cfg, err := pgconn.ParseConfig(p.connString())
	if err != nil {
		return nil, fmt.Errorf("server config for %s: %w", p.node.Name, err)
	}
	cfg.DialFunc = serverDialer(p.tcpSettings())
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if p.textOrder != nil && p.textOrder.def.Load() == textOrderUnknown {
		probeTextOrder(ctx, pc, p)
	}
	// pgconn may still have a background read in flight, from the
	// handshake or from the probe's query (pgconn starts one whenever a
	// write takes over 15 ms, as on a loaded machine); it would swallow the
	// first bytes of the server's next response, and the session would
	// wait for them until hiddenQuery's deadline. SyncConn waits for it, so
	// it must come right before Hijack.
	if err := pc.SyncConn(ctx); err != nil {
		_ = pc.Close(ctx)
		return nil, err
	}
	hj, err := pc.Hijack()
	if err != nil {
		_ = pc.Close(ctx)
		return nil, err
	}
	sc := &serverConn{
		pool:    p,
		conn:    hj.Conn,
		r:       newFrameReader(hj.Conn, 1<<30),
		w:       bufio.NewWriterSize(hj.Conn, 16*1024),
		pid:     hj.PID,
		secret:  hj.SecretKey,
		params:  hj.ParameterStatuses,
		created: time.Now(),
	}
	size := p.settings().PreparedCache
	if size < 1 {
		size = 1
	}
	sc.prepared, _ = lru.NewWithEvict(size, func(name string, _ struct{}) {
		sc.evicted = append(sc.evicted, name)
	})
	return sc, nil
}

// serverDialer dials server sockets with tcp's keepalives and, for TCP,
// its user timeout: a server whose host died or was cut off without
// closing its connections then fails a query after that long instead of
// after the kernel's retransmissions give up (about 15 minutes), and an
// idle connection to it fails its probes before the pool hands it out.
func serverDialer(tcp config.TCP) pgconn.DialFunc {
	d := &net.Dialer{KeepAliveConfig: keepAlive(tcp)}
	if !d.KeepAliveConfig.Enable {
		d.KeepAlive = -1 // what turns net.Dialer's default keepalives off
	}
	if tcp.UserTimeout > 0 {
		d.Control = func(network, _ string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil // a Unix socket: no network to lose
			}
			return setUserTimeout(c, tcp.UserTimeout)
		}
	}
	return d.DialContext
}

// cancel asks the server to cancel whatever this connection runs now.
func (sc *serverConn) cancel(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", sc.pool.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf, err := (&pgproto3.CancelRequest{ProcessID: sc.pid, SecretKey: sc.secret}).Encode(nil)
	if err != nil {
		return err
	}
	if _, err := conn.Write(buf); err != nil {
		return err
	}
	// The server closes the connection when done; waiting for that keeps the
	// cancel from racing the next statement on this connection.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = conn.Read(make([]byte, 1))
	return nil
}

// alive checks, without blocking, that an idle connection has not been
// ended by the server (a restart or pg_terminate_backend leaves a FATAL
// error and EOF in the socket). An idle server sends nothing else that
// matters, so any pending byte means the connection is not clean.
func (sc *serverConn) alive() bool {
	if sc.r.buffered() > 0 {
		return false
	}
	if time.Since(sc.idleAt) < 100*time.Millisecond {
		return true // just used: skip the syscall on the hot path
	}
	return socketQuiet(sc.conn)
}

// socketQuiet peeks at the kernel socket under conn (under TLS too: any
// record pending on an idle connection is news) without consuming anything.
func socketQuiet(conn net.Conn) bool { return peekSocket(conn) == socketIdle }

// socketState is what a peek at a socket found.
type socketState uint8

const (
	socketIdle   socketState = iota // nothing to read
	socketData                      // bytes waiting
	socketClosed                    // the peer closed it, or it failed
)

// peekSocket looks at the kernel socket under conn without consuming
// anything or waiting. A read that follows still finds what is there:
// Go's reads try the socket before they wait for it.
func peekSocket(conn net.Conn) socketState {
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	sysConn, ok := rawConn(conn).(syscall.Conn)
	if !ok {
		return socketIdle
	}
	raw, err := sysConn.SyscallConn()
	if err != nil {
		return socketClosed
	}
	state := socketClosed
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK:
			state = socketIdle
		case rerr == nil && n > 0:
			state = socketData
		}
		return true // never wait
	})
	if err != nil {
		return socketClosed
	}
	return state
}

func (sc *serverConn) close() {
	// Terminate lets the server end the backend cleanly instead of logging
	// an unexpected EOF; errors do not matter on the way out.
	_ = sc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = writeFrame(sc.w, 'X', nil)
	_ = sc.w.Flush()
	_ = sc.conn.Close()
	bs := sc.budgets
	sc.budgets = nil
	bs.give()
}
