package sharding_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// generated are random combinations of keys, IN lists, ORDER BY, LIMIT
// and OFFSET, aggregates with GROUP BY and HAVING, in both protocols;
// the seed is fixed, so the same queries run every time.
func generated() []query {
	var c []query
	r := rand.New(rand.NewPCG(7, 7))
	key := func() int { return r.IntN(nUsers+40) - 20 }
	for range 50 {
		c = append(c, q(fmt.Sprintf(`SELECT * FROM users WHERE user_id = %d`, key()), false))
	}
	for range 40 {
		ids := make([]string, 1+r.IntN(8))
		for i := range ids {
			ids[i] = fmt.Sprint(key())
		}
		c = append(c, q(fmt.Sprintf(`SELECT user_id, name, score FROM users WHERE user_id IN (%s) ORDER BY user_id`, strings.Join(ids, ", ")), true))
	}
	cols := []string{"balance", "score", "name", "country", "created"}
	for range 60 {
		col := cols[r.IntN(len(cols))]
		dir := []string{"", " ASC", " DESC"}[r.IntN(3)]
		nulls := []string{"", " NULLS FIRST", " NULLS LAST"}[r.IntN(3)]
		limit := ""
		if r.IntN(4) > 0 {
			limit = fmt.Sprintf(" LIMIT %d", r.IntN(30))
		}
		if r.IntN(2) == 0 {
			limit += fmt.Sprintf(" OFFSET %d", r.IntN(50))
		}
		c = append(c, q(fmt.Sprintf(`SELECT user_id, %s FROM users WHERE score >= %d ORDER BY %s%s%s, user_id%s`, col, r.IntN(60), col, dir, nulls, limit), true))
	}
	aggs := []string{"count(*)", "count(balance)", "sum(balance)", "sum(score)", "min(score)", "max(balance)", "avg(score)", "avg(balance)", "min(name)", "max(created)"}
	for range 60 {
		a1, a2 := aggs[r.IntN(len(aggs))], aggs[r.IntN(len(aggs))]
		where := fmt.Sprintf("score < %d", 20+r.IntN(80))
		switch r.IntN(4) {
		case 0:
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE %s`, a1, a2, where), true))
		case 1:
			c = append(c, q(fmt.Sprintf(`SELECT country, %s, %s FROM users WHERE %s GROUP BY country ORDER BY country`, a1, a2, where), true))
		case 2:
			c = append(c, q(fmt.Sprintf(`SELECT country, %s FROM users WHERE %s GROUP BY country HAVING count(*) > %d ORDER BY 1 DESC`, a1, where, r.IntN(60)), true))
		default:
			c = append(c, q(fmt.Sprintf(`SELECT score / 25 AS band, %s FROM users WHERE %s GROUP BY 1 ORDER BY 1 LIMIT %d`, a1, where, 1+r.IntN(4)), true))
		}
	}
	// The merges combined: aggregates with FILTER or DISTINCT, expressions
	// over aggregates, two grouping columns, HAVING, ORDER BY an aggregate
	// with LIMIT and OFFSET, co-located joins grouped off the key, DISTINCT.
	mixed := []string{"count(*)", "count(DISTINCT country)", "sum(score) FILTER (WHERE score > 50)", "avg(balance)",
		"max(score) - min(score)", "round(avg(score), 2)", "count(*) FILTER (WHERE balance IS NULL)", "sum(balance) / count(*)",
		"COALESCE(sum(balance), 0)", "bool_or(score > 90)", "stddev(score)", "min(created)", "count(DISTINCT score / 10)"}
	having := []string{"count(*) > %d", "avg(score) > %d", "sum(score) > %d * 10", "max(balance) > %d"}
	for range 60 {
		a1, a2 := mixed[r.IntN(len(mixed))], mixed[r.IntN(len(mixed))]
		where := fmt.Sprintf("score < %d", 20+r.IntN(80))
		switch r.IntN(6) {
		case 0:
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE %s`, a1, a2, where), true))
		case 1:
			c = append(c, q(fmt.Sprintf(`SELECT country, score / 25 AS band, %s, %s FROM users WHERE %s GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2`, a1, a2, where), true))
		case 2:
			h := fmt.Sprintf(having[r.IntN(len(having))], r.IntN(60))
			c = append(c, q(fmt.Sprintf(`SELECT country, %s AS m FROM users WHERE %s GROUP BY country HAVING %s ORDER BY m DESC NULLS LAST, country NULLS FIRST LIMIT %d OFFSET %d`,
				a1, where, h, 1+r.IntN(5), r.IntN(3)), true))
		case 3:
			c = append(c, q(fmt.Sprintf(`SELECT o.status, count(*), sum(o.amount), max(u.score) FROM users u JOIN orders o ON o.user_id = u.user_id WHERE u.%s GROUP BY o.status ORDER BY 1`, where), true))
		case 4:
			c = append(c, q(fmt.Sprintf(`SELECT DISTINCT country, score / 25 FROM users WHERE %s ORDER BY 1 NULLS FIRST, 2 LIMIT %d`, where, 1+r.IntN(20)), true))
		default:
			c = append(c, q(fmt.Sprintf(`SELECT count(*), max(n) FROM (SELECT country, count(*) AS n FROM users WHERE %s GROUP BY country) t`, where), true))
		}
	}
	// The same through the extended protocol, the constants as parameters.
	for range 20 {
		a1, a2 := mixed[r.IntN(len(mixed))], mixed[r.IntN(len(mixed))]
		below := fmt.Sprint(20 + r.IntN(80))
		if r.IntN(2) == 0 {
			c = append(c, q(fmt.Sprintf(`SELECT %s, %s FROM users WHERE score < $1`, a1, a2), true, below))
			continue
		}
		c = append(c, q(fmt.Sprintf(`SELECT country, %s AS m FROM users WHERE score < $1 GROUP BY country HAVING count(*) > $2 ORDER BY m DESC NULLS LAST, country NULLS FIRST LIMIT $3 OFFSET $4`, a1),
			true, below, fmt.Sprint(r.IntN(40)), fmt.Sprint(1+r.IntN(5)), fmt.Sprint(r.IntN(3))))
	}
	// Other shapes whose merge or staging takes Bind parameters.
	num := func(n int) string { return fmt.Sprint(r.IntN(n)) }
	for range 40 {
		switch r.IntN(9) {
		case 0:
			c = append(c, q(`SELECT user_id, score FROM users WHERE score > $1 ORDER BY score DESC, user_id LIMIT $2 OFFSET $3`, true, num(100), num(20), num(10)))
		case 1:
			c = append(c, q(`SELECT DISTINCT ON (country) country, user_id FROM users WHERE score > $1 ORDER BY country NULLS FIRST, user_id LIMIT $2`, true, num(100), num(8)))
		case 2:
			c = append(c, q(`SELECT country FROM users WHERE score > $1 UNION SELECT status FROM orders WHERE amount > $2 ORDER BY 1 NULLS FIRST LIMIT $3`, true, num(100), num(300), num(10)))
		case 3:
			c = append(c, q(`SELECT count(*), max(score) FROM users WHERE user_id = ANY($1::bigint[]) AND score > $2`, true, fmt.Sprintf("{%d,%d,%d}", key(), key(), key()), num(50)))
		case 4:
			c = append(c, q(`SELECT user_id FROM users WHERE balance > (SELECT avg(balance) FROM users WHERE score > $1) AND country = $2 ORDER BY 1 LIMIT $3`, true,
				num(100), countryCodes[r.IntN(len(countryCodes))], num(15)))
		case 5:
			c = append(c, q(`SELECT country, count(*) FROM users WHERE score > $1 GROUP BY country HAVING sum(score) > $2 ORDER BY 2 DESC, 1 NULLS FIRST`, true, num(60), num(2000)))
		case 6:
			c = append(c, q(`SELECT o.status, count(*), sum(o.amount) FROM orders o JOIN users u USING (user_id) WHERE u.score > $1 GROUP BY 1 ORDER BY 1 OFFSET $2`, true, num(100), num(3)))
		case 7:
			c = append(c, q(`SELECT user_id, country FROM users WHERE (user_id, country) IN (($1, $2), ($3, $4)) ORDER BY 1`, true,
				fmt.Sprint(key()), countryCodes[r.IntN(len(countryCodes))], fmt.Sprint(key()), countryCodes[r.IntN(len(countryCodes))]))
		default:
			c = append(c, q(`SELECT score FROM users WHERE country = $1 ORDER BY score DESC FETCH FIRST $2 ROWS WITH TIES`, true, countryCodes[r.IntN(len(countryCodes))], num(6)))
		}
	}
	for range 30 {
		c = append(c, q(`SELECT user_id, name FROM users WHERE user_id = $1`, false, fmt.Sprint(key())))
	}
	for range 20 {
		c = append(c, q(`SELECT count(*), sum(o.amount) FROM orders o WHERE o.user_id IN ($1, $2) AND o.status <> $3`, true,
			fmt.Sprint(key()), fmt.Sprint(key()), []string{"new", "paid"}[r.IntN(2)]))
	}
	return c
}
