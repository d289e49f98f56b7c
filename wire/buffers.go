package wire

import (
	"bufio"
	"net"
	"sync"
)

// clientWriteBufSize is the size of a client's write buffer: responses are
// flushed when it fills and whenever the server has nothing more buffered.
const clientWriteBufSize = 16 * 1024

// clientWriters holds the write buffers of clients that are waiting for
// their next message. A session has one only between the moment a message
// arrives and the moment it waits again with everything flushed, so idle
// clients cost no write buffer.
var clientWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, clientWriteBufSize) }}

func getClientWriter(conn net.Conn) *bufio.Writer {
	w := clientWriters.Get().(*bufio.Writer)
	w.Reset(conn)
	return w
}

// lendBuffers makes s give its write buffer (and its reader's big buffer)
// back while it waits for the client, and take one when the client speaks.
// Only the session's own goroutine uses s.w, and never while it waits.
func (s *session) lendBuffers() {
	s.w = getClientWriter(s.conn)
	s.r.onIdle = func() {
		if s.w != nil && s.w.Buffered() == 0 {
			s.w.Reset(nil)
			clientWriters.Put(s.w)
			s.w = nil
		}
	}
	s.r.onWake = func() {
		if s.w == nil {
			s.w = getClientWriter(s.conn)
		}
	}
}
