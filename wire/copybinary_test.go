package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// binaryStream builds binary COPY data: header (with ext extension bytes),
// the tuples, the trailer. A nil field is NULL.
func binaryStream(ext int, tuples ...[][]byte) []byte {
	b := append([]byte(nil), binarySignature...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(ext))
	b = append(b, make([]byte, ext)...)
	for _, t := range tuples {
		b = append(b, binaryTupleBytes(t)...)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func binaryTupleBytes(fields [][]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(fields)))
	for _, f := range fields {
		if f == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func int8Bytes(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

type binaryPartSeen struct {
	kind binaryPart
	data []byte
}

// feedBinary feeds stream to rows in chunks of size n and collects the
// parts, stopping at the first error.
func feedBinary(rows *binaryRows, stream []byte, n int) ([]binaryPartSeen, *pgError) {
	var seen []binaryPartSeen
	for off := 0; off < len(stream); off += n {
		rows.feed(stream[off:min(off+n, len(stream))])
		for {
			part, kind, ok, pe := rows.next()
			if pe != nil {
				return seen, pe
			}
			if !ok {
				break
			}
			seen = append(seen, binaryPartSeen{kind, append([]byte(nil), part...)})
		}
	}
	return seen, nil
}

// cutBinary is feedBinary for a well-formed stream.
func cutBinary(t *testing.T, stream []byte, n int) []binaryPartSeen {
	t.Helper()
	var rows binaryRows
	seen, pe := feedBinary(&rows, stream, n)
	if pe != nil {
		t.Fatalf("chunk size %d: %v", n, pe.Message)
	}
	if rows.pending() {
		t.Fatalf("chunk size %d: bytes left over", n)
	}
	return seen
}

func TestBinaryRowsAnyChunking(t *testing.T) {
	tuples := [][][]byte{
		{int8Bytes(1), []byte("alice")},
		{int8Bytes(-7), nil},
		{int8Bytes(1 << 40), []byte{}},
		{int8Bytes(3), bytes.Repeat([]byte("x"), 300)},
	}
	stream := binaryStream(5, tuples...)
	for n := 1; n <= len(stream); n++ {
		seen := cutBinary(t, stream, n)
		if len(seen) != len(tuples)+2 {
			t.Fatalf("chunk size %d: %d parts, want header, %d tuples, trailer", n, len(seen), len(tuples))
		}
		if seen[0].kind != binaryHeader || len(seen[0].data) != binaryHeaderLen+5 {
			t.Fatalf("chunk size %d: first part %v of %d bytes, want the header with its 5-byte extension", n, seen[0].kind, len(seen[0].data))
		}
		for i, tup := range tuples {
			got := seen[i+1]
			if got.kind != binaryTuple || !bytes.Equal(got.data, binaryTupleBytes(tup)) {
				t.Fatalf("chunk size %d: tuple %d = %v %x", n, i, got.kind, got.data)
			}
		}
		if last := seen[len(seen)-1]; last.kind != binaryTrailer || !bytes.Equal(last.data, []byte{0xff, 0xff}) {
			t.Fatalf("chunk size %d: last part %v %x, want the trailer", n, last.kind, last.data)
		}
	}
}

func TestBinaryRowsMalformed(t *testing.T) {
	good := binaryStream(0, [][]byte{int8Bytes(1)})
	withFlags := func(flags uint32) []byte {
		b := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(b[11:], flags)
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"text data", []byte("1\talice\n")},
		{"oids", withFlags(binaryOIDsFlag)},
		{"critical flag", withFlags(1 << 20)},
		{"negative field count", append(good[:binaryHeaderLen:binaryHeaderLen], 0xff, 0xfe)},
		{"negative field size", append(good[:binaryHeaderLen:binaryHeaderLen], 0, 1, 0xff, 0xff, 0xff, 0xf0)},
		{"data after trailer", append(append([]byte(nil), good...), 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rows binaryRows
			rows.feed(tc.data)
			for range 10 {
				_, _, ok, pe := rows.next()
				if pe != nil {
					if pe.Code != "22P04" {
						t.Fatalf("code %s, want 22P04", pe.Code)
					}
					return
				}
				if !ok {
					break
				}
			}
			t.Fatal("malformed data was accepted")
		})
	}
}

func TestBinarySplitterKeys(t *testing.T) {
	tbl := &router.Table{Name: "users", Key: "user_id", KeyType: shard.KeyInt}
	ci := &router.CopyIn{Table: tbl, Binary: true}
	sp := &binarySplitter{ci: ci, keyCol: 1}
	m := shard.EqualMap(3)
	for _, k := range []int64{1, 2, 3, 99, -5} {
		tuple := binaryTupleBytes([][]byte{[]byte("name"), int8Bytes(k)})
		got, pe := sp.shardOf(tuple, m, 1)
		if pe != nil {
			t.Fatal(pe.Message)
		}
		if want := m.Lookup(shard.HashInt(k)); got != want {
			t.Fatalf("key %d went to shard %d, want %d", k, got, want)
		}
	}
	if _, pe := sp.shardOf(binaryTupleBytes([][]byte{[]byte("name"), nil}), m, 1); pe == nil || pe.Code != "23502" {
		t.Fatalf("NULL key: %v, want 23502", pe)
	}
	if _, pe := sp.shardOf(binaryTupleBytes([][]byte{[]byte("name")}), m, 1); pe == nil || pe.Code != "22P04" {
		t.Fatalf("missing key field: %v, want 22P04", pe)
	}
	if _, pe := sp.shardOf(binaryTupleBytes([][]byte{[]byte("name"), []byte("abc")}), m, 1); pe == nil || pe.Code != "22P03" {
		t.Fatalf("3-byte integer key: %v, want 22P03", pe)
	}
	sp.feed(binaryStream(0)[:5])
	if _, _, pe := sp.end(); pe == nil || pe.Code != "22P04" {
		t.Fatalf("truncated stream at CopyDone: %v, want 22P04", pe)
	}
}

func TestCopyOutJoinBinary(t *testing.T) {
	a := binaryStream(0, [][]byte{int8Bytes(1)}, [][]byte{int8Bytes(2)})
	b := binaryStream(0, [][]byte{int8Bytes(3)})
	empty := binaryStream(0)
	join := newCopyOutJoin(&router.CopyIn{Binary: true})
	var out []byte
	for i, stream := range [][]byte{a, empty, b} {
		join.startShard(i == 0)
		// Postgres sends the header with the first row and the trailer
		// alone; split differently here to show it does not matter.
		for off := 0; off < len(stream); off += 7 {
			data, pe := join.data(stream[off:min(off+7, len(stream))])
			if pe != nil {
				t.Fatal(pe.Message)
			}
			out = append(out, data...)
		}
	}
	out = append(out, join.end()...)
	want := binaryStream(0, [][]byte{int8Bytes(1)}, [][]byte{int8Bytes(2)}, [][]byte{int8Bytes(3)})
	if !bytes.Equal(out, want) {
		t.Fatalf("joined stream\n%x\nwant\n%x", out, want)
	}
}

func TestCopyOutJoinHeader(t *testing.T) {
	ci := &router.CopyIn{CSV: true, Header: true, Delim: ',', Quote: '"', Escape: '"'}
	join := newCopyOutJoin(ci)
	shards := [][]string{
		{"k,name\n", "1,a\n", "2,b\n"},
		{"k,na", "me\n2", "3,c\n"}, // a header split across messages
		{"k,name\n"},
	}
	var out []byte
	for i, msgs := range shards {
		join.startShard(i == 0)
		for _, m := range msgs {
			data, pe := join.data([]byte(m))
			if pe != nil {
				t.Fatal(pe.Message)
			}
			out = append(out, data...)
		}
	}
	if want := "k,name\n1,a\n2,b\n23,c\n"; string(out) != want {
		t.Fatalf("joined %q, want %q", out, want)
	}
	if join.end() != nil {
		t.Fatal("a CSV COPY got a binary trailer")
	}
}

// FuzzBinaryRows: whatever a client sends as binary COPY data, the parser
// neither panics nor loses or invents bytes: the parts it returns, followed
// by what it still holds, are the input, up to the first error.
func FuzzBinaryRows(f *testing.F) {
	f.Add(binaryStream(0, [][]byte{int8Bytes(1), []byte("a")}, [][]byte{nil}), uint8(3))
	f.Add(binaryStream(3), uint8(1))
	f.Add([]byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x7f\xff\xff\xff"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var rows binaryRows
		seen, pe := feedBinary(&rows, data, int(chunk)%16+1)
		if pe != nil {
			return
		}
		var got []byte
		for _, p := range seen {
			if p.kind == binaryTuple {
				if _, ok := binaryField(p.data, 0); !ok && len(p.data) > 2 {
					t.Fatalf("tuple %x has fields but field 0 is missing", p.data)
				}
			}
			got = append(got, p.data...)
		}
		got = append(got, rows.buf...)
		if !bytes.Equal(got, data) {
			t.Fatalf("parts and remainder %x != input %x", got, data)
		}
	})
}
