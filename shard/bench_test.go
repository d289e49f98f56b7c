package shard

import (
	"strconv"
	"testing"
)

var sinkPoint Point
var sinkShard ShardID

func BenchmarkHashInt(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		sinkPoint = HashInt(int64(i))
	}
}

func BenchmarkHashText(b *testing.B) {
	for _, s := range []string{"alice@example.com", string(make([]byte, 200))} {
		b.Run(strconv.Itoa(len(s)), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				sinkPoint = HashText(s)
			}
		})
	}
}

func BenchmarkPointFromText(b *testing.B) {
	for _, tc := range []struct {
		name string
		t    KeyType
		s    string
	}{
		{"int", KeyInt, "1234567890"},
		{"uuid", KeyUUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"text", KeyText, "alice@example.com"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				p, err := PointFromText(tc.t, tc.s)
				if err != nil {
					b.Fatal(err)
				}
				sinkPoint = p
			}
		})
	}
}

func BenchmarkPointFromTextBytesInt(b *testing.B) {
	param := []byte("1234567890")
	b.ReportAllocs()
	for range b.N {
		p, err := PointFromTextBytes(KeyInt, param)
		if err != nil {
			b.Fatal(err)
		}
		sinkPoint = p
	}
}

func BenchmarkPointFromBinaryInt8(b *testing.B) {
	param := int8(1234567890)
	b.ReportAllocs()
	for range b.N {
		p, err := PointFromBinary(KeyInt, param)
		if err != nil {
			b.Fatal(err)
		}
		sinkPoint = p
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{4, 64, 1024} {
		m := EqualMap(n)
		b.Run(strconv.Itoa(n)+"ranges", func(b *testing.B) {
			b.ReportAllocs()
			p := Point(0x9e3779b97f4a7c15)
			for range b.N {
				sinkShard = m.Lookup(p)
				p += 0x9e3779b97f4a7c15 // walk the space, defeating branch prediction
			}
		})
	}
}

// The whole hot path of routing one statement with one key.
func BenchmarkRouteOneKey(b *testing.B) {
	h := NewHolder(EqualMap(16))
	b.ReportAllocs()
	for range b.N {
		p, err := PointFromText(KeyInt, "1234567890")
		if err != nil {
			b.Fatal(err)
		}
		sinkShard = h.Load().Lookup(p)
	}
}
