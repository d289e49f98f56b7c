package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

func frame(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)+4))
	return append(b, body...)
}

// chunkReader returns at most a few bytes per Read, to split messages at
// every possible point.
type chunkReader struct {
	data []byte
	rnd  *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rnd.IntN(7000)
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestFrameReaderSizes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want [][]byte
	for i := range 3000 {
		var n int
		switch i % 10 {
		case 0:
			n = 0
		case 1:
			n = bigBufSize - 5 + rnd.IntN(10) // around a chunk
		case 2:
			n = smallBufSize - 5 + rnd.IntN(10)
		case 3:
			if i%100 == 3 {
				n = keepBufSize + rnd.IntN(1000) // large message
			}
		default:
			n = rnd.IntN(300)
		}
		body := make([]byte, n)
		for j := range body {
			body[j] = byte(rnd.Uint32())
		}
		want = append(want, body)
		stream = append(stream, frame(byte('A'+i%26), body)...)
	}
	for _, client := range []bool{false, true} {
		var f *frameReader
		src := &chunkReader{data: stream, rnd: rnd}
		idle, wake := 0, 0
		if client {
			f = newClientFrameReader(src, 1<<30)
			f.onIdle = func() { idle++ }
			f.onWake = func() { wake++ }
		} else {
			f = newFrameReader(src, 1<<30)
		}
		for i, body := range want {
			typ, got, err := f.next()
			if err != nil {
				t.Fatalf("client=%v message %d: %v", client, i, err)
			}
			if typ != byte('A'+i%26) || !bytes.Equal(got, body) {
				t.Fatalf("client=%v message %d: got %q/%d bytes, want %q/%d bytes", client, i, typ, len(got), byte('A'+i%26), len(body))
			}
		}
		if _, _, err := f.next(); err != io.EOF {
			t.Fatalf("client=%v: at end got %v, want EOF", client, err)
		}
		if client && (idle == 0 || idle != wake) {
			t.Fatalf("idle %d, wake %d", idle, wake)
		}
	}
}

func TestFrameReaderLimit(t *testing.T) {
	f := newClientFrameReader(bytes.NewReader(frame('Q', make([]byte, 101))), 100)
	if _, _, err := f.next(); !errors.Is(err, errMessageTooLarge) {
		t.Fatalf("got %v, want errMessageTooLarge", err)
	}
	f = newClientFrameReader(bytes.NewReader([]byte{'Q', 0, 0, 0, 3}), 100)
	if _, _, err := f.next(); err == nil {
		t.Fatal("invalid length accepted")
	}
}

// A read deadline in the middle of a message (how draining wakes a session)
// must leave the reader able to continue with the same message.
func TestFrameReaderResumesAfterTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	f := newClientFrameReader(a, 1<<20)
	msg := frame('Q', bytes.Repeat([]byte("x"), 5000))
	go func() { _, _ = b.Write(msg[:3000]) }()
	_ = a.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := f.next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	_ = a.SetReadDeadline(time.Time{})
	go func() { _, _ = b.Write(msg[3000:]) }()
	typ, body, err := f.next()
	if err != nil || typ != 'Q' || len(body) != 5000 {
		t.Fatalf("got %q, %d bytes, %v", typ, len(body), err)
	}
}

func TestWriteFrameNearlyFull(t *testing.T) {
	var out bytes.Buffer
	w := bufio.NewWriterSize(&out, 16)
	for i := range 20 {
		if err := writeFrame(w, 'D', bytes.Repeat([]byte{byte(i)}, i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Flush()
	f := newFrameReader(&out, 100)
	for i := range 20 {
		typ, body, err := f.next()
		if err != nil || typ != 'D' || !bytes.Equal(body, bytes.Repeat([]byte{byte(i)}, i)) {
			t.Fatalf("message %d: %q %v %v", i, typ, body, err)
		}
	}
}

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkRelayDataRows reads a stream of 100-byte DataRows from a server
// reader and writes them to a client writer: the inner loop of relay.
func BenchmarkRelayDataRows(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream = append(stream, frame('D', make([]byte, 100))...)
	}
	f := newFrameReader(&loopReader{data: stream}, 1<<30)
	w := bufio.NewWriterSize(io.Discard, clientWriteBufSize)
	b.ReportAllocs()
	b.SetBytes(105)
	for b.Loop() {
		typ, body, err := f.next()
		if err != nil {
			b.Fatal(err)
		}
		if err := writeFrame(w, typ, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientBatch reads an extended-protocol batch (Parse, Bind,
// Describe, Execute, Sync) arriving in one segment each time, with the
// client reader going idle in between: the per-transaction read path.
func BenchmarkClientBatch(b *testing.B) {
	var batch []byte
	batch = append(batch, frame('P', []byte("\x00SELECT abalance FROM pgbench_accounts WHERE aid = $1;\x00\x00\x00"))...)
	batch = append(batch, frame('B', []byte("\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0512345\x00\x00"))...)
	batch = append(batch, frame('D', []byte("P\x00"))...)
	batch = append(batch, frame('E', []byte("\x00\x00\x00\x00\x00"))...)
	batch = append(batch, frame('S', nil)...)
	f := newClientFrameReader(&loopReader{data: batch}, 1<<30)
	s := &session{conn: nil, r: f}
	s.lendBuffers()
	b.ReportAllocs()
	for b.Loop() {
		for range 5 {
			if _, _, err := f.next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
