package shard

import (
	"fmt"
	"strconv"
)

// LSN is a PostgreSQL write-ahead log position (pg_lsn): a byte offset into
// the WAL stream. Differences between LSNs of one cluster are byte counts,
// which is what replication lag in bytes is.
type LSN uint64

// String writes l the way PostgreSQL prints a pg_lsn: the high and low 32
// bits in upper-case hex without leading zeros, separated by a slash
// ("16/B374D848", "0/0").
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// ParseLSN reads a pg_lsn in PostgreSQL's text form. It accepts exactly what
// the server's pg_lsn_in accepts: 1 to 8 hex digits (either case), a slash,
// 1 to 8 hex digits, nothing else (no spaces, no sign, no 0x).
func ParseLSN(s string) (LSN, error) {
	slash := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			slash = i
			break
		}
	}
	if slash < 0 {
		return 0, fmt.Errorf("invalid LSN %q: no '/'", s)
	}
	hi, err := lsnHalf(s, s[:slash])
	if err != nil {
		return 0, err
	}
	lo, err := lsnHalf(s, s[slash+1:])
	if err != nil {
		return 0, err
	}
	return LSN(hi<<32 | lo), nil
}

// lsnHalf parses one 32-bit half. The 8-digit limit is PostgreSQL's
// (MAXPG_LSNCOMPONENT), so "000000001/0" is refused as the server refuses it.
func lsnHalf(whole, part string) (uint64, error) {
	if len(part) == 0 || len(part) > 8 {
		return 0, fmt.Errorf("invalid LSN %q: each half needs 1 to 8 hex digits", whole)
	}
	for i := 0; i < len(part); i++ {
		c := part[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("invalid LSN %q: %q is not a hex digit", whole, c)
		}
	}
	return strconv.ParseUint(part, 16, 32)
}

// Sub returns l − o in bytes, or 0 when o is not behind l. Lag is never
// negative: a replica sampled after its primary can be ahead of the
// primary's last sample.
func (l LSN) Sub(o LSN) int64 {
	if o >= l {
		return 0
	}
	d := uint64(l - o)
	if d > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(d)
}
