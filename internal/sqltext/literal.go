package sqltext

import (
	"bytes"
	"strings"
	"unicode"
	"unsafe"
)

// Literal is a constant token of a statement: a number or a string in any
// of its quoted forms.
type Literal struct {
	Pos    int    // byte offset of the token (of its E/B/X/N prefix, if any)
	End    int    // byte offset after it
	Minus  int    // offset of a unary minus applying to a number, else -1
	String bool   // a quoted string (its Value is unescaped), not a number
	Value  string // the number as written, or the string's contents
}

// Normalized is a statement with its literals taken out: statements that
// differ only in constants, whitespace or comments share a Key, so the
// router can reuse one plan and read the constants it needs from Literals.
type Normalized struct {
	Key      string
	Literals []Literal
	Hints    []string // contents of /* pgshard: ... */ comments, in order
	Params   int      // the highest $n placeholder
}

// Normalize scans one statement. Literal markers in the Key distinguish
// numbers from strings, since the two can parse differently (42 is an
// integer constant, '42' one of unknown type).
func Normalize(q string) Normalized {
	var n Normalized
	// A one-digit literal becomes a two-byte marker: leave room for a few.
	key := AppendNormalized(make([]byte, 0, len(q)+16), q, &n)
	// key is never written again: share its bytes, as strings.Builder does.
	n.Key = unsafe.String(unsafe.SliceData(key), len(key))
	return n
}

// AppendNormalized is Normalize for callers that reuse memory: it appends
// q's key to key (after whatever key already holds, such as a prefix) and
// returns the extended slice, and fills n's Literals, Hints and Params,
// reusing the capacity of n.Literals and n.Hints. n.Key is left empty.
// Literal values are substrings of q, or new strings when unescaped.
func AppendNormalized(key []byte, q string, n *Normalized) []byte {
	w := keyWriter{b: key, base: len(key)}
	w.normalize(q, n, false)
	return w.b
}

// AppendNextNormalized is NextStatement and AppendNormalized in one pass: it
// finds the first statement of q[i:] as NextStatement does and appends its
// key to key, filling n as AppendNormalized(key, stmt, n) would (literal
// offsets count from the start of stmt). It returns "" for stmt, and key
// as it was, when q[i:] holds no statement.
func AppendNextNormalized(key []byte, q string, i int, n *Normalized) (k []byte, stmt string, at, next int) {
	base := len(key)
	for i < len(q) {
		rest := strings.TrimLeftFunc(q[i:], unicode.IsSpace)
		at = len(q) - len(rest)
		w := keyWriter{b: key[:base], base: base}
		end := w.normalize(rest, n, true)
		next = at + end
		if end < len(rest) {
			next++ // past the semicolon
		}
		stmt = strings.TrimRightFunc(rest[:end], unicode.IsSpace)
		if stmt == "" || onlyComments(stmt) {
			i = next
			continue
		}
		if trail := rest[len(stmt):end]; trail != "" && (!w.space || !asciiSpace(trail)) {
			// The trimmed space is in the key: an unterminated quote ran
			// into it, or it is Unicode space, which the key keeps as word
			// bytes. Normalize the trimmed text itself.
			return AppendNormalized(key[:base], stmt, n), stmt, at, next
		}
		return w.b, stmt, at, next
	}
	n.Key, n.Literals, n.Hints, n.Params = "", n.Literals[:0], n.Hints[:0], 0
	return key[:base], "", len(q), len(q)
}

// asciiSpace reports whether s is only the whitespace the normalizer skips.
func asciiSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' {
			return false
		}
	}
	return true
}

// normalize appends q's key to w and fills n. With stop, it stops at the
// first top-level semicolon and returns its offset (len(q) if none).
func (w *keyWriter) normalize(q string, n *Normalized, stop bool) int {
	if stop && startsRoutine(q) {
		end := routineEnd(q)
		w.normalize(q[:end], n, false)
		return end
	}
	n.Key, n.Literals, n.Hints, n.Params = "", n.Literals[:0], n.Hints[:0], 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ';' && stop:
			return i
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			w.space = true
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			i = SkipToken(q, i)
			w.space = true
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := SkipToken(q, i)
			if h, ok := hint(q[i:j]); ok {
				n.Hints = append(n.Hints, h)
			}
			i = j
			w.space = true
		case c == '\'' || (c == 'e' || c == 'E' || c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && i+1 < len(q) && q[i+1] == '\'' && !identBefore(q, i):
			start := i
			if c != '\'' {
				i++
			}
			j := SkipToken(q, i)
			raw := q[i:j]
			val, ok := unquote(raw, c == 'e' || c == 'E')
			if !ok || c == 'b' || c == 'B' || c == 'x' || c == 'X' {
				// Bit strings and undecodable escapes stay in the key: the
				// router cannot read them as a key value anyway.
				w.emit(q[start:j])
				i = j
				continue
			}
			n.Literals = append(n.Literals, Literal{Pos: start, End: j, Minus: -1, String: true, Value: val})
			w.emit("\x00s")
			i = j
		case c == '$':
			if tag, ok := dollarTag(q[i:]); ok {
				j := SkipToken(q, i)
				end := j - len(tag)
				if end < i+len(tag) {
					end = i + len(tag) // unterminated
				}
				n.Literals = append(n.Literals, Literal{Pos: i, End: j, Minus: -1, String: true, Value: q[i+len(tag) : end]})
				w.emit("\x00s")
				i = j
				continue
			}
			j := i + 1
			p := 0
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				p = p*10 + int(q[j]-'0')
				j++
			}
			n.Params = max(n.Params, p)
			w.emit(q[i:j])
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := numberEnd(q, i)
			lit := Literal{Pos: i, End: j, Minus: unaryMinus(q, i, w.b[w.base:]), Value: q[i:j]}
			n.Literals = append(n.Literals, lit)
			w.emit("\x00n")
			i = j
		case isIdentByte(c):
			// A whole word, as SkipToken reads it ($ continues a word).
			j := i + 1
			for j < len(q) && (isIdentByte(q[j]) || q[j] == '$') {
				j++
			}
			w.emit(q[i:j])
			i = j
		case c == '"':
			j := SkipToken(q, i)
			w.emit(q[i:j])
			i = j
		default:
			w.emit(q[i : i+1])
			i++
		}
	}
	return len(q)
}

// keyWriter appends the tokens of a normalized key, one space between
// tokens that had whitespace or a comment between them.
type keyWriter struct {
	b     []byte
	base  int // where the key starts in b
	space bool
}

func (w *keyWriter) emit(s string) {
	if w.space && len(w.b) > w.base {
		w.b = append(w.b, ' ')
	}
	w.space = false
	w.b = append(w.b, s...)
}

// identBefore says whether q[i] continues an identifier (so the quote after
// it is not a prefixed string: "name'x'" cannot happen, but "tablee'x'" must
// not be read as an E string either).
func identBefore(q string, i int) bool {
	return i > 0 && (isIdentByte(q[i-1]) || q[i-1] == '$')
}

// numberEnd returns the end of the numeric literal starting at i: digits,
// one decimal point, an exponent, and PostgreSQL 16's 0x/0o/0b and
// underscores, which a newer server accepts and the key must not split.
func numberEnd(q string, i int) int {
	j := i
	for j < len(q) {
		c := q[j]
		switch {
		case c >= '0' && c <= '9' || c == '.' || c == '_':
			j++
		case (c == 'e' || c == 'E') && j+1 < len(q) && (q[j+1] >= '0' && q[j+1] <= '9' || (q[j+1] == '+' || q[j+1] == '-') && j+2 < len(q) && q[j+2] >= '0' && q[j+2] <= '9'):
			j += 2
		case isIdentByte(c):
			// 0x1F, or junk like 123abc that the server rejects: keep it in
			// one token either way.
			j++
		default:
			return j
		}
	}
	return j
}

// unaryMinus returns the offset of a '-' that negates the number at i (the
// parser folds "- 42" into the constant -42 located at the minus), or -1.
// The minus is unary when what precedes it cannot end an operand.
func unaryMinus(q string, i int, keySoFar []byte) int {
	j := i - 1
	for j >= 0 && (q[j] == ' ' || q[j] == '\t' || q[j] == '\n' || q[j] == '\r') {
		j--
	}
	if j < 0 || q[j] != '-' || j > 0 && q[j-1] == '-' {
		return -1
	}
	k := bytes.TrimRight(keySoFar, " ")
	k = bytes.TrimSuffix(k, []byte("-"))
	k = bytes.TrimRight(k, " ")
	if len(k) == 0 {
		return j
	}
	switch last := k[len(k)-1]; {
	case last == ')' || last == ']' || last == '"' || last == 0 || isIdentByte(last) && !endsWithKeyword(k):
		return -1
	}
	return j
}

// endsWithKeyword reports a few keywords after which an operand starts, so
// "LIMIT -1" or "THEN -1" is unary although it follows a word.
func endsWithKeyword(k []byte) bool {
	i := len(k)
	for i > 0 && isIdentByte(k[i-1]) {
		i--
	}
	var lower [len("returning")]byte
	if len(k)-i > len(lower) {
		return false
	}
	w := lower[:len(k)-i]
	for x, c := range k[i:] {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		w[x] = c
	}
	switch string(w) {
	case "select", "where", "and", "or", "not", "in", "values", "limit", "offset", "then", "else", "when", "case",
		"return", "returning", "by", "set", "on", "having", "is", "like", "between", "any", "all", "array":
		return true
	}
	return false
}

// unquote decodes a quoted string token. E strings support the common
// backslash escapes; an escape pgshard does not decode reports !ok.
func unquote(raw string, escapes bool) (string, bool) {
	if len(raw) < 2 || raw[0] != '\'' || raw[len(raw)-1] != '\'' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if !escapes {
		return strings.ReplaceAll(body, "''", "'"), true
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\'' && i+1 < len(body) && body[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == '\\' && i+1 < len(body):
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '\\', '\'', '"':
				b.WriteByte(body[i])
			default:
				return "", false
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// hint returns the body of a /* pgshard: ... */ comment.
func hint(comment string) (string, bool) {
	body := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(comment, "/*"), "*/"))
	rest, ok := strings.CutPrefix(body, "pgshard:")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(rest), true
}
