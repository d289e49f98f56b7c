package sharding_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// shapes writes random reads over the test schema (data_test.go) from a
// small grammar: predicates mixing the key with other columns, joins
// co-located or not, the reference table, subqueries, set operations,
// CTEs, window functions, DISTINCT (ON), aggregates with GROUP BY and
// HAVING, ORDER BY with LIMIT and OFFSET. Each query's answer is
// deterministic on one server: an ORDER BY always ends in a unique key,
// ordered aggregates order by one. The grammar combines what the
// hand-written corpus tests one at a time.
type shapes struct {
	r *rand.Rand
	// bind lets key values, LIMIT and OFFSET become Bind parameters,
	// params is the last query's (query resets it).
	bind   bool
	params []string
}

// val is v as written, or as the next Bind parameter.
func (s *shapes) val(v string) string {
	if !s.bind || s.chance(2) {
		return v
	}
	s.params = append(s.params, v)
	return fmt.Sprintf("$%d", len(s.params))
}

// keyVal is a key value, maybe a parameter.
func (s *shapes) keyVal() string { return s.val(fmt.Sprint(s.key())) }

// keyList is a list of key values, some maybe parameters.
func (s *shapes) keyList() string {
	ks := make([]string, 1+s.n(6))
	for i := range ks {
		ks[i] = s.keyVal()
	}
	return strings.Join(ks, ", ")
}

func (s *shapes) n(k int) int { return s.r.IntN(k) }

func (s *shapes) pick(xs ...string) string { return xs[s.r.IntN(len(xs))] }

func (s *shapes) chance(in int) bool { return s.r.IntN(in) == 0 }

// key is a user_id, some of them without a user.
func (s *shapes) key() int { return s.n(nUsers+40) - 20 }

func (s *shapes) keys() string {
	ks := make([]string, 1+s.n(6))
	for i := range ks {
		ks[i] = fmt.Sprint(s.key())
	}
	return strings.Join(ks, ", ")
}

// userAtom is a condition on users (alias u).
func (s *shapes) userAtom() string {
	switch s.n(16) {
	case 0, 1:
		return fmt.Sprintf("u.user_id = %s", s.keyVal())
	case 2:
		return fmt.Sprintf("u.user_id IN (%s)", s.keyList())
	case 3:
		a := s.key()
		return fmt.Sprintf("u.user_id BETWEEN %d AND %d", a, a+s.n(80))
	case 4:
		return fmt.Sprintf("u.score %s %d", s.pick("<", ">", "<=", ">=", "<>"), s.n(100))
	case 5:
		return fmt.Sprintf("u.country = '%s'", s.pick(countryCodes...))
	case 6:
		return "u.country IS " + s.pick("", "NOT ") + "NULL"
	case 7:
		return fmt.Sprintf("u.country IN ('%s', '%s')", s.pick(countryCodes...), s.pick(countryCodes...))
	case 8:
		return fmt.Sprintf("u.balance %s %d", s.pick("<", ">"), s.n(5000)-500)
	case 9:
		return "u.balance IS " + s.pick("", "NOT ") + "NULL"
	case 10:
		return fmt.Sprintf("u.name LIKE 'user 0%d%%'", s.n(7))
	case 11:
		return fmt.Sprintf("u.created %s DATE '2024-01-01' + %d", s.pick("<", ">="), s.n(700))
	case 12:
		return fmt.Sprintf("u.user_id %% %d = %d", 2+s.n(6), s.n(2))
	case 13:
		return fmt.Sprintf("u.user_id = ANY('{%s}'::bigint[])", s.keys())
	case 14:
		return fmt.Sprintf("(u.score > %d) IS %s", s.n(100), s.pick("TRUE", "NOT TRUE"))
	default:
		return fmt.Sprintf("u.user_id < %s", s.keyVal())
	}
}

// userPred is a condition on users, maybe compound.
func (s *shapes) userPred() string {
	switch s.n(6) {
	case 0:
		return s.userAtom() + " AND " + s.userAtom()
	case 1:
		return "(" + s.userAtom() + " OR " + s.userAtom() + ")"
	case 2:
		return "NOT (" + s.userAtom() + ")"
	case 3:
		return s.userAtom() + " AND (" + s.userAtom() + " OR " + s.userAtom() + ")"
	default:
		return s.userAtom()
	}
}

// orderAtom is a condition on orders (alias o).
func (s *shapes) orderAtom() string {
	switch s.n(5) {
	case 0:
		return fmt.Sprintf("o.amount %s %d", s.pick("<", ">"), s.n(300))
	case 1:
		return fmt.Sprintf("o.status = '%s'", s.pick("new", "paid", "shipped"))
	case 2:
		return fmt.Sprintf("o.user_id = %s", s.keyVal())
	case 3:
		return fmt.Sprintf("o.order_id %% %d = 0", 2+s.n(5))
	default:
		return fmt.Sprintf("o.status <> '%s' AND o.amount > %d", s.pick("new", "paid", "shipped"), s.n(200))
	}
}

// subqueryPred is a condition on users through a subquery.
func (s *shapes) subqueryPred() string {
	switch s.n(9) {
	case 7:
		return fmt.Sprintf("(u.score > 95 OR EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND o.user_id = %s))", s.keyVal())
	case 8:
		return fmt.Sprintf("COALESCE((SELECT sum(o.amount) FROM orders o WHERE o.user_id = u.user_id AND o.user_id IN (%s)), 0) < %d", s.keyList(), s.n(400))
	case 0:
		return fmt.Sprintf("u.user_id IN (SELECT o.user_id FROM orders o WHERE %s)", s.orderAtom())
	case 1:
		return fmt.Sprintf("EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND %s)", s.orderAtom())
	case 2:
		return fmt.Sprintf("NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.user_id AND %s)", s.orderAtom())
	case 3:
		return fmt.Sprintf("u.score > (SELECT avg(score) FROM users WHERE country = '%s')", s.pick(countryCodes...))
	case 4:
		return fmt.Sprintf("u.country IN (SELECT code FROM countries WHERE name %s 'Country %s')", s.pick("<", ">=", "="), strings.ToUpper(s.pick(countryCodes...)))
	case 5:
		return fmt.Sprintf("u.balance > (SELECT max(o.amount) * %d FROM orders o WHERE %s)", 1+s.n(10), s.orderAtom())
	default:
		return fmt.Sprintf("u.user_id NOT IN (SELECT o.user_id FROM orders o WHERE %s)", s.orderAtom())
	}
}

func (s *shapes) where() string {
	switch s.n(8) {
	case 0:
		return ""
	case 1, 2:
		w := " WHERE " + s.subqueryPred()
		if s.chance(2) {
			w += " AND " + s.userAtom()
		}
		return w
	default:
		return " WHERE " + s.userPred()
	}
}

// userColumns are output columns over users, each with its own name.
var userColumns = []string{
	"u.user_id", "u.name", "u.country", "u.balance", "u.score", "u.created",
	"u.score * 2 AS doubled", "upper(u.name) AS shout", "COALESCE(u.country, '??') AS cc",
	"CASE WHEN u.score > 50 THEN 'hi' ELSE 'lo' END AS band", "u.balance::int AS whole",
	"extract(month FROM u.created) AS month", "u.user_id % 10 AS tail", "length(u.name) + u.score AS mixed",
}

// groupings are GROUP BY expressions with their output names.
var groupings = []string{"u.country", "u.score / 25", "extract(year FROM u.created)", "u.balance > 1000", "u.user_id % 3", "left(u.name, 7)"}

var userAggregates = []string{
	"count(*)", "count(u.country)", "count(DISTINCT u.country)", "sum(u.score)", "sum(u.balance)",
	"avg(u.score)", "avg(u.balance)", "min(u.score)", "max(u.balance)", "min(u.name)", "max(u.created)",
	"bool_and(u.score > 10)", "bool_or(u.balance < 0)", "count(*) FILTER (WHERE u.score > 50)",
	"sum(u.score) FILTER (WHERE u.country = 'fr')", "max(u.score) - min(u.score)", "round(avg(u.balance), 1)",
	"count(DISTINCT u.score / 10)", "sum(DISTINCT u.score)", "string_agg(u.name, ',' ORDER BY u.name)",
	"array_agg(u.user_id ORDER BY u.user_id)", "stddev_pop(u.score)", "variance(u.score)",
	"percentile_cont(0.5) WITHIN GROUP (ORDER BY u.score)", "min(u.score) + count(*)", "every(u.score < 99)",
	"sum(u.score)::float8 / nullif(count(*), 0)", "avg(DISTINCT u.score)", "max(length(u.name))",
}

// sorted appends an ORDER BY over exprs (each with a random direction and
// NULLS placement) and then the unique tiebreakers, and maybe a LIMIT and
// an OFFSET.
func (s *shapes) sorted(exprs []string, tiebreak ...string) string {
	var by []string
	for _, e := range exprs {
		by = append(by, e+s.pick("", " ASC", " DESC")+s.pick("", "", " NULLS FIRST", " NULLS LAST"))
	}
	for _, e := range tiebreak {
		by = append(by, e+s.pick("", " DESC"))
	}
	out := " ORDER BY " + strings.Join(by, ", ")
	return out + s.limit()
}

func (s *shapes) limit() string {
	out := ""
	if !s.chance(3) {
		out += " LIMIT " + s.val(fmt.Sprint(s.n(25)))
	}
	if s.chance(3) {
		out += " OFFSET " + s.val(fmt.Sprint(s.n(40)))
	}
	return out
}

func (s *shapes) some(from []string, most int) []string {
	n := 1 + s.n(most)
	out := make([]string, 0, n)
	for _, i := range s.r.Perm(len(from))[:min(n, len(from))] {
		out = append(out, from[i])
	}
	return out
}

// name is how an ORDER BY names output column c ("e AS n" or "t.c").
func name(c string) string {
	if i := strings.LastIndex(c, " AS "); i >= 0 {
		return c[i+4:]
	}
	return c
}

// expression is output column c without its name.
func expression(c string) string {
	if i := strings.LastIndex(c, " AS "); i >= 0 {
		return c[:i]
	}
	return c
}

// query is one random read and whether its rows come in a defined order;
// s.params are its Bind parameters.
func (s *shapes) query() (string, bool) {
	s.params = nil
	switch s.n(16) {
	case 12, 13:
		return s.exotic()
	case 14, 15:
		return s.tricky()
	case 0, 1:
		return s.plain()
	case 2, 3:
		return s.grouped()
	case 4:
		return s.joined()
	case 5:
		return s.setOperation()
	case 6:
		return s.withCTE()
	case 7:
		return s.windowed()
	case 8:
		return s.distinct()
	case 9:
		return s.referenced()
	case 10:
		return s.derived()
	default:
		return s.uncolocated()
	}
}

// plain is a select list over users, filtered, maybe sorted.
func (s *shapes) plain() (string, bool) {
	cols := s.some(userColumns, 4)
	if s.chance(5) {
		// A correlated subquery pinned to keys: it pins only its rows.
		cols = append(cols, fmt.Sprintf("(SELECT count(*) FROM orders o WHERE o.user_id = u.user_id AND o.user_id IN (%s)) AS n", s.keyList()))
	}
	sql := "SELECT " + strings.Join(cols, ", ") + " FROM users u" + s.where()
	if s.chance(3) {
		return sql, false
	}
	var by []string
	for _, c := range s.some(cols, 2) {
		by = append(by, s.pick(name(c), expression(c)))
	}
	return sql + s.sorted(by, "u.user_id"), true
}

// grouped aggregates users, maybe by groups, with HAVING and ORDER BY.
func (s *shapes) grouped() (string, bool) {
	aggs := s.some(userAggregates, 3)
	var groups []string
	if !s.chance(4) {
		groups = s.some(groupings, 2)
	}
	sel := append(append([]string{}, groups...), aggs...)
	sql := "SELECT " + strings.Join(sel, ", ") + " FROM users u" + s.where()
	if len(groups) == 0 {
		return sql, true
	}
	sql += " GROUP BY " + strings.Join(groups, ", ")
	if s.chance(2) {
		sql += fmt.Sprintf(" HAVING %s", s.pick(
			fmt.Sprintf("count(*) > %d", s.n(60)),
			fmt.Sprintf("avg(u.score) > %d", 30+s.n(40)),
			fmt.Sprintf("max(u.balance) > %d", s.n(4000)),
			fmt.Sprintf("count(DISTINCT u.country) > %d", s.n(4)),
			fmt.Sprintf("sum(u.score) BETWEEN %d AND %d", s.n(2000), 2000+s.n(20000))))
	}
	if s.chance(4) {
		return sql, false
	}
	// Positions of every group column make the order total; an aggregate
	// may come first.
	var lead []string
	if s.chance(2) {
		lead = append(lead, fmt.Sprint(len(groups)+1+s.n(len(aggs))))
	}
	var tail []string
	for i := range groups {
		tail = append(tail, fmt.Sprint(i+1)+s.pick("", " DESC")+s.pick(" NULLS FIRST", " NULLS LAST"))
	}
	return sql + s.sorted(lead, tail...), true
}

// joined joins users and orders on the key (co-located), maybe aggregated.
func (s *shapes) joined() (string, bool) {
	var join string
	switch s.n(6) {
	case 0:
		join = "JOIN orders o ON o.user_id = u.user_id"
	case 1:
		join = "JOIN orders o USING (user_id)"
	case 2:
		join = "LEFT JOIN orders o ON o.user_id = u.user_id"
	case 3:
		join = "JOIN orders o ON u.user_id = o.user_id AND o.status = 'paid'"
	case 4:
		// Pinned on the nullable side: every user stays.
		join = fmt.Sprintf("LEFT JOIN (SELECT * FROM orders WHERE user_id IN (%s)) o ON o.user_id = u.user_id", s.keyList())
	default:
		join = fmt.Sprintf("LEFT JOIN orders o ON o.user_id = u.user_id AND o.user_id = %s", s.keyVal())
	}
	where := s.where()
	if s.chance(2) {
		if where == "" {
			where = " WHERE " + s.orderAtom()
		} else {
			where += " AND " + s.orderAtom()
		}
	}
	if s.chance(2) {
		g := s.pick("o.status", "u.country", "u.user_id", "u.score / 50")
		agg := strings.Join(s.some([]string{"count(*)", "count(o.order_id)", "sum(o.amount)", "max(o.amount)", "avg(o.amount)", "min(u.name)", "count(DISTINCT o.user_id)", "string_agg(o.status, '' ORDER BY o.order_id)"}, 3), ", ")
		sql := fmt.Sprintf("SELECT %s, %s FROM users u %s%s GROUP BY %s", g, agg, join, where, g)
		return sql + s.sorted(nil, "1"), true
	}
	cols := append(s.some(userColumns[:6], 2), s.some([]string{"o.order_id", "o.amount", "o.status"}, 2)...)
	sql := fmt.Sprintf("SELECT %s FROM users u %s%s", strings.Join(cols, ", "), join, where)
	if s.chance(3) {
		return sql, false
	}
	return sql + s.sorted([]string{s.pick("u.score", "o.amount", "u.country")}, "u.user_id", "o.order_id"), true
}

// setOperation combines two reads of one column.
func (s *shapes) setOperation() (string, bool) {
	side := func() string {
		switch s.n(4) {
		case 0:
			return "SELECT u.user_id FROM users u" + s.where()
		case 1:
			return "SELECT o.user_id FROM orders o WHERE " + s.orderAtom()
		case 2:
			return fmt.Sprintf("SELECT u.score FROM users u WHERE %s", s.userPred())
		default:
			return fmt.Sprintf("SELECT o.order_id FROM orders o WHERE o.user_id IN (%s)", s.keyList())
		}
	}
	sql := side() + " " + s.pick("UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL") + " " + side()
	if s.chance(3) {
		return sql, false
	}
	return sql + " ORDER BY 1" + s.pick("", " DESC") + s.limit(), true
}

// withCTE reads an aggregate of users through a CTE.
func (s *shapes) withCTE() (string, bool) {
	g := s.pick(groupings...)
	a := s.pick("count(*)", "sum(u.score)", "max(u.balance)", "avg(u.score)", "count(DISTINCT u.user_id)")
	cte := func() string {
		return fmt.Sprintf("WITH t AS (SELECT %s AS g, %s AS a FROM users u%s GROUP BY 1)", g, a, s.where())
	}
	switch s.n(4) {
	case 3:
		return fmt.Sprintf("WITH t AS (SELECT user_id, order_id, amount FROM orders WHERE user_id IN (%s)) SELECT u.user_id, t.order_id, t.amount FROM users u %s t USING (user_id) WHERE %s ORDER BY u.user_id, t.order_id%s",
			s.keyList(), s.pick("JOIN", "LEFT JOIN"), s.userPred(), s.limit()), true
	case 0:
		return cte() + " SELECT count(*), max(a), min(g::text) FROM t", true
	case 1:
		return cte() + fmt.Sprintf(" SELECT g, a FROM t WHERE a IS NOT NULL ORDER BY a DESC NULLS LAST, g NULLS FIRST%s", s.limit()), true
	default:
		return cte() + " SELECT u.user_id, t.a FROM users u JOIN t ON t.g::text = u.country WHERE " + s.userPred() + " ORDER BY u.user_id" + s.limit(), true
	}
}

// windowed runs window functions, partitioned by the key or not.
func (s *shapes) windowed() (string, bool) {
	win := s.pick(
		"row_number() OVER (PARTITION BY o.user_id ORDER BY o.order_id)",
		"sum(o.amount) OVER (PARTITION BY o.user_id)",
		"rank() OVER (PARTITION BY o.user_id ORDER BY o.amount, o.order_id)",
		"count(*) OVER ()",
		"row_number() OVER (ORDER BY o.amount DESC, o.user_id, o.order_id)",
		"lag(o.amount) OVER (PARTITION BY o.user_id ORDER BY o.order_id)",
		"sum(o.amount) OVER (PARTITION BY o.status ORDER BY o.user_id, o.order_id)",
		"first_value(o.order_id) OVER (PARTITION BY o.user_id ORDER BY o.amount DESC, o.order_id)",
	)
	sql := fmt.Sprintf("SELECT o.user_id, o.order_id, %s AS w FROM orders o WHERE %s", win, s.orderAtom())
	if s.chance(2) {
		return fmt.Sprintf("SELECT * FROM (%s) x WHERE x.w IS NOT NULL ORDER BY x.user_id, x.order_id%s", sql, s.limit()), true
	}
	return sql + " ORDER BY o.user_id, o.order_id" + s.limit(), true
}

// distinct is DISTINCT or DISTINCT ON over users.
func (s *shapes) distinct() (string, bool) {
	cols := s.some([]string{"u.country", "u.score / 20", "u.balance > 0", "extract(year FROM u.created)"}, 2)
	if s.chance(2) {
		var pos []string
		for i := range cols {
			pos = append(pos, fmt.Sprint(i+1)+s.pick("", " DESC")+s.pick(" NULLS FIRST", " NULLS LAST"))
		}
		sql := "SELECT DISTINCT " + strings.Join(cols, ", ") + " FROM users u" + s.where()
		if s.chance(3) {
			return sql, false
		}
		return sql + " ORDER BY " + strings.Join(pos, ", ") + s.limit(), true
	}
	on := cols[0]
	sql := fmt.Sprintf("SELECT DISTINCT ON (%s) %s, u.user_id, u.name FROM users u%s ORDER BY %s%s, %s, u.user_id", on, on, s.where(),
		on, s.pick("", " DESC"), s.pick("u.score", "u.balance DESC NULLS LAST", "u.created"))
	return sql + s.limit(), true
}

// referenced joins users with the reference table.
func (s *shapes) referenced() (string, bool) {
	join := s.pick("JOIN countries c ON c.code = u.country", "LEFT JOIN countries c ON c.code = u.country", "RIGHT JOIN countries c ON c.code = u.country AND u.score > 97")
	if s.chance(2) {
		sql := fmt.Sprintf("SELECT c.name, count(u.user_id), sum(u.score) FROM users u %s%s GROUP BY c.name", join, s.where())
		return sql + " ORDER BY 1 NULLS FIRST" + s.limit(), true
	}
	sql := fmt.Sprintf("SELECT u.user_id, u.name, c.name FROM users u %s%s", join, s.where())
	return sql + s.sorted([]string{s.pick("c.name", "u.score")}, "u.user_id NULLS FIRST", "c.name"), true
}

// derived reads a derived table of orders grouped by the key.
func (s *shapes) derived() (string, bool) {
	inner := fmt.Sprintf("SELECT o.user_id, count(*) AS n, sum(o.amount) AS total FROM orders o WHERE %s GROUP BY o.user_id", s.orderAtom())
	switch s.n(3) {
	case 0:
		return fmt.Sprintf("SELECT count(*), sum(n), max(total), avg(n) FROM (%s) t", inner), true
	case 1:
		return fmt.Sprintf("SELECT u.name, t.n, t.total FROM users u JOIN (%s) t ON t.user_id = u.user_id WHERE %s ORDER BY t.total DESC, u.user_id%s", inner, s.userPred(), s.limit()), true
	default:
		return fmt.Sprintf("SELECT t.n, count(*) FROM (%s) t GROUP BY t.n ORDER BY 1", inner), true
	}
}

// uncolocated joins on columns other than the key.
func (s *shapes) uncolocated() (string, bool) {
	switch s.n(3) {
	case 0:
		return fmt.Sprintf("SELECT u.user_id, o.order_id FROM users u JOIN orders o ON o.order_id = u.user_id WHERE %s ORDER BY 1, 2%s", s.userPred(), s.limit()), true
	case 1:
		return fmt.Sprintf("SELECT a.user_id, b.user_id FROM users a JOIN users b ON a.score = b.score AND a.user_id < b.user_id WHERE a.user_id IN (%s) ORDER BY 1, 2%s", s.keyList(), s.limit()), true
	default:
		return fmt.Sprintf("SELECT count(*) FROM users u JOIN orders o ON o.amount::int = u.score WHERE %s", s.userPred()), true
	}
}

// exotic are rarer forms: grouping sets, LATERAL, WITH TIES, row sources
// that are not tables joined with sharded ones, collations, ordered and
// JSON aggregates, windows over every row, subqueries with their own
// LIMIT.
func (s *shapes) exotic() (string, bool) {
	switch s.n(15) {
	case 0:
		w := s.where()
		return fmt.Sprintf("SELECT u.country, u.score / 50 AS half, grouping(u.country, u.score / 50) AS g, count(*), sum(u.balance) FROM users u%s GROUP BY %s (u.country, u.score / 50) ORDER BY 3, 1 NULLS FIRST, 2 NULLS FIRST",
			w, s.pick("ROLLUP", "CUBE", "GROUPING SETS")), true
	case 1:
		w := s.where()
		join, on := "CROSS JOIN", ""
		if s.chance(2) {
			join, on = "LEFT JOIN", " ON true"
		}
		return fmt.Sprintf("SELECT u.user_id, x.amount FROM users u %s LATERAL (SELECT o.amount FROM orders o WHERE o.user_id = u.user_id ORDER BY o.amount DESC, o.order_id LIMIT 1) x%s%s ORDER BY u.user_id%s",
			join, on, w, s.limit()), true
	case 2:
		w := s.where()
		// Rows tying with the last come too: the set is defined, not
		// the order among ties.
		return fmt.Sprintf("SELECT u.user_id, u.score FROM users u%s ORDER BY u.score %s FETCH FIRST %d ROWS WITH TIES", w, s.pick("ASC", "DESC"), 1+s.n(10)), false
	case 3:
		return "SELECT g, count(u.user_id), max(u.name) FROM generate_series(0, 4) g LEFT JOIN users u ON u.score / 25 = g GROUP BY g ORDER BY g", true
	case 4:
		return fmt.Sprintf("SELECT g, u.user_id FROM generate_series(1, 6) g LEFT JOIN users u ON u.user_id = g * %d ORDER BY 1, 2", 50+s.n(100)), true
	case 5:
		return fmt.Sprintf("SELECT v.k, u.name FROM (VALUES (%s::bigint), (%s), (%s)) v(k) %s users u ON u.user_id = v.k ORDER BY 1, 2",
			s.keyVal(), s.keyVal(), s.keyVal(), s.pick("JOIN", "LEFT JOIN")), true
	case 6:
		w := s.where()
		return fmt.Sprintf("SELECT u.name, u.country FROM users u%s ORDER BY u.country COLLATE \"C\" %s NULLS FIRST, u.name COLLATE \"C\"%s", w, s.pick("ASC", "DESC"), s.limit()), true
	case 7:
		w := s.where()
		return fmt.Sprintf("SELECT u.country, json_agg(u.user_id ORDER BY u.user_id), string_agg(DISTINCT u.name, ';' ORDER BY u.name), jsonb_object_agg(u.user_id, u.score) FROM users u%s GROUP BY u.country ORDER BY 1 NULLS LAST", w), true
	case 8:
		w := s.where()
		return fmt.Sprintf("SELECT u.user_id, count(*) OVER () AS total, rank() OVER (ORDER BY u.score DESC, u.user_id) FROM users u%s ORDER BY u.user_id%s", w, s.limit()), true
	case 9:
		return fmt.Sprintf("SELECT u.user_id, u.name FROM users u WHERE u.user_id IN (SELECT o.user_id FROM orders o GROUP BY o.user_id HAVING count(*) > %d) ORDER BY 1%s", s.n(5), s.limit()), true
	case 10:
		w := s.where()
		return fmt.Sprintf("SELECT u.country, count(*), (SELECT count(*) FROM orders o WHERE o.status = 'paid') AS paid FROM users u%s GROUP BY u.country ORDER BY 1 NULLS FIRST", w), true
	case 11:
		w := s.where()
		return fmt.Sprintf("SELECT count(*), sum(t.score), min(t.user_id) FROM (SELECT * FROM users u%s ORDER BY u.score, u.user_id LIMIT %d) t", w, 1+s.n(30)), true
	case 12:
		w := s.where()
		return fmt.Sprintf("SELECT u.country, sum(u.balance) / NULLIF(count(u.balance), 0) AS mean, avg(u.score)::int, round(sum(u.balance) * 1.1, 2), count(*) * 2 + 1 FROM users u%s GROUP BY u.country ORDER BY 1 NULLS FIRST", w), true
	case 13:
		w := s.where()
		return fmt.Sprintf("SELECT u.country FROM users u%s EXCEPT SELECT o.status FROM orders o WHERE %s ORDER BY 1 NULLS FIRST", w, s.orderAtom()), true
	default:
		w := s.where()
		return fmt.Sprintf("SELECT u.user_id, u.score, sum(u.score) OVER (PARTITION BY u.user_id ORDER BY u.score ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), lead(u.name) OVER (PARTITION BY u.user_id) FROM users u%s ORDER BY 1%s", w, s.limit()), true
	}
}

// write is a random UPDATE, DELETE or INSERT ... SELECT over users and
// orders with RETURNING, its conditions from the same grammar as the
// reads'. Rows come back in no defined order.
func (s *shapes) write() string {
	s.params = nil
	switch s.n(12) {
	case 6:
		return fmt.Sprintf("UPDATE users u SET country = c.code FROM countries c WHERE c.name = 'Country %s' AND %s RETURNING u.user_id, c.code", strings.ToUpper(s.pick(countryCodes...)), s.userPred())
	case 7:
		// RETURNING nothing of o: which of a user's matching orders the
		// join met first is not defined.
		return fmt.Sprintf("DELETE FROM users u USING orders o WHERE o.user_id = u.user_id AND %s AND %s RETURNING u.user_id, u.name", s.orderAtom(), s.userAtom())
	case 8:
		k := s.key()
		return fmt.Sprintf("INSERT INTO users (user_id, name, score) VALUES (%d, 'new %d', %d), (%d, 'new', 1) ON CONFLICT (user_id) DO UPDATE SET score = users.score + excluded.score RETURNING user_id, score, name",
			k, k, s.n(100), s.key())
	case 9:
		// A move to the new key's shard.
		return fmt.Sprintf("UPDATE users SET user_id = %d WHERE user_id = %d RETURNING user_id, name", 100000+s.n(1000), s.key())
	case 10:
		return fmt.Sprintf("WITH d AS (DELETE FROM orders WHERE user_id IN (%s) RETURNING *) SELECT count(*), sum(amount) FROM d", s.keys())
	case 11:
		return fmt.Sprintf("UPDATE orders o SET status = 'held' WHERE o.user_id = %d AND o.order_id IN (SELECT o2.order_id FROM orders o2 WHERE o2.user_id = o.user_id ORDER BY o2.amount DESC, o2.order_id LIMIT 1) RETURNING o.order_id, o.status", s.key())
	case 0:
		return "UPDATE users u SET score = u.score + 1" + s.where() + " RETURNING u.user_id, u.score"
	case 1:
		return "DELETE FROM users u" + s.where() + " RETURNING u.user_id, u.name"
	case 2:
		return fmt.Sprintf("UPDATE orders o SET amount = o.amount * 2 FROM users u WHERE u.user_id = o.user_id AND %s RETURNING o.order_id, o.amount, u.name", s.userPred())
	case 3:
		return fmt.Sprintf("DELETE FROM orders o WHERE %s RETURNING o.user_id, o.order_id", s.pick(
			s.orderAtom(),
			"EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND "+s.userAtom()+")",
			"NOT EXISTS (SELECT 1 FROM users u WHERE u.user_id = o.user_id AND "+s.userAtom()+")",
			"o.user_id IN (SELECT u.user_id FROM users u WHERE "+s.userAtom()+")"))
	case 4:
		return fmt.Sprintf("INSERT INTO orders (order_id, user_id, amount, status) SELECT o.order_id + 100000, o.user_id, o.amount, 'copy' FROM orders o WHERE %s RETURNING order_id, user_id", s.orderAtom())
	default:
		return fmt.Sprintf("UPDATE users u SET balance = (SELECT sum(o.amount) FROM orders o WHERE o.user_id = u.user_id) WHERE %s RETURNING u.user_id, u.balance", s.userPred())
	}
}

// tricky are merges with something hidden or nested: ORDER BY and HAVING
// over aggregates the select list does not show, aggregates over derived
// tables and set operations, self-joins, ordered-set aggregates, casts of
// aggregates, correlations not on the key.
func (s *shapes) tricky() (string, bool) {
	switch s.n(14) {
	case 0:
		return fmt.Sprintf("SELECT u.country FROM users u%s GROUP BY u.country ORDER BY %s %s, 1 NULLS FIRST%s", s.where(),
			s.pick("sum(u.score)", "avg(u.balance)", "count(*)", "max(u.name)", "min(u.created)"), s.pick("ASC NULLS FIRST", "DESC NULLS LAST"), s.limit()), true
	case 1:
		return fmt.Sprintf("SELECT u.score / 10 AS d, count(*) FROM users u%s GROUP BY 1 HAVING %s ORDER BY 1", s.where(),
			s.pick("sum(u.balance) > 1000", "max(u.name) > 'user 03'", "avg(u.score) > 40", "count(DISTINCT u.country) >= 3", "min(u.created) < DATE '2024-03-01'")), true
	case 2:
		return fmt.Sprintf("SELECT count(*), count(DISTINCT t.k), sum(t.k) FROM (SELECT u.user_id AS k FROM users u%s %s SELECT o.user_id FROM orders o WHERE %s) t",
			s.where(), s.pick("UNION", "UNION ALL", "INTERSECT", "EXCEPT"), s.orderAtom()), true
	case 3:
		return fmt.Sprintf("SELECT a.user_id, a.order_id, b.order_id FROM orders a JOIN orders b ON a.user_id = b.user_id AND a.order_id < b.order_id WHERE %s ORDER BY 1, 2, 3%s",
			strings.ReplaceAll(s.orderAtom(), "o.", "a."), s.limit()), true
	case 4:
		return fmt.Sprintf("SELECT u.country, percentile_disc(0.5) WITHIN GROUP (ORDER BY u.score), mode() WITHIN GROUP (ORDER BY u.score / 10) FROM users u%s GROUP BY 1 ORDER BY 1 NULLS FIRST", s.where()), true
	case 5:
		return fmt.Sprintf("SELECT count(*)::text, sum(u.score)::numeric(12,1), avg(u.score)::float4::text, (max(u.balance) - min(u.balance))::int FROM users u%s", s.where()), true
	case 6:
		return fmt.Sprintf("SELECT u.user_id, (SELECT max(o.amount) FROM orders o WHERE o.status = %s) AS m FROM users u WHERE %s ORDER BY 1%s",
			s.pick("u.country", "'paid'", "CASE WHEN u.score > 50 THEN 'new' ELSE 'paid' END"), s.userPred(), s.limit()), true
	case 7:
		return fmt.Sprintf("SELECT (SELECT count(*) FROM users u%s) AS a, (SELECT sum(o.amount) FROM orders o WHERE %s) AS b", s.where(), s.orderAtom()), true
	case 8:
		return fmt.Sprintf("SELECT count(*) FROM users u%s UNION ALL SELECT count(*) FROM orders o WHERE %s ORDER BY 1", s.where(), s.orderAtom()), true
	case 9:
		return fmt.Sprintf("SELECT t.country, max(t.n), sum(t.n) FROM (SELECT u.country, u.user_id, count(o.order_id) AS n FROM users u LEFT JOIN orders o USING (user_id)%s GROUP BY u.country, u.user_id) t GROUP BY t.country ORDER BY 1 NULLS FIRST", s.where()), true
	case 10:
		return fmt.Sprintf("SELECT u.user_id, u.name FROM users u WHERE u.user_id IN (VALUES (%s), (%s)) OR u.user_id = ANY(ARRAY(SELECT o.user_id FROM orders o WHERE %s)) ORDER BY 1%s",
			s.keyVal(), s.keyVal(), s.orderAtom(), s.limit()), true
	case 11:
		return fmt.Sprintf("SELECT DISTINCT ON (u.score / 10) u.score / 10, u.user_id FROM users u%s ORDER BY u.score / 10 DESC, u.user_id LIMIT %s OFFSET %s", s.where(), s.val(fmt.Sprint(1+s.n(5))), s.val(fmt.Sprint(s.n(4)))), true
	case 12:
		return fmt.Sprintf("SELECT u.user_id, sum(o.amount) OVER (PARTITION BY u.user_id) AS total, o.order_id FROM users u JOIN orders o USING (user_id)%s ORDER BY total DESC NULLS LAST, 1, 3%s", s.where(), s.limit()), true
	default:
		return fmt.Sprintf("SELECT u.user_id FROM users u%s ORDER BY u.user_id %s", s.where(), s.pick("LIMIT ALL", "OFFSET 0", "FETCH FIRST ROW ONLY", "FETCH NEXT 3 ROWS ONLY", "OFFSET 5 ROWS FETCH FIRST 2 ROWS ONLY")), true
	}
}
