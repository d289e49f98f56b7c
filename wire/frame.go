package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameReader reads typed protocol messages (1-byte type, 4-byte length,
// body) into a reused buffer. Bodies are handed out without copying; each is
// valid until the next call to next.
type frameReader struct {
	r       *bufio.Reader
	buf     []byte
	maxBody int
}

// errMessageTooLarge is returned for a message whose declared length exceeds
// the limit; the stream cannot be resynchronised after it.
var errMessageTooLarge = errors.New("message too large")

func newFrameReader(r io.Reader, maxBody int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 32*1024), maxBody: maxBody}
}

// next returns the next message's type and body.
func (f *frameReader) next() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
	if n < 0 {
		return 0, nil, fmt.Errorf("message %q: invalid length %d", hdr[0], n+4)
	}
	if n > f.maxBody {
		return 0, nil, fmt.Errorf("message %q of %d bytes: %w (limit %d)", hdr[0], n, errMessageTooLarge, f.maxBody)
	}
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	body := f.buf[:n]
	if _, err := io.ReadFull(f.r, body); err != nil {
		return 0, nil, err
	}
	// Do not pin a huge buffer after one large COPY row or query.
	if cap(f.buf) > 1<<20 && n <= 1<<20 {
		f.buf = nil
	}
	return hdr[0], body, nil
}

// buffered reports whether a whole or partial message is already read in,
// so the caller knows a read will not block.
func (f *frameReader) buffered() int { return f.r.Buffered() }

// writeFrame appends one message to w.
func writeFrame(w *bufio.Writer, typ byte, body []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(body)+4))
	if _, err := w.Write(hdr[:]); err != nil {
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
