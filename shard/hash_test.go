package shard

import (
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestGoldenPoints pins the canonical encoding. If it fails, existing
// deployments would route keys to shards that do not hold their rows: fix
// the code, never these numbers.
func TestGoldenPoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  Point
		want uint64
	}{
		{"int 0", HashInt(0), 0xa2443c71157cb676},
		{"int 1", HashInt(1), 0x46894e5a99fba7f0},
		{"int 42", HashInt(42), 0x7e1480456b8f3aa6},
		{"int -1", HashInt(-1), 0xe4a42358fe73e0b6},
		{"int -42", HashInt(-42), 0x73fedf3e79a0a020},
		{"int max", HashInt(9223372036854775807), 0xa2177c9d4c88bcca},
		{"int min", HashInt(-9223372036854775808), 0x781d72b3df4e5192},
		{"text empty", HashText(""), 0x4b79b8c95732b0e7},
		{"text 42", HashText("42"), 0x2b2f3efe928493a2},
		{"text email", HashText("alice@example.com"), 0x2df0d0aea7093eb8},
		{"uuid", HashUUID(testUUID), 0x29c68927d0a43a88},
		// XXH64 of nothing with seed 0, the reference implementation's
		// value: the hash itself, independent of our encoding.
		{"xxh64 empty", Point(xxhash.Sum64(nil)), 0xef46db3751d8e999},
	} {
		if uint64(tc.got) != tc.want {
			t.Errorf("%s: point %v, pinned 0x%016x", tc.name, tc.got, tc.want)
		}
	}
}

// The encoding is what doc.go says, byte for byte.
func TestEncodingAsDocumented(t *testing.T) {
	if got, want := HashInt(-2), Point(xxhash.Sum64([]byte{0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe})); got != want {
		t.Errorf("HashInt(-2) = %v, want xxh64(01 fffffffffffffffe) = %v", got, want)
	}
	if got, want := HashInt(0x0102030405060708), Point(xxhash.Sum64([]byte{0x01, 1, 2, 3, 4, 5, 6, 7, 8})); got != want {
		t.Errorf("HashInt big-endian: %v, want %v", got, want)
	}
	if got, want := HashText("héllo"), Point(xxhash.Sum64(append([]byte{0x02}, "héllo"...))); got != want {
		t.Errorf("HashText: %v, want %v", got, want)
	}
	long := make([]byte, 1000)
	for i := range long {
		long[i] = byte(i)
	}
	if got, want := HashTextBytes(long), Point(xxhash.Sum64(append([]byte{0x02}, long...))); got != want {
		t.Errorf("HashTextBytes(1000 bytes): %v, want %v", got, want)
	}
	if got, want := HashUUID(testUUID), Point(xxhash.Sum64(append([]byte{0x03}, testUUID[:]...))); got != want {
		t.Errorf("HashUUID: %v, want %v", got, want)
	}
}
