package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pgshard/pgshard/internal/config"
	"github.com/pgshard/pgshard/internal/sqltext"
)

// LISTEN in session pooling. LISTEN and UNLISTEN run on every shard, on
// the connections the session keeps there, and a NOTIFY runs where its
// session is (inside a transaction, on the transaction's shard, committed
// with it), so a listener hears a notification sent on any shard. A client
// that listens may then sit idle, waiting (pgx's WaitForNotification,
// psycopg's notifies(), pgjdbc's getNotifications(timeout)), where a server
// would send each NotificationResponse the moment it arrives. So while
// such a session waits for its client's next message, watchers relay what
// its server connections send unasked: notifications, notices,
// ParameterStatus. In transaction pooling LISTEN is refused (the next
// client would get the connection's registrations), and NOTIFY works as
// any statement.

// trackListen notes a LISTEN or UNLISTEN * that succeeded.
func (s *session) trackListen(stmt string) {
	words := sqltext.FirstWords(stmt)
	switch {
	case words.Is(0, "listen"):
		s.listening = s.mode == config.PoolSession
	case words.Is(0, "unlisten") && words.Len() == 1 && strings.Contains(stmt, "*"):
		s.listening = false
	case words.Is(0, "discard") && words.Is(1, "all"):
		s.listening = false
	}
}

// nextClientMessage reads the client's next message, relaying the server
// connections' notifications while it waits if the session listens.
func (s *session) nextClientMessage() (byte, []byte, error) {
	if !s.listening || s.r.buffered() > 0 || s.batchOpen {
		// Mid-batch (a Flush, say) a server may still owe answers, which
		// are the batch's to read.
		return s.r.next()
	}
	var conns []*serverConn
	if s.sc != nil {
		conns = append(conns, s.sc)
	}
	for _, sc := range s.parked {
		conns = append(conns, sc)
	}
	stop := s.watchNotifications(conns)
	typ, body, err := s.r.next()
	stop()
	return typ, body, err
}

// watchNotifications relays the unasked messages of conns to the client
// until the returned stop is called, which waits for the watchers to end.
// The session goroutine does not touch conns or the client's write buffer
// meanwhile: watchers write straight to the client connection (one whole
// message at a time), which the session only reads from while it waits.
func (s *session) watchNotifications(conns []*serverConn) (stop func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex // one message at a time on the client connection
	failed := make([]error, len(conns))
	for i, sc := range conns {
		if sc.broken {
			continue
		}
		wg.Go(func() {
			var frame []byte
			for {
				typ, body, err := sc.r.next()
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						failed[i] = err
					}
					return
				}
				if !asyncMsg(typ) {
					failed[i] = fmt.Errorf("unexpected message %q from an idle server connection", typ)
					return
				}
				frame = append(frame[:0], typ, 0, 0, 0, 0)
				binary.BigEndian.PutUint32(frame[1:], uint32(len(body)+4))
				frame = append(frame, body...)
				mu.Lock()
				_, err = s.conn.Write(frame)
				mu.Unlock()
				if err != nil {
					return // the client is gone: the session's read says so
				}
			}
		})
	}
	return func() {
		for _, sc := range conns {
			_ = sc.conn.SetReadDeadline(time.Now())
		}
		wg.Wait()
		for i, sc := range conns {
			_ = sc.conn.SetReadDeadline(time.Time{})
			if failed[i] != nil {
				// Its next statement fails and is reported as a lost server.
				sc.broken = true
				s.log.Debug("a listening server connection failed while the client was idle", "shard", sc.pool.shard, "err", failed[i])
			}
		}
	}
}
