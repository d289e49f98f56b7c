package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// COPY's binary format (https://www.postgresql.org/docs/current/sql-copy.html):
// a header (an 11-byte signature, a 32-bit flags word, a 32-bit extension
// length and that many bytes), then tuples (a 16-bit field count, then per
// field a 32-bit length, -1 for NULL, and that many bytes), then a trailer
// (a field count of -1). Nothing marks where a tuple ends but its fields, so
// splitting rows between shards means walking every field.

// binarySignature opens every binary COPY stream.
var binarySignature = []byte("PGCOPY\n\xff\r\n\x00")

// binaryHeaderLen is the header without its extension area.
const binaryHeaderLen = 11 + 4 + 4

// maxBinaryHeaderExt bounds the header extension area pgshard buffers.
const maxBinaryHeaderExt = 1 << 20

// binaryOIDsFlag is header flag bit 16: every tuple carries an OID field
// first, a format no PostgreSQL since 12 reads or writes.
const binaryOIDsFlag = 1 << 16

// binaryPart is what a piece of a binary COPY stream is.
type binaryPart int

const (
	binaryHeader binaryPart = iota
	binaryTuple
	binaryTrailer
)

// binaryRows cuts a binary COPY stream into its header, its tuples and its
// trailer. Data arrives in arbitrary chunks (CopyData messages need not
// follow tuple boundaries); a part is returned once it is complete.
type binaryRows struct {
	buf   []byte
	state binaryPart // the part expected next
	done  bool       // the trailer was seen
}

// feed appends a chunk of the stream.
func (b *binaryRows) feed(p []byte) { b.buf = append(b.buf, p...) }

// next returns the next complete part and what it is; ok is false when more
// data is needed. A stream that is not binary COPY data gives an error with
// SQLSTATE 22P04 (bad_copy_file_format), as Postgres answers it.
func (b *binaryRows) next() (part []byte, kind binaryPart, ok bool, pe *pgError) {
	switch {
	case b.done:
		if len(b.buf) > 0 {
			return nil, 0, false, badCopyData("data after the binary COPY trailer")
		}
		return nil, 0, false, nil
	case b.state == binaryHeader:
		n := min(len(b.buf), len(binarySignature))
		if !bytes.Equal(b.buf[:n], binarySignature[:n]) {
			return nil, 0, false, badCopyData("COPY file signature not recognized")
		}
		if len(b.buf) < binaryHeaderLen {
			return nil, 0, false, nil
		}
		flags := binary.BigEndian.Uint32(b.buf[11:])
		if flags&binaryOIDsFlag != 0 {
			return nil, 0, false, badCopyData("binary COPY data with OIDs is not supported")
		}
		if flags&0xffff0000&^binaryOIDsFlag != 0 {
			return nil, 0, false, badCopyData("unrecognized critical flags in COPY file header")
		}
		ext := int64(binary.BigEndian.Uint32(b.buf[15:]))
		if ext > maxBinaryHeaderExt {
			// Postgres writes no extension and skips one it reads; a huge
			// one would only make pgshard buffer it.
			return nil, 0, false, badCopyData(fmt.Sprintf("binary COPY header extension of %d bytes is larger than pgshard accepts (%d)", ext, maxBinaryHeaderExt))
		}
		end := binaryHeaderLen + int(ext)
		if len(b.buf) < end {
			return nil, 0, false, nil
		}
		b.state = binaryTuple
		return b.take(end), binaryHeader, true, nil
	}
	if len(b.buf) < 2 {
		return nil, 0, false, nil
	}
	fields := int16(binary.BigEndian.Uint16(b.buf))
	if fields == -1 {
		b.done = true
		return b.take(2), binaryTrailer, true, nil
	}
	if fields < 0 {
		return nil, 0, false, badCopyData(fmt.Sprintf("row field count is %d", fields))
	}
	pos := 2
	for range int(fields) {
		if len(b.buf) < pos+4 {
			return nil, 0, false, nil
		}
		l := int32(binary.BigEndian.Uint32(b.buf[pos:]))
		pos += 4
		if l == -1 {
			continue
		}
		if l < 0 {
			return nil, 0, false, badCopyData(fmt.Sprintf("invalid field size %d", l))
		}
		if len(b.buf)-pos < int(l) {
			return nil, 0, false, nil
		}
		pos += int(l)
	}
	return b.take(pos), binaryTuple, true, nil
}

// take cuts the first n bytes off buf. The returned slice stays valid: buf
// moves past it and is only ever appended to.
func (b *binaryRows) take(n int) []byte {
	part := b.buf[:n:n]
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil // start the next chunk in a fresh array rather than growing this one
	}
	return part
}

// pending reports whether an incomplete part is buffered.
func (b *binaryRows) pending() bool { return len(b.buf) > 0 }

// binaryField returns field i of a complete tuple, nil when it is NULL;
// ok is false when the tuple has fewer fields.
func binaryField(tuple []byte, i int) (field []byte, ok bool) {
	fields := int(int16(binary.BigEndian.Uint16(tuple)))
	if i >= fields {
		return nil, false
	}
	pos := 2
	for f := 0; ; f++ {
		l := int32(binary.BigEndian.Uint32(tuple[pos:]))
		pos += 4
		if f == i {
			if l < 0 {
				return nil, true
			}
			return tuple[pos : pos+int(l)], true
		}
		if l > 0 {
			pos += int(l)
		}
	}
}

// badCopyData is Postgres's answer to malformed binary COPY data.
func badCopyData(msg string) *pgError {
	return &pgError{Code: "22P04", Message: "pgshard: " + msg,
		Hint: "Binary COPY data must follow PostgreSQL's binary COPY format."}
}

// binarySplitter is copyRows for binary COPY data: the header and the
// trailer go to every shard, each tuple to the shard owning its key.
type binarySplitter struct {
	ci     *router.CopyIn
	keyCol int
	rows   binaryRows
}

func (b *binarySplitter) feed(chunk []byte) { b.rows.feed(chunk) }

func (b *binarySplitter) next() ([]byte, bool, bool, *pgError) {
	part, kind, ok, pe := b.rows.next()
	return part, kind != binaryTuple, ok, pe
}

func (b *binarySplitter) end() ([]byte, bool, *pgError) {
	if b.rows.pending() {
		return nil, false, badCopyData("unexpected EOF in binary COPY data")
	}
	return nil, false, nil
}

func (b *binarySplitter) shardOf(tuple []byte, m *shard.Map, n int) (shard.ShardID, *pgError) {
	t := b.ci.Table
	key, ok := binaryField(tuple, b.keyCol)
	if !ok {
		return 0, badCopyData(fmt.Sprintf("COPY row %d has no field %d, the shard key %s of %s", n, b.keyCol+1, t.Key, t))
	}
	if key == nil {
		return 0, &pgError{Code: "23502", Message: fmt.Sprintf("pgshard: COPY row %d has a null value in shard key column %s of %s", n, t.Key, t)}
	}
	pt, err := shard.PointFromBinary(t.KeyType, key)
	if err != nil {
		return 0, &pgError{Code: "22P03", Message: fmt.Sprintf("pgshard: COPY row %d: invalid binary value for shard key %s.%s: %v", n, t, t.Key, err),
			Hint: "A binary shard key must be int2, int4 or int8 for integer keys, 16 bytes for uuid, the raw bytes for text."}
	}
	return m.Lookup(pt), nil
}
