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
	start := 0
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == ';':
			if st := strings.TrimSpace(q[start:i]); st != "" && !onlyComments(st) {
				out = append(out, st)
			}
			i++
			start = i
		default:
			i = SkipToken(q, i)
		}
	}
	if st := strings.TrimSpace(q[start:]); st != "" && !onlyComments(st) {
		out = append(out, st)
	}
	return out
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
	switch {
	case strings.HasPrefix(q[i:], "--"):
		if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(q)
	case strings.HasPrefix(q[i:], "/*"):
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
	case q[i] == '\'':
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
	case q[i] == '"':
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
	case q[i] == '$':
		if tag, ok := dollarTag(q[i:]); ok {
			if j := strings.Index(q[i+len(tag):], tag); j >= 0 {
				return i + len(tag) + j + len(tag)
			}
			return len(q)
		}
	case isIdentByte(q[i]):
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

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// LeadingWords returns up to n leading keywords or identifiers of stmt,
// lower-cased, skipping comments; it stops at anything else.
func LeadingWords(stmt string, n int) []string {
	var out []string
	for i := 0; i < len(stmt) && len(out) < n; {
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
			out = append(out, strings.ToLower(stmt[i:j]))
			i = j
		default:
			return out
		}
	}
	return out
}
