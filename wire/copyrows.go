package wire

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pgshard/pgshard/router"
	"github.com/pgshard/pgshard/shard"
)

// copyRows cuts the client's COPY data into rows and finds their shards.
type copyRows interface {
	feed(chunk []byte)
	// next returns the next complete row, and whether every shard gets it
	// (a header, an end marker); ok is false when more data is needed.
	next() (row []byte, everywhere, ok bool, pe *pgError)
	// end is called at CopyDone: what remains, if it is a row.
	end() (row []byte, everywhere bool, pe *pgError)
	// shardOf returns the shard owning a data row; n counts data rows.
	shardOf(row []byte, m *shard.Map, n int) (shard.ShardID, *pgError)
}

// copyRow is a row cut from COPY data, and whether every shard gets it (a
// header or the end marker).
type copyRow struct {
	row        []byte
	everywhere bool
}

// rowSplitter cuts text and CSV COPY data into rows and reads each row's key.
type rowSplitter struct {
	ci      *router.CopyIn
	keyCol  int
	buf     []byte
	pos     int  // how far buf has been scanned for the current row's end
	quoted  bool // CSV: inside a quoted field at pos
	header  bool
	started bool
	// ended: the end-of-data marker has passed. PostgreSQL ignores what
	// follows it until CopyDone (pg_restore sends the blank lines pg_dump
	// writes after it), and so does the splitter.
	ended bool
}

func (r *rowSplitter) feed(b []byte) {
	if !r.started {
		r.started = true
		r.header = r.ci.Header
	}
	r.buf = append(r.buf, b...)
}

// next returns the next complete row, newline included.
func (r *rowSplitter) next() ([]byte, bool, bool, *pgError) {
	ci := r.ci
	if r.ended {
		r.buf, r.pos = r.buf[:0], 0
		return nil, false, false, nil
	}
	for i := r.pos; i < len(r.buf); i++ {
		c := r.buf[i]
		switch {
		case ci.CSV && c == ci.Quote && (!r.quoted || ci.Escape == ci.Quote || i == 0 || r.buf[i-1] != ci.Escape):
			r.quoted = !r.quoted
		case c == '\n' && !r.quoted:
			row := r.buf[: i+1 : i+1]
			r.buf = r.buf[i+1:]
			r.pos = 0
			r.ended = isEndMarker(row)
			everywhere := r.header || r.ended
			r.header = false
			return row, everywhere, true, nil
		}
	}
	r.pos = len(r.buf)
	return nil, false, false, nil
}

// end returns what remains after the last newline: a last row, which
// Postgres accepts without its newline.
func (r *rowSplitter) end() ([]byte, bool, *pgError) {
	if r.ended || len(bytes.TrimSpace(r.buf)) == 0 {
		return nil, false, nil
	}
	return r.buf, isEndMarker(r.buf), nil
}

// isEndMarker reports whether a text COPY line is the end-of-data marker.
func isEndMarker(line []byte) bool {
	return string(bytes.TrimRight(line, "\r\n")) == `\.`
}

// shardOf reads the key of a row and returns its shard.
func (r *rowSplitter) shardOf(row []byte, m *shard.Map, n int) (shard.ShardID, *pgError) {
	line := strings.TrimRight(string(row), "\r\n")
	t := r.ci.Table
	var key string
	var null bool
	if r.ci.CSV {
		key, null = csvField(line, r.keyCol, r.ci)
	} else {
		fields := strings.Split(line, string(r.ci.Delim))
		if r.keyCol < len(fields) {
			key = fields[r.keyCol]
			null = key == r.ci.Null
			key = unescapeCopyText(key)
		} else {
			null = true
		}
	}
	if null {
		return 0, &pgError{Code: "23502", Message: fmt.Sprintf("pgshard: COPY row %d has a null value in shard key column %s of %s", n, t.Key, t)}
	}
	pt, err := shard.PointFromText(t.KeyType, key)
	if err != nil {
		return 0, &pgError{Code: "22P02", Message: fmt.Sprintf("pgshard: COPY row %d: invalid value for shard key %s.%s: %v", n, t, t.Key, err)}
	}
	return m.Lookup(pt), nil
}

// csvField returns field i of a CSV line and whether it is NULL (unquoted
// and equal to the NULL string).
func csvField(line string, i int, ci *router.CopyIn) (string, bool) {
	field := 0
	for pos := 0; pos <= len(line); {
		var val strings.Builder
		quoted := false
		if pos < len(line) && line[pos] == ci.Quote {
			quoted = true
			pos++
			for pos < len(line) {
				c := line[pos]
				if c == ci.Escape && pos+1 < len(line) && (line[pos+1] == ci.Quote || line[pos+1] == ci.Escape && ci.Escape != ci.Quote) {
					val.WriteByte(line[pos+1])
					pos += 2
					continue
				}
				pos++
				if c == ci.Quote {
					break
				}
				val.WriteByte(c)
			}
		}
		for pos < len(line) && line[pos] != ci.Delim {
			val.WriteByte(line[pos])
			pos++
		}
		if field == i {
			v := val.String()
			return v, !quoted && v == ci.Null
		}
		field++
		pos++
	}
	return "", true
}

// unescapeCopyText decodes COPY text format's backslash escapes.
func unescapeCopyText(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
