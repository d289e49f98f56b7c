package wire

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshard/pgshard/internal/metrics"
)

// With so_reuseport two pgshards share the client port while one hands
// over to the other (a restart, an upgrade), and a client's CancelRequest
// reaches either. Each such process also listens on a cancel socket of its
// own, a Unix socket in unix_socket_dir (or the system's temporary
// directory) named after the port:
//
//	.s.PGSHARD.<port>.cancel.<random>
//
// A process that gets a CancelRequest for no session of its own passes it
// to every other cancel socket of the port, where only the session's own
// process finds it (the key decides). What arrives on a cancel socket is
// never passed on again. Unlike peering this needs no configuration and
// no address of each process's own, and it reaches only processes on the
// same host, which is where a shared port's processes are.

// localPeers is this process's cancel socket, and where the others are.
type localPeers struct {
	dir, prefix string // the others are dir/prefix*
	ln          net.Listener
	path        string
	file        os.FileInfo
	once        sync.Once
}

// cancelSocketPrefix is the start of the cancel sockets' names for port.
func cancelSocketPrefix(port int) string {
	return ".s.PGSHARD." + strconv.Itoa(port) + ".cancel."
}

// listenLocalPeers opens this process's cancel socket for port in dir.
func listenLocalPeers(ctx context.Context, dir string, port int) (*localPeers, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	lp := &localPeers{dir: dir, prefix: cancelSocketPrefix(port)}
	lp.path = filepath.Join(dir, lp.prefix+hex.EncodeToString(b[:]))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", lp.path)
	if err != nil {
		return nil, fmt.Errorf("cancel socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	// Only processes of the same user (pgshards) need to reach it.
	if err := os.Chmod(lp.path, 0o600); err != nil {
		_ = ln.Close()
		return nil, err
	}
	if lp.file, err = os.Stat(lp.path); err != nil {
		_ = ln.Close()
		return nil, err
	}
	lp.ln = ln
	return lp, nil
}

// close closes the cancel socket and removes its file.
func (lp *localPeers) close() {
	lp.once.Do(func() {
		_ = lp.ln.Close()
		if fi, err := os.Stat(lp.path); err == nil && os.SameFile(fi, lp.file) {
			_ = os.Remove(lp.path)
		}
	})
}

// startLocalPeers opens the cancel socket when the client port ln is
// shared (so_reuseport) and serves it until the returned stop, which
// closes it and waits.
func (srv *Server) startLocalPeers(ln net.Listener) (stop func()) {
	cfg := srv.conf()
	ta, ok := ln.Addr().(*net.TCPAddr)
	if !cfg.SOReusePort || !ok {
		return func() {}
	}
	lp, err := listenLocalPeers(context.Background(), cmp.Or(cfg.UnixSocketDir, os.TempDir()), ta.Port)
	if err != nil {
		srv.log.Warn("no cancel socket: a CancelRequest that reaches another process sharing the port will be lost", "err", err)
		return func() {}
	}
	srv.localPeers.Store(lp)
	srv.log.Info("cancel socket for the processes sharing the port", "path", lp.path)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.serveLocalPeers(lp)
	}()
	return sync.OnceFunc(func() {
		srv.localPeers.Store(nil)
		lp.close()
		<-done
	})
}

// serveLocalPeers answers CancelRequests the other processes of the port
// pass on, until the socket is closed.
func (srv *Server) serveLocalPeers(lp *localPeers) {
	for {
		conn, err := lp.ln.Accept()
		if err != nil {
			if retryableAccept(err) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		srv.localPeerConn(conn)
	}
}

// localPeerConn reads one CancelRequest from a process of the port,
// handles it here only, and answers whether the session was here.
func (srv *Server) localPeerConn(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(peerCancelTimeout))
	var hdr [16]byte
	if _, err := io.ReadFull(conn, hdr[:8]); err != nil {
		return
	}
	n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n < 16 || n > 16+256 {
		return
	}
	body := make([]byte, n)
	copy(body, hdr[:8])
	if _, err := io.ReadFull(conn, body[8:]); err != nil {
		return
	}
	var m pgproto3.CancelRequest
	if err := m.Decode(body[4:]); err != nil {
		return
	}
	// One byte back says whether the session was here.
	answer := []byte{0}
	if srv.cancelHere(m.ProcessID, m.SecretKey) == cancelDelivered {
		srv.metrics.Cancel(metrics.CancelLocal).Inc()
		answer[0] = 1
	}
	_, _ = conn.Write(answer)
}

// passToLocalPeers sends a CancelRequest to every other cancel socket of
// the port and waits for each answer. It reports whether a process had
// the session; a socket whose process is gone is removed.
func (srv *Server) passToLocalPeers(ctx context.Context, lp *localPeers, pid uint32, secret []byte) bool {
	entries, err := os.ReadDir(lp.dir)
	if err != nil {
		return false
	}
	msg, err := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}).Encode(nil)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, peerCancelTimeout)
	defer cancel()
	taken := false
	for _, e := range entries {
		path := filepath.Join(lp.dir, e.Name())
		if !strings.HasPrefix(e.Name(), lp.prefix) || path == lp.path {
			continue
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				_ = os.Remove(path) // left by a pgshard that died
			}
			continue
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
		var answer [1]byte
		if _, err := conn.Write(msg); err == nil {
			if _, err := io.ReadFull(conn, answer[:]); err == nil && answer[0] == 1 {
				taken = true
			}
		}
		stop()
		_ = conn.Close()
	}
	return taken
}
