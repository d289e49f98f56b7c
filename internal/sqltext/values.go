package sqltext

import "strings"

// ValuesRows finds the rows of the first top-level VALUES list of an INSERT:
// the span of each parenthesized row. ok is false when there is none.
func ValuesRows(q string) (rows [][2]int, ok bool) {
	depth := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			i++
		case depth == 0 && isIdentByte(c):
			j := SkipToken(q, i)
			if strings.EqualFold(q[i:j], "values") {
				return rowsAfter(q, j)
			}
			i = j
		default:
			i = SkipToken(q, i)
		}
	}
	return nil, false
}

// FirstValuesRows is ValuesRows for the first VALUES list at any depth:
// a MERGE's USING (VALUES ...) source.
func FirstValuesRows(q string) (rows [][2]int, ok bool) {
	for i := 0; i < len(q); {
		if !isIdentByte(q[i]) {
			if q[i] == '(' || q[i] == ')' {
				i++
			} else {
				i = SkipToken(q, i)
			}
			continue
		}
		j := SkipToken(q, i)
		if strings.EqualFold(q[i:j], "values") {
			return rowsAfter(q, j)
		}
		i = j
	}
	return nil, false
}

func rowsAfter(q string, i int) ([][2]int, bool) {
	var rows [][2]int
	for {
		i = skipSpace(q, i)
		if i >= len(q) || q[i] != '(' {
			return rows, len(rows) > 0
		}
		start, depth := i, 0
		for i < len(q) {
			switch q[i] {
			case '(':
				depth++
				i++
			case ')':
				depth--
				i++
			default:
				i = SkipToken(q, i)
				continue
			}
			if depth == 0 {
				break
			}
		}
		if depth != 0 {
			return nil, false
		}
		rows = append(rows, [2]int{start, i})
		i = skipSpace(q, i)
		if i >= len(q) || q[i] != ',' {
			return rows, true
		}
		i++
	}
}

// skipSpace skips whitespace and comments.
func skipSpace(q string, i int) int {
	for i < len(q) {
		switch {
		case q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r' || q[i] == '\f':
			i++
		case strings.HasPrefix(q[i:], "--"), strings.HasPrefix(q[i:], "/*"):
			i = SkipToken(q, i)
		default:
			return i
		}
	}
	return i
}

// Renumber rewrites the $n placeholders of q to $1, $2, ... in order of
// first appearance, returning the new text and, for each new number, the
// old one: what a statement cut out of a bigger one needs to be prepared
// with its own parameters.
func Renumber(q string) (string, []int) {
	var b strings.Builder
	var order []int
	seen := map[int]int{}
	last := 0
	for i := 0; i < len(q); {
		n, j, isParam := paramAt(q, i)
		if !isParam {
			i = SkipToken(q, i)
			continue
		}
		nw, ok := seen[n]
		if !ok {
			order = append(order, n)
			nw = len(order)
			seen[n] = nw
		}
		b.WriteString(q[last:i])
		b.WriteByte('$')
		b.WriteString(itoa(nw))
		last = j
		i = j
	}
	b.WriteString(q[last:])
	return b.String(), order
}

// HighestParam is the highest $n placeholder q names (0 for none): with
// the parameter types a Parse declares, how many values a Bind of it must
// bring.
func HighestParam(q string) int {
	highest := 0
	for i := 0; i < len(q); {
		n, j, ok := paramAt(q, i)
		if !ok {
			i = SkipToken(q, i)
			continue
		}
		highest = max(highest, n)
		i = j
	}
	return highest
}

// paramAt reads the $n placeholder starting at q[i], if one does: its
// number and the index after it ($ inside an identifier, foo$1, is none).
func paramAt(q string, i int) (n, end int, ok bool) {
	if q[i] != '$' || i+1 >= len(q) || q[i+1] < '0' || q[i+1] > '9' || i > 0 && (isIdentByte(q[i-1]) || q[i-1] == '$') {
		return 0, i, false
	}
	end = i + 1
	for end < len(q) && q[end] >= '0' && q[end] <= '9' {
		if n < 1<<20 { // more digits than any statement's parameters
			n = n*10 + int(q[end]-'0')
		}
		end++
	}
	return n, end, true
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
