package sqltext

import (
	"strings"
	"unicode"
)

// Split splits a simple query at top-level semicolons, dropping empty
// statements and pieces that hold only comments ("SELECT 1; -- done"),
// which the server ignores too.
func Split(q string) []string {
	var out []string
	for st, _, i := NextStatement(q, 0); st != ""; st, _, i = NextStatement(q, i) {
		out = append(out, st)
	}
	return out
}

// NextStatement returns the first statement of q[i:] as Split would, where
// it starts in q (error positions are counted from the start of the whole
// query string), and the offset to look for the next one at: Split without
// allocating. It returns "" when no statement is left.
func NextStatement(q string, i int) (stmt string, at, next int) {
	start := i
	routine := startsRoutine(q[i:])
	for i < len(q) {
		if routine {
			i += routineEnd(q[i:])
			routine = false
			continue
		}
		if q[i] != ';' {
			i = SkipToken(q, i)
			continue
		}
		if st, at := trimmed(q, start, i); st != "" && !onlyComments(st) {
			return st, at, i + 1
		}
		i++
		start = i
		routine = startsRoutine(q[i:])
	}
	if st, at := trimmed(q, start, len(q)); st != "" && !onlyComments(st) {
		return st, at, len(q)
	}
	return "", len(q), len(q)
}

// startsRoutine reports whether q begins with CREATE [OR REPLACE]
// FUNCTION or PROCEDURE, whose body may hold semicolons (routineEnd).
func startsRoutine(q string) bool {
	s, e := nextWord(q, 0)
	if s < 0 || !equalFoldASCII(q[s:e], "create") {
		return false
	}
	if s, e = nextWord(q, e); s >= 0 && equalFoldASCII(q[s:e], "or") {
		if s, e = nextWord(q, e); s < 0 || !equalFoldASCII(q[s:e], "replace") {
			return false
		}
		s, e = nextWord(q, e)
	}
	return s >= 0 && (equalFoldASCII(q[s:e], "function") || equalFoldASCII(q[s:e], "procedure"))
}

// routineEnd returns the offset of the semicolon that ends the function or
// procedure definition q begins with, or len(q). A body written in SQL's
// standard form, BEGIN ATOMIC ... END, holds semicolons of its own; as
// psql does, outside parentheses BEGIN opens a block, CASE inside one opens
// another, and END closes one.
func routineEnd(q string) int {
	depth, parens := 0, 0
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == ';' && depth == 0:
			return i
		case c == '(':
			parens++
			i++
		case c == ')':
			parens = max(parens-1, 0)
			i++
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			j := i + 1
			for j < len(q) && (isIdentByte(q[j]) || q[j] == '$') {
				j++
			}
			if w := q[i:j]; parens == 0 {
				switch {
				case equalFoldASCII(w, "begin"):
					depth++
				case equalFoldASCII(w, "case") && depth > 0:
					depth++
				case equalFoldASCII(w, "end") && depth > 0:
					depth--
				}
			}
			i = j
		default:
			i = SkipToken(q, i)
		}
	}
	return len(q)
}

// trimmed is strings.TrimSpace(q[from:to]) and where that starts in q.
func trimmed(q string, from, to int) (string, int) {
	st := strings.TrimLeftFunc(q[from:to], unicode.IsSpace)
	return strings.TrimRightFunc(st, unicode.IsSpace), to - len(st)
}

// onlyComments reports whether a trimmed statement is nothing but comments.
func onlyComments(st string) bool {
	if !strings.HasPrefix(st, "--") && !strings.HasPrefix(st, "/*") {
		return false
	}
	for i := 0; i < len(st); {
		switch {
		case st[i] == ' ' || st[i] == '\t' || st[i] == '\n' || st[i] == '\r':
			i++
		case strings.HasPrefix(st[i:], "--"), strings.HasPrefix(st[i:], "/*"):
			i = SkipToken(st, i)
		default:
			return false
		}
	}
	return true
}

// SkipToken returns the index after the token (comment, quoted text or one
// byte) that starts at i.
func SkipToken(q string, i int) int {
	switch c := q[i]; {
	case c == '-' && i+1 < len(q) && q[i+1] == '-':
		if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(q)
	case c == '/' && i+1 < len(q) && q[i+1] == '*':
		// Postgres block comments nest.
		depth := 0
		for j := i; j < len(q)-1; j++ {
			switch q[j : j+2] {
			case "/*":
				depth++
				j++
			case "*/":
				depth--
				j++
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(q)
	case c == '\'':
		escapes := i > 0 && (q[i-1] == 'e' || q[i-1] == 'E')
		for j := i + 1; j < len(q); j++ {
			switch {
			case escapes && q[j] == '\\':
				j++
			case q[j] == '\'':
				if j+1 < len(q) && q[j+1] == '\'' {
					j++
					continue
				}
				return j + 1
			}
		}
		return len(q)
	case c == '"':
		for j := i + 1; j < len(q); j++ {
			if q[j] == '"' {
				if j+1 < len(q) && q[j+1] == '"' {
					j++
					continue
				}
				return j + 1
			}
		}
		return len(q)
	case c == '$':
		if tag, ok := dollarTag(q[i:]); ok {
			if j := strings.Index(q[i+len(tag):], tag); j >= 0 {
				return i + len(tag) + j + len(tag)
			}
			return len(q)
		}
	case isIdentByte(c):
		// A whole word, so "$" inside an identifier (foo$1) is not a quote.
		j := i
		for j < len(q) && (isIdentByte(q[j]) || q[j] == '$') {
			j++
		}
		return j
	}
	return i + 1
}

// dollarTag returns the $tag$ opening s, if s starts with one.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(isIdentByte(c) && !(j == 1 && c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "", false
}

func isIdentByte(c byte) bool { return identBytes[c] }

// identBytes marks the bytes of keywords and unquoted identifiers: ASCII
// letters, digits, '_' and every byte of a multi-byte character.
var identBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
	}
	return t
}()

// LeadingWords returns up to n leading keywords or identifiers of stmt,
// lower-cased, skipping comments; it stops at anything else. FirstWords
// does the same for up to three words without allocating.
func LeadingWords(stmt string, n int) []string {
	var out []string
	for i := 0; len(out) < n; {
		start, end := nextWord(stmt, i)
		if start < 0 {
			break
		}
		out = append(out, strings.ToLower(stmt[start:end]))
		i = end
	}
	return out
}

// nextWord finds the keyword or identifier at or after i, skipping space
// and comments: its bounds, or -1 when something else comes first.
func nextWord(stmt string, i int) (start, end int) {
	for i < len(stmt) {
		c := stmt[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case strings.HasPrefix(stmt[i:], "--"), strings.HasPrefix(stmt[i:], "/*"):
			i = SkipToken(stmt, i)
		case isIdentByte(c) && !(c >= '0' && c <= '9'):
			j := i
			for j < len(stmt) && isIdentByte(stmt[j]) {
				j++
			}
			return i, j
		default:
			return -1, -1
		}
	}
	return -1, -1
}

// Words are the first (up to) three words of a statement, as LeadingWords
// finds them, but as written: comparing them with Is needs no lower-cased
// copy.
type Words struct {
	n int
	w [3]string
}

// FirstWords returns the first three words of stmt (fewer if it has
// fewer), without allocating.
func FirstWords(stmt string) Words {
	var ws Words
	for i := 0; ws.n < len(ws.w); {
		start, end := nextWord(stmt, i)
		if start < 0 {
			break
		}
		ws.w[ws.n] = stmt[start:end]
		ws.n++
		i = end
	}
	return ws
}

// Len is the number of words found.
func (ws *Words) Len() int { return ws.n }

// Is reports whether word i exists and is word, ignoring ASCII case; word
// is written in lower case.
func (ws *Words) Is(i int, word string) bool {
	return i < ws.n && equalFoldASCII(ws.w[i], word)
}

// Word returns word i as written, or "".
func (ws *Words) Word(i int) string {
	if i >= ws.n {
		return ""
	}
	return ws.w[i]
}

// Lower returns word i lower-cased as LeadingWords would (allocating only
// when the word has upper-case letters), or "".
func (ws *Words) Lower(i int) string { return strings.ToLower(ws.Word(i)) }

// equalFoldASCII compares s with lower-case ASCII word, folding only ASCII
// letters of s (a multi-byte character never equals a letter of word).
func equalFoldASCII(s, word string) bool {
	if len(s) != len(word) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

// ContainsFold reports whether s contains substr, ignoring ASCII case,
// without copying s; substr is written in lower case.
func ContainsFold(s, substr string) bool {
	return IndexFold(s, substr) >= 0
}

// IndexFold is the index of the first instance of lower-case substr in s,
// ignoring ASCII case, or -1.
func IndexFold(s, substr string) int {
	if substr == "" {
		return 0
	}
	first := substr[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper -= 'a' - 'A'
	}
	for i := 0; i+len(substr) <= len(s); i++ {
		if c := s[i]; (c == first || c == upper) && equalFoldASCII(s[i:i+len(substr)], substr) {
			return i
		}
	}
	return -1
}
