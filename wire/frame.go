package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Buffer sizes. A frameReader reads in chunks of up to bigBufSize into a
// buffer shared through bigBufs; a client's reader gives that buffer back
// whenever it has consumed everything it read, and waits for the client's
// next message in a small buffer of its own, so an idle client costs
// smallBufSize instead of a full read buffer. The client's write buffer
// follows the same rule (see session buffers in buffers.go).
const (
	bigBufSize   = 32 * 1024
	smallBufSize = 1024
	// keepBufSize: a buffer grown for one large message is kept for the next
	// up to this size, and dropped once drained above it, so one large COPY
	// row or result does not pin memory.
	keepBufSize = 1 << 20
)

var bigBufs = sync.Pool{New: func() any { b := make([]byte, bigBufSize); return &b }}

// frameReader reads typed protocol messages (1-byte type, 4-byte length,
// body). Bodies are slices of its buffer, handed out without copying; each
// is valid until the next call to next. A message is consumed only once it
// is complete, so an error (a read deadline while draining, say) leaves the
// reader where it was and next can be called again.
type frameReader struct {
	rd      io.Reader
	buf     []byte // unread bytes are buf[r:w]
	r, w    int
	pooled  *[]byte // bigBufs entry buf came from, if it did
	small   []byte  // client readers: the buffer waited in while idle
	maxBody int

	// onIdle runs before a client reader waits with nothing buffered, and
	// onWake once that wait ends (with data or an error).
	onIdle, onWake func()
	// notify, when set on a server reader, takes the NotificationResponses
	// the server sends, which next then skips: a server sends them before
	// ReadyForQuery at the end of any transaction, also in answers pgshard
	// reads for its own ends (a read over several shards, a hidden query).
	notify func(body []byte)
}

// errMessageTooLarge is returned for a message whose declared length exceeds
// the limit; the stream cannot be resynchronised after it.
var errMessageTooLarge = errors.New("message too large")

// newFrameReader returns a reader that keeps a full-size buffer: for server
// connections, which are few and busy.
func newFrameReader(r io.Reader, maxBody int) *frameReader {
	f := &frameReader{rd: r, maxBody: maxBody}
	f.takeBig()
	return f
}

// newClientFrameReader returns a reader that holds a full-size buffer only
// while it has unread data, and waits for data in a small one.
func newClientFrameReader(r io.Reader, maxBody int) *frameReader {
	small := make([]byte, smallBufSize)
	return &frameReader{rd: r, buf: small, small: small, maxBody: maxBody}
}

// next returns the next message's type and body.
func (f *frameReader) next() (byte, []byte, error) {
	for {
		typ, body, err := f.read()
		if typ != 'A' || f.notify == nil || err != nil {
			return typ, body, err
		}
		f.notify(body)
	}
}

// read returns the next message, whatever its type.
func (f *frameReader) read() (byte, []byte, error) {
	if err := f.fill(5); err != nil {
		return 0, nil, err
	}
	typ := f.buf[f.r]
	n := int(binary.BigEndian.Uint32(f.buf[f.r+1:f.r+5])) - 4
	if n < 0 {
		return 0, nil, fmt.Errorf("message %q: invalid length %d", typ, n+4)
	}
	if n > f.maxBody {
		return 0, nil, fmt.Errorf("message %q of %d bytes: %w (limit %d)", typ, n, errMessageTooLarge, f.maxBody)
	}
	if err := f.fill(5 + n); err != nil {
		return 0, nil, err
	}
	start := f.r + 5
	f.r = start + n
	return typ, f.buf[start:f.r:f.r], nil
}

// buffered reports whether a whole or partial message is already read in,
// so the caller knows a read will not block.
func (f *frameReader) buffered() int { return f.w - f.r }

// fill makes sure at least need unread bytes are in buf.
func (f *frameReader) fill(need int) error {
	if f.w-f.r >= need {
		return nil
	}
	waking := false
	if f.r == f.w {
		f.r, f.w = 0, 0
		switch {
		case f.small != nil:
			// Everything read was consumed: wait for more in the small
			// buffer, and let go of the big one and the write buffer.
			f.dropBig()
			f.buf = f.small
			if f.onIdle != nil {
				f.onIdle()
				waking = true
			}
		case len(f.buf) > keepBufSize:
			f.takeBig()
		}
	}
	if need > len(f.buf)-f.r {
		f.makeRoom(need)
	}
	stalls := 0
	for f.w-f.r < need {
		m, err := f.rd.Read(f.buf[f.w:])
		if waking {
			waking = false
			f.onWake()
		}
		f.w += m
		if err != nil {
			if f.w-f.r >= need {
				return nil // the error comes back on the next read
			}
			return err
		}
		if m == 0 {
			if stalls++; stalls > 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// makeRoom moves the unread bytes so that need bytes fit from buf[r:],
// switching to a bigger buffer if buf is too small.
func (f *frameReader) makeRoom(need int) {
	unread := f.w - f.r
	if need <= len(f.buf) {
		copy(f.buf, f.buf[f.r:f.w])
		f.r, f.w = 0, unread
		return
	}
	old, oldPooled := f.buf[f.r:f.w], f.pooled
	if need <= bigBufSize {
		f.pooled = bigBufs.Get().(*[]byte)
		f.buf = *f.pooled
	} else {
		// One message larger than a chunk: a buffer of exactly its size,
		// so nothing after it is read in.
		f.pooled = nil
		f.buf = make([]byte, need)
	}
	copy(f.buf, old)
	f.r, f.w = 0, unread
	if oldPooled != nil {
		bigBufs.Put(oldPooled)
	}
}

// takeBig replaces an empty buf with a standard-size one.
func (f *frameReader) takeBig() {
	f.dropBig()
	f.pooled = bigBufs.Get().(*[]byte)
	f.buf = *f.pooled
}

// dropBig gives a pooled buf back; buf must not be used until replaced.
func (f *frameReader) dropBig() {
	if f.pooled != nil {
		bigBufs.Put(f.pooled)
		f.pooled = nil
	}
	f.buf = nil
}

// writeFrame appends one message to w. The header goes straight into w's
// buffer (a local array passed to Write would escape: one allocation per
// message).
func writeFrame(w *bufio.Writer, typ byte, body []byte) error {
	if w.Available() < 5 {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	hdr := w.AvailableBuffer()[:5]
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(body)+4))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// encoder is what pgproto3 messages implement.
type encoder interface {
	Encode(dst []byte) ([]byte, error)
}

// writeMsg encodes a pgproto3 message onto w.
func writeMsg(w *bufio.Writer, scratch *[]byte, m encoder) error {
	b, err := m.Encode((*scratch)[:0])
	if err != nil {
		return err
	}
	*scratch = b
	_, err = w.Write(b)
	return err
}
