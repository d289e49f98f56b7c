package shard

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Point is a position in the hash space [0, 2^64).
type Point uint64

func (p Point) String() string { return fmt.Sprintf("0x%016x", uint64(p)) }

// Tag bytes of the canonical encoding. They are part of the on-disk contract
// (see the package documentation), deliberately separate from the KeyType
// values so that reordering the enum cannot move rows.
const (
	tagInt  = 0x01
	tagText = 0x02
	tagUUID = 0x03
)

// HashInt is the point of an integer key of any width (int2, int4, int8).
func HashInt(v int64) Point {
	var b [9]byte
	b[0] = tagInt
	binary.BigEndian.PutUint64(b[1:], uint64(v))
	return Point(xxhash.Sum64(b[:]))
}

// HashUUID is the point of a uuid key.
func HashUUID(u [16]byte) Point {
	var b [17]byte
	b[0] = tagUUID
	copy(b[1:], u[:])
	return Point(xxhash.Sum64(b[:]))
}

// shortText is the longest text key hashed from a stack copy in one call;
// most text keys (names, codes, emails) are shorter, and one Sum64 over a
// copy is faster than a streaming Digest.
const shortText = 63

// HashText is the point of a text key.
func HashText(s string) Point {
	if len(s) <= shortText {
		var b [shortText + 1]byte
		b[0] = tagText
		n := copy(b[1:], s)
		return Point(xxhash.Sum64(b[:1+n]))
	}
	var d xxhash.Digest
	d.Reset()
	d.Write([]byte{tagText})
	d.WriteString(s)
	return Point(d.Sum64())
}

// HashTextBytes is HashText for a key held in a byte slice (a Bind
// parameter), without converting it to a string.
func HashTextBytes(b []byte) Point {
	if len(b) <= shortText {
		var buf [shortText + 1]byte
		buf[0] = tagText
		n := copy(buf[1:], b)
		return Point(xxhash.Sum64(buf[:1+n]))
	}
	var d xxhash.Digest
	d.Reset()
	d.Write([]byte{tagText})
	d.Write(b)
	return Point(d.Sum64())
}
