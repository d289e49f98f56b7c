package pgshardtest

import (
	"bytes"
	"sync"
	"testing"
)

// logTailSize bounds what a proxy keeps of its log: enough for the last
// few hundred lines, which is what explains a failure.
const logTailSize = 256 << 10

// logTail keeps the end of a proxy's log so a failing test can print it:
// a session ended without a word to its client, or a server connection
// given up, is only told in the log, and CI runs keep nothing else.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - logTailSize; over > 0 {
		// Drop whole lines from the front.
		cut := over
		if i := bytes.IndexByte(l.buf[over:], '\n'); i >= 0 {
			cut += i + 1
		}
		l.buf = append(l.buf[:0], l.buf[cut:]...)
	}
	return len(p), nil
}

// printIfFailed writes the kept log to t's output when t has failed.
func (l *logTail) printIfFailed(t testing.TB) {
	if !t.Failed() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return
	}
	t.Logf("pgshard log (last %d bytes):\n%s", len(l.buf), l.buf)
}
