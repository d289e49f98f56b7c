package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pgshard/pgshard/internal/config"
)

// UnixSocketPath is where pgshard listens in dir for clients of port: the
// name PostgreSQL and libpq use (psql -h dir -p port).
func UnixSocketPath(dir string, port int) string {
	return filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))
}

// UnixSocket is where and how ListenUnix opens the client socket.
type UnixSocket struct {
	Dir  string
	Port int // of the TCP listener, which names the socket
	// Perm is the socket file's mode (unix_socket_permissions); Group,
	// when set, the group name or number owning it (unix_socket_group).
	Perm  os.FileMode
	Group string
	// TakeOver (so_reuseport) replaces a socket a live process listens on.
	TakeOver bool
}

// UnixSocketOf is cfg's client socket for the TCP listener's port.
func UnixSocketOf(cfg *config.Config, port int) UnixSocket {
	return UnixSocket{Dir: cfg.UnixSocketDir, Port: port, Perm: cfg.UnixSocketMode(), Group: cfg.UnixSocketGroup, TakeOver: cfg.SOReusePort}
}

// ListenUnix opens the Unix socket us describes (unix_socket_dir).
//
// A socket file left by a pgshard that died is replaced. One that a live
// process still listens on is an error, unless TakeOver (so_reuseport):
// then the new pgshard replaces the file, new clients reach it, and the
// old one keeps serving the clients it has. Whoever closes a listener
// removes the file only while it is still that listener's, so the old
// pgshard stopping leaves the new one's socket in place.
func ListenUnix(ctx context.Context, us UnixSocket) (net.Listener, error) {
	path := UnixSocketPath(us.Dir, us.Port)
	if _, err := os.Lstat(path); err == nil {
		if !us.TakeOver {
			d := net.Dialer{Timeout: time.Second}
			if c, err := d.DialContext(ctx, "unix", path); err == nil {
				_ = c.Close()
				return nil, fmt.Errorf("%s: another process listens on this socket (stop it, or set so_reuseport to take the socket over)", path)
			}
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("replacing %s: %w", path, err)
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		_ = ul.Close()
		_ = os.Remove(path)
		return nil, err
	}
	// The group first, then the mode, as PostgreSQL does; whoever
	// connects in between is still authenticated.
	if us.Group != "" {
		gid, err := config.LookupGroup(us.Group)
		if err != nil {
			return fail(fmt.Errorf("unix_socket_group %q: %w", us.Group, err))
		}
		if err := os.Lchown(path, -1, gid); err != nil {
			return fail(fmt.Errorf("unix_socket_group: %w", err))
		}
	}
	if err := os.Chmod(path, us.Perm); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	return &unixListener{UnixListener: ul, path: path, file: fi}, nil
}

// unixListener removes its socket file when closed, if the file is still
// its own.
type unixListener struct {
	*net.UnixListener
	path string
	file os.FileInfo
	once sync.Once
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, statErr := os.Stat(l.path); statErr == nil && os.SameFile(fi, l.file) {
			_ = os.Remove(l.path)
		}
	})
	return err
}

// isUnixSocket reports whether conn came through the Unix socket.
func isUnixSocket(conn net.Conn) bool {
	_, ok := rawConn(conn).RemoteAddr().(*net.UnixAddr)
	return ok
}

// clientAddress is how logs and /clients name where conn comes from:
// host:port, or "[local]" for the Unix socket, as PostgreSQL's logs do.
func clientAddress(conn net.Conn) string {
	if isUnixSocket(conn) {
		return "[local]"
	}
	return conn.RemoteAddr().String()
}

// Listeners serves the connections of several listeners as one: the TCP
// port and the Unix socket. Close closes them all.
func Listeners(lns ...net.Listener) net.Listener {
	if len(lns) == 1 {
		return lns[0]
	}
	m := &multiListener{lns: lns, conns: make(chan accepted), done: make(chan struct{})}
	for _, ln := range lns {
		go m.accept(ln)
	}
	return m
}

type multiListener struct {
	lns   []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	err   error // the first listener's failure, which ends Accept
}

// accept hands ln's connections, and the errors it may recover from, to
// Accept until ln fails for good or the multiListener is closed. Each
// waits for an Accept call, so a listener that keeps failing is retried
// at the pace of its caller.
func (m *multiListener) accept(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil && !retryableAccept(err) {
			m.mu.Lock()
			if m.err == nil {
				m.err = err
			}
			m.mu.Unlock()
			_ = m.Close()
			return
		}
		select {
		case m.conns <- accepted{conn, err}:
		case <-m.done:
			if conn != nil {
				_ = conn.Close()
			}
			return
		}
	}
}

// accepted is one outcome of a listener's Accept.
type accepted struct {
	conn net.Conn
	err  error
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case a := <-m.conns:
		return a.conn, a.err
	case <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.err != nil && !errors.Is(m.err, net.ErrClosed) {
			return nil, m.err
		}
		return nil, net.ErrClosed
	}
}

// Close closes every listener, which ends their accept loops.
func (m *multiListener) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			if e := ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) && err == nil {
				err = e
			}
		}
	})
	return err
}

// Addr is the first listener's address (the TCP port).
func (m *multiListener) Addr() net.Addr { return m.lns[0].Addr() }
